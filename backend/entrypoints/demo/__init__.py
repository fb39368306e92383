"""The scripted promotional event (`loyalty demo`, and `loyalty up` out of the box), run through the HTTP API."""
