"""Pieces of the sustained-load benchmark (scripts/bench_sustained.py): load generator, settings check, figures."""
