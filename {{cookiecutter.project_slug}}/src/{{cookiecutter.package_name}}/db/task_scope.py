"""The current task's session, for code that is not handed one.

A request or a job opens a task scope; inside it, ``current_session()`` returns
that asyncio task's session from anywhere in the call stack (a service or
repository module), without passing it down.

The rules, enforced loudly:

- Only the task that opened the scope may use it. A plain ``def`` dependency
  or endpoint runs in a worker thread, and ``asyncio.create_task`` or FastAPI's
  ``BackgroundTasks`` run in other tasks: there ``current_session()`` raises
  ``RuntimeError`` instead of silently handing out a different session. Pass
  the session explicitly, or open a scope of their own.
- A scope always ends by removing the task's session from the registry, also
  when the request failed or its client went away, so the registry never
  grows (unlike an ``async_scoped_session`` that is never ``remove()``-d).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from weakref import WeakKeyDictionary

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session

from {{ cookiecutter.package_name }}.db.dependencies import (
    DbReadSession,
    DbSession,
    SessionManager,
)
from {{ cookiecutter.package_name }}.db.manager import (
    DatabaseSessionManager,
)

Registry = async_scoped_session[AsyncSession]

_registries: WeakKeyDictionary[DatabaseSessionManager, Registry] = WeakKeyDictionary()
_open_scope: ContextVar[Registry | None] = ContextVar("task_session_scope", default=None)

MISUSE = (
    "current_session() needs the asyncio task that opened the task scope. Plain def "
    "dependencies and endpoints run in a worker thread, and background tasks in other "
    "tasks: pass the session to them, or open a scope with task_scope(manager)."
)


def scoped_session(manager: DatabaseSessionManager) -> Registry:
    """The manager's task-scoped session registry, keyed by the current asyncio task."""
    registry = _registries.get(manager)
    if registry is None:
        registry = async_scoped_session(manager.sessionmaker, scopefunc=asyncio.current_task)
        _registries[manager] = registry
    return registry


def _running_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


def current_session() -> AsyncSession:
    """The session of the task scope this task opened; ``RuntimeError`` anywhere else."""
    registry = _open_scope.get()
    if registry is None or _running_task() is None or not registry.registry.has():
        raise RuntimeError(MISUSE)
    return registry()


@asynccontextmanager
async def task_scope(
    manager: DatabaseSessionManager, session: AsyncSession | None = None
) -> AsyncIterator[AsyncSession]:
    """Make ``session`` (or a new one) this task's session until the block ends.

    A new session is rolled back on error and closed at the end, like
    ``manager.session()``; it never commits by itself. A session that was
    handed in stays open: its owner commits or closes it after the block.
    """
    registry = scoped_session(manager)
    if _running_task() is None:
        raise RuntimeError(MISUSE)
    if registry.registry.has():
        msg = "this task already has a task scope"
        raise RuntimeError(msg)
    async with AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(manager.session())
        registry.registry.set(session)
        token = _open_scope.set(registry)
        try:
            yield session
        finally:
            _open_scope.reset(token)
            registry.registry.clear()  # forget this task; the exit stack closes what it opened


async def use_task_session(manager: SessionManager, session: DbSession) -> AsyncIterator[None]:
    """Make the request's session the current task's session for the path operation."""
    async with task_scope(manager, session):
        yield


# Add to a router's or path operation's ``dependencies``; like DbSession it ends
# when the path operation returns, before the response is sent.
TaskSession = Depends(use_task_session, scope="function")


async def use_task_read_session(
    manager: SessionManager, session: DbReadSession
) -> AsyncIterator[None]:
    """Make the request's read session (see ``DbReadSession``) the task's session."""
    async with task_scope(manager, session):
        yield


# The same, for path operations that only read.
TaskReadSession = Depends(use_task_read_session, scope="function")
