"""Routes: operator auth, brands, API keys, health, metrics."""
