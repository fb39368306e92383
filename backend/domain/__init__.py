"""Pure domain logic: no FastAPI, SQLAlchemy session, Celery or web3 imports."""
