"""The connection budget: do this deployment's pools fit the server's limit?

Every worker process has its own pool of up to ``pool_size + max_overflow``
connections, and every replica runs ``WEB_CONCURRENCY`` workers. Their sum
must stay below ``max_connections``, less the slots PostgreSQL keeps for
superusers and ``DATABASE_RESERVED_CONNECTIONS`` kept free for migrations,
admins and other clients. At startup the app reads the server's numbers (one
short query) and warns when the deployment does not fit; with
``DATABASE_BUDGET_STRICT`` (on in production) it refuses to start.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.manager import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
)

logger = logging.getLogger(__name__)

SERVER_LIMITS = text(
    "SELECT current_setting('max_connections')::int AS max_connections,"
    " current_setting('superuser_reserved_connections')::int AS superuser_reserved"
)


class ConnectionBudgetExceededError(RuntimeError):
    """The deployment's pools can open more connections than the server allows."""


@dataclass(frozen=True)
class ConnectionBudget:
    """What the deployment may open, against what the server allows."""

    workers: int
    replicas: int
    per_worker: int
    max_connections: int
    superuser_reserved: int
    reserved: int

    @property
    def needed(self) -> int:
        """Connections every pool of the deployment can open together."""
        return self.workers * self.replicas * self.per_worker

    @property
    def available(self) -> int:
        """Connections the server leaves to this deployment."""
        return self.max_connections - self.superuser_reserved - self.reserved

    @property
    def fits(self) -> bool:
        """Whether ``needed`` stays within ``available``."""
        return self.needed <= self.available

    def describe(self) -> str:
        """The numbers in one line."""
        return (
            f"{self.workers} workers (WEB_CONCURRENCY) x {self.replicas} replicas (REPLICAS)"
            f" x {self.per_worker} (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW)"
            f" = {self.needed} connections; the server allows {self.max_connections}"
            f" (max_connections) - {self.superuser_reserved} (superuser_reserved_connections)"
            f" - {self.reserved} (DATABASE_RESERVED_CONNECTIONS) = {self.available}"
        )


async def read_budget(manager: DatabaseSessionManager) -> ConnectionBudget:
    """Ask the server for its limits, within the connect timeout."""
    settings = manager.settings
    async with (
        asyncio.timeout(settings.database_connect_timeout),
        manager.engine.connect() as connection,
    ):
        limits = (await connection.execute(SERVER_LIMITS)).one()
    return ConnectionBudget(
        workers=settings.web_concurrency,
        replicas=settings.replicas,
        per_worker=settings.database_pool_size + settings.database_max_overflow,
        max_connections=limits.max_connections,
        superuser_reserved=limits.superuser_reserved,
        reserved=settings.database_reserved_connections,
    )


async def check_budget(manager: DatabaseSessionManager) -> ConnectionBudget | None:
    """Warn when over budget; raise when the settings make the budget strict.

    Behind PgBouncer the server's connections are PgBouncer's to manage, and
    with the database unreachable there is nothing to compare: both are logged
    and the app starts.
    """
    settings = manager.settings
    if settings.database_pooler == "pgbouncer":
        logger.info("connection budget: behind PgBouncer, size its pool instead")
        return None
    try:
        budget = await read_budget(manager)
    except DatabaseUnavailableError as exc:
        logger.warning("connection budget not checked, the database did not answer: %s", exc)
        return None
    except (TimeoutError, SQLAlchemyError) as exc:
        logger.warning(
            "connection budget not checked, the database did not answer: %s", describe(exc)
        )
        return None
    if budget.fits:
        return budget
    advice = (
        "lower DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW or WEB_CONCURRENCY / REPLICAS,"
        " raise max_connections, or put PgBouncer in front (DATABASE_POOLER=pgbouncer)"
    )
    message = f"connection budget exceeded: {budget.describe()}; {advice}"
    if settings.budget_is_strict:
        raise ConnectionBudgetExceededError(message)
    logger.warning("%s (DATABASE_BUDGET_STRICT=true refuses to start)", message)
    return budget
