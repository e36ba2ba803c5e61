"""Alembic environment: migrations run through the service's own engine settings.

The URL, pool and schema come from the service's settings (environment or
``.env``), so migrations land exactly where the app will look for its tables.
A caller may pass other settings as ``config.attributes["settings"]``.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.schema import CreateSchema

from {{ cookiecutter.package_name }}.config import (
    Settings,
    get_settings,
)
from {{ cookiecutter.package_name }}.db import DatabaseSessionManager
from {{ cookiecutter.package_name }}.models import Base

config = context.config
settings: Settings = config.attributes.get("settings") or get_settings()
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit the migrations as SQL (``alembic upgrade head --sql``)."""
    context.configure(
        url=settings.database_url_object,
        target_metadata=target_metadata,
        literal_binds=True,
        version_table_schema=settings.schema_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    """Create the schema if the settings name one, then migrate inside it."""
    if settings.schema_name is not None:
        connection.execute(CreateSchema(settings.schema_name, if_not_exists=True))
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=settings.schema_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    """Migrate over one connection of a short-lived engine."""
    async with DatabaseSessionManager(settings) as db, db.engine.connect() as connection:
        await connection.run_sync(run_migrations)


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
