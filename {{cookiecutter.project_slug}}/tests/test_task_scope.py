"""The task-scoped session: reachable anywhere in the request's task, never leaked.

The leak test drives the real app (real sessions, no test transaction) with
600 requests, some failing and some cancelled mid-request, then checks that
the scoped registry is empty and the pool has nothing checked out.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, HTTPException
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import QueuePool

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    SessionManager,
)
from {{ cookiecutter.package_name }}.db.task_scope import (
    TaskSession,
    current_session,
    scoped_session,
    task_scope,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)

REQUESTS = 600  # 150 cancelled mid-query: a scope left behind by one shows
BATCH = 50


async def deep_in_the_stack() -> int:
    """Code that is not handed a session."""
    return int(await current_session().scalar(text("SELECT 1")) or 0)


def probe_router() -> APIRouter:
    """Routes that reach the session only through current_session()."""
    scoped = APIRouter(dependencies=[TaskSession])

    @scoped.get("/probe/ok")
    async def ok() -> int:
        return await deep_in_the_stack()

    @scoped.get("/probe/fail")
    async def fail() -> None:
        await deep_in_the_stack()
        raise HTTPException(status_code=409, detail="conflict")

    @scoped.get("/probe/slow")
    async def slow() -> None:
        await current_session().execute(text("SELECT pg_sleep(0.05)"))

    router = APIRouter()
    router.include_router(scoped)

    @router.get("/probe/state")
    async def state(manager: SessionManager) -> dict[str, int]:
        pool = manager.engine.pool
        assert isinstance(pool, QueuePool)
        registry = scoped_session(manager).registry.registry
        return {"registered": len(registry), "checked_out": pool.checkedout()}

    return router


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The real app plus the probe routes."""
    app = create_app(settings)
    app.include_router(probe_router())
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_no_session_leaks_after_requests_that_fail_or_are_cancelled(
    app_client: AsyncClient,
) -> None:
    statuses: dict[Any, int] = {}
    cancelled = 0
    for start in range(0, REQUESTS, BATCH):
        calls = []
        for n in range(start, start + BATCH):
            path = ("/probe/ok", "/probe/fail", "/probe/slow", "/probe/slow")[n % 4]
            calls.append((n, asyncio.create_task(app_client.get(path))))
        await asyncio.sleep(0.01)
        for n, call in calls:
            if n % 4 == 3:  # every other slow request loses its client mid-query
                call.cancel()
        for _, call in calls:
            try:
                response = await call
            except asyncio.CancelledError:
                cancelled += 1
            else:
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    state = (await app_client.get("/probe/state")).json()
    print(f"{REQUESTS} requests: {statuses}, {cancelled} cancelled; after: {state}")  # noqa: T201
    assert cancelled > 0
    assert statuses.get(200, 0) > 0
    assert statuses.get(409, 0) > 0
    assert state == {"registered": 0, "checked_out": 0}


async def test_a_job_reaches_its_session_anywhere_in_the_task(
    sessionmanager: DatabaseSessionManager,
) -> None:
    async with task_scope(sessionmanager) as session:
        assert current_session() is session
        assert await deep_in_the_stack() == 1
    assert scoped_session(sessionmanager).registry.registry == {}


async def test_outside_a_scope_current_session_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="needs the asyncio task that opened"):
        current_session()


async def test_a_worker_thread_cannot_use_the_scope(
    sessionmanager: DatabaseSessionManager,
) -> None:
    async with task_scope(sessionmanager):
        with pytest.raises(RuntimeError, match="worker thread"):
            await asyncio.to_thread(current_session)


async def test_a_background_task_cannot_use_the_scope(
    sessionmanager: DatabaseSessionManager,
) -> None:
    async def background() -> AsyncSession:
        return current_session()

    async with task_scope(sessionmanager):
        with pytest.raises(RuntimeError, match="background tasks"):
            await asyncio.create_task(background())


async def test_a_session_handed_to_a_scope_stays_open_for_its_owner(
    sessionmanager: DatabaseSessionManager,
) -> None:
    """The scope lends the session to the task; the owner still commits or closes it."""
    async with sessionmanager.session() as session:
        async with task_scope(sessionmanager, session):
            await current_session().execute(
                text("CREATE TEMP TABLE scope_probe (id int) ON COMMIT DROP")
            )
        assert session.in_transaction()
        assert await session.scalar(text("SELECT count(*) FROM scope_probe")) == 0


async def test_a_task_cannot_open_two_scopes(sessionmanager: DatabaseSessionManager) -> None:
    async with task_scope(sessionmanager):
        with pytest.raises(RuntimeError, match="already has a task scope"):
            async with task_scope(sessionmanager):
                pass
