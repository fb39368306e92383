"""Alembic environment for `backend.adapters.db.migrate` (hands over a locked connection) and the `alembic` CLI.

The CLI (`alembic.ini` at the repo root) connects to `-x url=...`, else `sqlalchemy.url`, else the project's
`LOYALTY_DATABASE_URL` (backend.config Settings), and takes the same migration lock as `migrate`.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from backend.adapters.db import lock_for_migration, make_engine
from backend.adapters.orm.base import Base

config = context.config


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from backend.config import get_settings

    return get_settings().database_url


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():  # `alembic upgrade head --sql`: print the SQL instead of running it
        context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = make_engine(database_url())
        try:
            with engine.connect() as connection:
                lock_for_migration(connection)
                run_on(connection)
        finally:
            engine.dispose()
