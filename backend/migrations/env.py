"""Alembic environment: runs against the engine handed over by `backend.adapters.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from backend.adapters.orm.base import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` CLI use: read the URL from settings
    from backend.config import get_settings

    engine = create_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
