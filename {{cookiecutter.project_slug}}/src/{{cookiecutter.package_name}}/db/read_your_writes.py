"""Read-your-writes: a client's read after its own write never lands on a standby without it.

With read replicas, a request that committed answers with a cookie holding the
primary's WAL position after its commit (one ``SELECT pg_current_wal_lsn()``
in autocommit: the only cost, paid by committing requests only). A later read
by the same client (its cookie sent back) goes to a standby only once that
standby has replayed past that position (``db/replicas.py``); until then it goes
to the primary. Clients that keep cookies (browsers, ``httpx.Client``,
``requests.Session``) get it for free; others read from a standby within the lag
bound. Without replicas nothing of this runs.

The cookie itself is carried by ``db/write_cookie.py``; this module holds the
session side, so that migrations and the command line never import Starlette.
"""

import logging
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
)

logger = logging.getLogger(__name__)

COMMITTED = "committed"
POSITION = text("SELECT pg_current_wal_lsn()::text")


@dataclass
class Writes:
    """What one request knows of its client's writes."""

    seen: str | None = None  # the position its cookie brought
    made: str | None = None  # the position after its own commit


# Set by the cookie middleware for each request when there are read replicas.
REQUEST_WRITES: ContextVar[Writes | None] = ContextVar("writes", default=None)


class WriteSession(Session):
    """The synchronous session behind write sessions: it notes that it committed."""


@event.listens_for(WriteSession, "after_commit")
def _note_commit(session: Session) -> None:
    session.info[COMMITTED] = True


def written_position() -> str | None:
    """The WAL position the current request must read at least (its cookie's, if any)."""
    writes = REQUEST_WRITES.get()
    return None if writes is None else writes.made or writes.seen


async def remember_commit(session: AsyncSession) -> None:
    """After the request's session committed, note the primary's position for its answer.

    The commit is done: if the position cannot be had, the answer goes without
    it (the client's next reads then rely on the lag bound alone).
    """
    writes = REQUEST_WRITES.get()
    if writes is None or not session.info.get(COMMITTED):
        return
    try:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        writes.made = str(await connection.scalar(POSITION))
    except (DatabaseUnavailableError, DBAPIError) as exc:
        logger.warning("read-your-writes: no position after the commit: %s", describe(exc))
