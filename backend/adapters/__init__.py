"""Adapters: database, chain, cache — everything that talks to the outside world."""
