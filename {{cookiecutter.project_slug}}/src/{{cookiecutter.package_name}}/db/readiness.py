"""Does the primary answer? Asked by ``/health/ready``, cheaply and within a bound.

A connection that came back to the pool within the last second proves that
the database answers, without a query: under load that is always the case,
so readiness never waits behind a full pool. A saturated pool is busy, not
broken, and must not fail readiness: a load balancer would take the instance
out just when it is needed, and push its load onto the others. Only when no
connection has come back lately is the database pinged, within 2 s.

A failure is logged once, when readiness changes, as one line saying why
(``db/failures.py``); so is the recovery.
"""

import asyncio
import logging
import time

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
)

logger = logging.getLogger(__name__)

RECENT_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 2.0


class PrimaryCheck:
    """Whether the primary answers, from recent use or a ping."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Watch ``engine``'s pool for connections coming back."""
        self._engine = engine
        self._answered_at = 0.0
        self._problem: str | None = None

        @event.listens_for(engine.sync_engine.pool, "checkin")
        def _came_back(
            dbapi_connection: DBAPIConnection | None, _record: ConnectionPoolEntry
        ) -> None:
            if dbapi_connection is not None:  # None: the connection was dropped
                self._answered_at = time.monotonic()

    async def problem(self) -> str | None:
        """Why the primary cannot serve now, in one line; ``None`` if it can."""
        if time.monotonic() - self._answered_at < RECENT_SECONDS:
            return self._report(None)
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except TimeoutError:
            return self._report(f"no answer within {PING_TIMEOUT_SECONDS:g} s")
        except DatabaseUnavailableError as exc:
            return self._report(str(exc))
        except (OSError, SQLAlchemyError) as exc:
            return self._report(describe(exc))
        return self._report(None)

    def _report(self, problem: str | None) -> str | None:
        if problem != self._problem:
            if problem is None:
                logger.info("readiness: the database answers again")
            else:
                logger.warning("readiness: the database cannot serve: %s", problem)
            self._problem = problem
        return problem
