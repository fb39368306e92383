"""Entrypoints: the HTTP API, the Celery worker, the `loyalty` CLI and the embedded runner.

Each builds its components through `backend.bootstrap`.
"""
