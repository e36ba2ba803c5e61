"""FastAPI dependencies that hand the database to path operations."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.db.manager import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.read_your_writes import (
    remember_commit,
)


async def get_sessionmanager(request: Request) -> DatabaseSessionManager:
    """The manager the app's lifespan created."""
    manager = getattr(request.state, "sessionmanager", None)
    if not isinstance(manager, DatabaseSessionManager):
        msg = "No DatabaseSessionManager in the lifespan state: did the app's lifespan run?"
        raise RuntimeError(msg)  # noqa: TRY004 - a wiring error, not bad input
    return manager


SessionManager = Annotated[DatabaseSessionManager, Depends(get_sessionmanager)]


async def get_db(manager: SessionManager) -> AsyncIterator[AsyncSession]:
    """Yield one session per request; roll back on error, never commit.

    With read replicas, a request that committed notes where the primary stood,
    so that its client's next reads find its writes (``db/read_your_writes.py``).
    """
    async with manager.session() as session:
        yield session
        if manager.replicas is not None:
            await remember_commit(session)


# scope="function" closes the session, returning its connection to the pool,
# as soon as the path operation has returned, before the response is sent.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


async def get_read_db(manager: SessionManager) -> AsyncIterator[AsyncSession]:
    """Yield one read session per request (see ``DatabaseSessionManager.read_session``)."""
    async with manager.read_session() as session:
        yield session


# For endpoints that only read. Unless DATABASE_AUTOCOMMIT_READS=false (or behind
# PgBouncer) each query runs on its own, in autocommit.
DbReadSession = Annotated[AsyncSession, Depends(get_read_db, scope="function")]
