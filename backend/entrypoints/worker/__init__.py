"""Celery worker: the minting pipeline's steps as tasks on a Redis broker (see `celery_app`)."""
