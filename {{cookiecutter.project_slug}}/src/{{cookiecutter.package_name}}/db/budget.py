"""The connection budget: do this deployment's pools fit each server's limit?

Every worker process has its own pool of up to ``pool_size + max_overflow``
connections to each server, and every replica runs ``WEB_CONCURRENCY`` workers.
Their sum must stay below ``max_connections``, less the slots PostgreSQL keeps
for superusers and ``DATABASE_RESERVED_CONNECTIONS`` kept free for migrations,
admins and other clients. With read replicas, each worker also keeps one
connection to every server for the replica monitor, and every standby gets
the same check. At startup the app reads each server's numbers (one short
query) and warns when the deployment does not fit; with
``DATABASE_BUDGET_STRICT`` (on in production) it refuses to start.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

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
    """What the deployment may open, against what one server allows."""

    server: str
    workers: int
    replicas: int
    per_worker: int
    max_connections: int
    superuser_reserved: int
    reserved: int
    monitored: bool = False

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
            f"{self.server}: {self.workers} workers (WEB_CONCURRENCY) x {self.replicas}"
            f" replicas (REPLICAS) x {self.per_worker} (DATABASE_POOL_SIZE +"
            f" DATABASE_MAX_OVERFLOW{' + 1 for the replica monitor' if self.monitored else ''})"
            f" = {self.needed} connections; the server allows {self.max_connections}"
            f" (max_connections) - {self.superuser_reserved} (superuser_reserved_connections)"
            f" - {self.reserved} (DATABASE_RESERVED_CONNECTIONS) = {self.available}"
        )


async def _read_limits(
    manager: DatabaseSessionManager, engine: AsyncEngine, server: str
) -> ConnectionBudget:
    """Ask one server for its limits, within the connect timeout."""
    settings = manager.settings
    async with asyncio.timeout(settings.database_connect_timeout), engine.connect() as connection:
        limits = (await connection.execute(SERVER_LIMITS)).one()
    monitored = manager.replicas is not None
    return ConnectionBudget(
        server=server,
        workers=settings.web_concurrency,
        replicas=settings.replicas,
        per_worker=settings.database_pool_size + settings.database_max_overflow + monitored,
        max_connections=limits.max_connections,
        superuser_reserved=limits.superuser_reserved,
        reserved=settings.database_reserved_connections,
        monitored=monitored,
    )


async def read_budget(manager: DatabaseSessionManager) -> ConnectionBudget:
    """The primary's budget."""
    return await _read_limits(manager, manager.engine, "primary")


async def read_budgets(manager: DatabaseSessionManager) -> list[ConnectionBudget]:
    """The primary's budget, then each standby's that answers."""
    budgets = [await read_budget(manager)]
    for standby in manager.replicas.standbys if manager.replicas is not None else []:
        try:
            budgets.append(await _read_limits(manager, standby.engine, f"standby {standby.name}"))
        except (DatabaseUnavailableError, TimeoutError, SQLAlchemyError) as exc:
            logger.warning("connection budget of standby %s not checked: %s", standby.name, exc)
    return budgets


async def check_budget(manager: DatabaseSessionManager) -> list[ConnectionBudget] | None:
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
        budgets = await read_budgets(manager)
    except DatabaseUnavailableError as exc:
        logger.warning("connection budget not checked, the database did not answer: %s", exc)
        return None
    except (TimeoutError, SQLAlchemyError) as exc:
        logger.warning(
            "connection budget not checked, the database did not answer: %s", describe(exc)
        )
        return None
    advice = (
        "lower DATABASE_POOL_SIZE / DATABASE_MAX_OVERFLOW or WEB_CONCURRENCY / REPLICAS,"
        " raise max_connections, or put PgBouncer in front (DATABASE_POOLER=pgbouncer)"
    )
    for budget in budgets:
        if budget.fits:
            continue
        message = f"connection budget exceeded: {budget.describe()}; {advice}"
        if settings.budget_is_strict:
            raise ConnectionBudgetExceededError(message)
        logger.warning("%s (DATABASE_BUDGET_STRICT=true refuses to start)", message)
    return budgets
