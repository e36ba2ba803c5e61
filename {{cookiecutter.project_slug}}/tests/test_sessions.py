"""The session lifecycle: ``get_db`` and ``DatabaseSessionManager.session()`` never commit.

These tests use the real session manager, not the test transaction, and tell
what was written by DDL, which PostgreSQL runs transactionally: a table created
in a rolled-back transaction does not exist afterwards. The probe routes are
mounted under ``/api`` like every resource, and the checks run in ``test_scope``.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Column, Integer, MetaData, Table, func, select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import QueuePool
from sqlalchemy.schema import CreateTable, DropTable

from {{ cookiecutter.package_name }} import (
    api,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
    SessionManager,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)

Scope = Callable[[], AbstractContextManager[object]]


@pytest.fixture
def probe() -> Table:
    """A table that no other test uses; it exists only if a test committed it."""
    return Table(f"probe_{uuid.uuid4().hex}", MetaData(), Column("id", Integer))


async def is_committed(manager: DatabaseSessionManager, table: Table, scope: Scope) -> bool:
    """Whether a new session sees ``table`` (in its schema, whatever the schema mode)."""
    with scope():
        async with manager.session() as session:
            try:
                await session.execute(select(func.count()).select_from(table))
            except ProgrammingError as exc:
                if "does not exist" not in str(exc):
                    raise
                return False
    return True


def probe_router(probe: Table) -> APIRouter:
    """Routes that create the probe table, and one that reads the pool."""
    router = APIRouter()

    @router.post("/probe/no-commit")
    async def create_without_commit(session: DbSession) -> None:
        await session.execute(CreateTable(probe))

    @router.post("/probe/fail")
    async def create_then_fail(session: DbSession) -> None:
        await session.execute(CreateTable(probe))
        msg = "the endpoint failed"
        raise RuntimeError(msg)

    @router.post("/probe/commit")
    async def create_and_commit(session: DbSession) -> None:
        await session.execute(CreateTable(probe))
        await session.commit()

    @router.get("/probe/checked-out")
    async def checked_out(manager: SessionManager) -> int:
        pool = manager.engine.pool
        assert isinstance(pool, QueuePool)
        return pool.checkedout()

    return router


@pytest.fixture
async def app_client(
    settings: Settings, probe: Table, client_headers: dict[str, str]
) -> AsyncIterator[AsyncClient]:
    """The real app, plus probe routes that create the probe table."""
    app = create_app(settings)
    app.include_router(probe_router(probe), prefix=api.PREFIX, dependencies=api.DEPENDENCIES)
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with AsyncClient(
            transport=transport, base_url="http://test", headers=client_headers
        ) as client:
            yield client


async def test_get_db_does_not_commit_behind_the_endpoint(
    app_client: AsyncClient,
    sessionmanager: DatabaseSessionManager,
    probe: Table,
    test_scope: Scope,
) -> None:
    response = await app_client.post("/api/probe/no-commit")
    assert response.status_code == 200
    assert not await is_committed(sessionmanager, probe, test_scope)


async def test_get_db_rolls_back_when_the_endpoint_fails(
    app_client: AsyncClient,
    sessionmanager: DatabaseSessionManager,
    probe: Table,
    test_scope: Scope,
) -> None:
    response = await app_client.post("/api/probe/fail")
    assert response.status_code == 500
    assert not await is_committed(sessionmanager, probe, test_scope)


async def test_an_explicit_commit_is_kept(
    app_client: AsyncClient,
    sessionmanager: DatabaseSessionManager,
    probe: Table,
    test_scope: Scope,
) -> None:
    response = await app_client.post("/api/probe/commit")
    try:
        assert response.status_code == 200
        assert await is_committed(sessionmanager, probe, test_scope)
    finally:
        with test_scope():
            async with sessionmanager.session() as session:
                await session.execute(DropTable(probe, if_exists=True))
                await session.commit()


async def test_script_session_rolls_back_on_error(
    sessionmanager: DatabaseSessionManager, probe: Table, test_scope: Scope
) -> None:
    async def failing_job() -> None:
        with test_scope():
            async with sessionmanager.session() as session:
                await session.execute(CreateTable(probe))
                msg = "the job failed"
                raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="the job failed"):
        await failing_job()
    assert not await is_committed(sessionmanager, probe, test_scope)


async def test_every_connection_returns_to_the_pool(app_client: AsyncClient) -> None:
    for _ in range(3):
        assert (await app_client.post("/api/probe/no-commit")).status_code == 200
        assert (await app_client.post("/api/probe/fail")).status_code == 500
    response = await app_client.get("/api/probe/checked-out")
    # The probe request holds no session, so nothing may be checked out.
    assert response.json() == 0
