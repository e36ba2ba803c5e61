"""Creating the configured database, for development and tests.

In production the database is provisioned with the server (a managed one
comes with it); ``dev`` and the tests create a missing one, so a first run on
a fresh server needs no ``createdb``.
"""

from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
    database_missing,
    root_cause,
)
from {{ cookiecutter.package_name }}.db.manager import (
    DatabaseSessionManager,
)

MAINTENANCE_DATABASE = "postgres"
DUPLICATE_DATABASE = "42P04"


async def database_exists(settings: Settings) -> bool:
    """Whether the database exists; ``DatabaseUnavailableError`` for any other trouble."""
    try:
        async with DatabaseSessionManager(settings, job=True) as manager, manager.engine.connect():
            return True
    except DatabaseUnavailableError as exc:
        if exc.__cause__ is None or not database_missing(
            root_cause(exc.__cause__), settings.database_url_object.database
        ):
            raise
    return False


async def create_database_if_missing(settings: Settings) -> bool:
    """Create ``settings``' database unless it exists; whether it was created.

    The server's maintenance database is used with the same credentials, so
    the user needs the CREATEDB privilege when the database is missing.
    """
    if await database_exists(settings):
        return False
    url = settings.database_url_object
    admin_url = url.set(database=MAINTENANCE_DATABASE).render_as_string(hide_password=False)
    admin = settings.model_copy(update={"database_url": SecretStr(admin_url)})
    async with DatabaseSessionManager(admin, job=True) as manager:
        engine = manager.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            name = conn.dialect.identifier_preparer.quote(url.database or "")
            try:
                await conn.execute(text(f"CREATE DATABASE {name}"))
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != DUPLICATE_DATABASE:
                    raise
                return False  # created by a concurrent run
    return True
