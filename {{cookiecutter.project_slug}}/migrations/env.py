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

Each transaction first takes the schema's migration lock, so that runners
started at once migrate one after the other (``db/migration_lock.py``), then
runs with ``lock_timeout`` set from ``DATABASE_MIGRATION_LOCK_TIMEOUT``: a
migration that cannot get a table's lock fails and rolls back; it does not
queue every request behind it. Statements may run for ``DATABASE_JOB_TIMEOUT``
(the session manager's ``job`` bounds).

A database that cannot be reached, or settings that cannot be honoured, end
the command with one line (``FAILED: ...``) outside production.
"""

import asyncio
import logging
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema

from {{ cookiecutter.package_name }}.config import (
    Settings,
    SettingsError,
    get_settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    set_local_search_path,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.migration_lock import (
    LOCK_NOT_AVAILABLE,
    set_local_lock_timeout,
    take_migration_lock,
    waited_too_long,
)
from {{ cookiecutter.package_name }}.models import (
    Base,
)

config = context.config
if config.cmd_opts is not None and config.config_file_name is not None:
    # Only on alembic's command line: a program that runs migrations keeps its logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

try:
    settings: Settings = config.attributes.get("settings") or get_settings()
except SettingsError as exc:
    msg = f"configuration error: {exc}"
    raise CommandError(msg) from None
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


def migrate(schema: str | None) -> None:
    """Run the migrations in one transaction, inside ``schema`` when one is named."""
    if schema is not None:
        logger.info("schema %s", schema)
    timeout = settings.database_migration_lock_timeout
    wait = settings.database_migration_wait_timeout
    try:
        with context.begin_transaction():
            context.execute(set_local_lock_timeout(wait))
            context.execute(take_migration_lock(schema))
            context.execute(set_local_lock_timeout(timeout))
            if schema is not None:
                context.execute(CreateSchema(schema, if_not_exists=True))
                context.execute(set_local_search_path(schema))
            context.run_migrations()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        where = f"schema {schema}" if schema else "the database"
        if waited_too_long(exc.statement):
            msg = (
                f"migration of {where} rolled back: another migration of it was still running"
                f" after DATABASE_MIGRATION_WAIT_TIMEOUT={wait:g} s. Run it again when that"
                " one has finished (see pg_stat_activity)."
            )
            raise CommandError(msg) from exc
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
    try:
        async with (
            DatabaseSessionManager(settings, job=True) as db,
            db.engine.connect() as connection,
        ):
            for schema in target_schemas():
                await connection.run_sync(run_migrations, schema)
    except DatabaseUnavailableError as exc:
        if settings.environment == "production":
            raise
        msg = f"cannot reach the database: {exc}"
        raise CommandError(msg) from None


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
