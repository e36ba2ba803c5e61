"""Alembic environment: migrations run through the service's own settings.

The URL and the schema(s) come from the service's settings (environment or
``.env``); callers may pass other settings as ``config.attributes["settings"]``.

Each migration transaction first points ``search_path`` at its schema (for
that transaction only). Tables and the ``alembic_version`` table are created
unqualified, so they land in that schema, and autogenerate compares the models
with that schema alone. Revisions therefore never name a schema: one revision
serves any ``DATABASE_SCHEMA`` and every tenant.

Where the settings name several schemas (one per tenant), each is migrated in
its own transaction; ``alembic -x tenant=ID ...`` works on one. Autogenerate
compares the models with one schema (that tenant, else the first); ``alembic
check`` compares every one.

Every transaction also runs with ``lock_timeout`` set from
``DATABASE_MIGRATION_LOCK_TIMEOUT``. A migration that cannot get its lock
fails and rolls back; it does not queue every request behind it. Statements
may run for ``DATABASE_JOB_TIMEOUT`` (the session manager's ``job`` bounds).
"""

import asyncio
import logging
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, Select, func, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema

from {{ cookiecutter.package_name }}.config import (
    Settings,
    get_settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    set_local_search_path,
)
from {{ cookiecutter.package_name }}.db.deadlines import milliseconds
from {{ cookiecutter.package_name }}.models import Base

LOCK_NOT_AVAILABLE = "55P03"

config = context.config
if config.cmd_opts is not None and config.config_file_name is not None:
    # Only on alembic's command line: a program that runs migrations keeps its logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

settings: Settings = config.attributes.get("settings") or get_settings()
tenant: str | None = config.attributes.get("tenant") or context.get_x_argument(
    as_dictionary=True
).get("tenant")
target_metadata = Base.metadata


def target_schemas() -> list[str | None]:
    """The schemas this command works on, in order."""
    schemas = settings.migration_schemas(tenant)
    if not schemas:
        msg = "no schema to work on: set TENANTS=id,... or pass -x tenant=ID"
        raise CommandError(msg)
    if getattr(config.cmd_opts, "autogenerate", False):
        return schemas[:1]
    return schemas


def set_local_lock_timeout(seconds: float) -> Select[tuple[str]]:
    """``set_config('lock_timeout', ...)`` for the current transaction only."""
    return select(func.set_config("lock_timeout", milliseconds(seconds), true()))


def migrate(schema: str | None) -> None:
    """Run the migrations in one transaction, inside ``schema`` when one is named."""
    if schema is not None:
        logger.info("schema %s", schema)
    timeout = settings.database_migration_lock_timeout
    try:
        with context.begin_transaction():
            context.execute(set_local_lock_timeout(timeout))
            if schema is not None:
                context.execute(CreateSchema(schema, if_not_exists=True))
                context.execute(set_local_search_path(schema))
            context.run_migrations()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        where = f"schema {schema}" if schema else "the database"
        statement = (exc.statement or "").strip().splitlines()[0]
        msg = (
            f"migration of {where} rolled back: a lock was not granted within"
            f" DATABASE_MIGRATION_LOCK_TIMEOUT={timeout:g} s for: {statement}\n"
            "Another session holds a conflicting lock (see pg_stat_activity and pg_locks)."
            " Run the migration again once it is released."
        )
        raise CommandError(msg) from exc


def run_migrations_offline() -> None:
    """Emit the migrations as SQL (``alembic upgrade head --sql``)."""
    for schema in target_schemas():
        context.configure(
            url=settings.database_url_object,
            target_metadata=target_metadata,
            literal_binds=True,
        )
        migrate(schema)


def run_migrations(connection: Connection, schema: str | None) -> None:
    """Migrate ``schema`` over ``connection``."""
    context.configure(connection=connection, target_metadata=target_metadata)
    migrate(schema)


async def run_migrations_online() -> None:
    """Migrate every target schema over one connection of a short-lived engine."""
    async with (
        DatabaseSessionManager(settings, job=True) as db,
        db.engine.connect() as connection,
    ):
        for schema in target_schemas():
            await connection.run_sync(run_migrations, schema)


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
