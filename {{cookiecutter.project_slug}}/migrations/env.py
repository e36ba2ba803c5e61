"""Alembic environment: migrations run through the service's own settings.

The URL and the schema(s) come from the service's settings (environment or
``.env``), so migrations land exactly where the app looks for its tables.
Callers may pass other settings as ``config.attributes["settings"]``.
Where the settings name several schemas (one per tenant), each is migrated;
``alembic -x tenant=NAME upgrade head`` migrates just one.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.schema import CreateSchema

from {{ cookiecutter.package_name }}.config import (
    Settings,
    get_settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    set_local_search_path,
)
from {{ cookiecutter.package_name }}.models import Base

config = context.config
settings: Settings = config.attributes.get("settings") or get_settings()
tenant: str | None = config.attributes.get("tenant") or context.get_x_argument(
    as_dictionary=True
).get("tenant")
target_metadata = Base.metadata


def use_schema(connection: Connection, schema: str | None) -> None:
    """Resolve unqualified names in ``schema`` for the rest of this transaction."""
    if schema is not None:
        connection.execute(set_local_search_path(schema))


def run_migrations_offline() -> None:
    """Emit the migrations as SQL (``alembic upgrade head --sql``)."""
    for schema in settings.migration_schemas(tenant):
        context.configure(
            url=settings.database_url_object,
            target_metadata=target_metadata,
            literal_binds=True,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()


def run_migrations(connection: Connection, schema: str | None) -> None:
    """Create ``schema`` if it is named, then migrate inside it."""
    if schema is not None:
        connection.execute(CreateSchema(schema, if_not_exists=True))
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        use_schema(connection, schema)
        context.run_migrations()


async def run_migrations_online() -> None:
    """Migrate every target schema over one connection of a short-lived engine."""
    async with DatabaseSessionManager(settings) as db, db.engine.connect() as connection:
        for schema in settings.migration_schemas(tenant):
            await connection.run_sync(run_migrations, schema)


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
