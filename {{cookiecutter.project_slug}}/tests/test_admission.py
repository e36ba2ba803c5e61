"""Sessions take the pool's connections in arrival order, and a long wait is a 503."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import QueuePool

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.admission import (
    Admission,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)


async def test_waiters_are_admitted_in_arrival_order() -> None:
    admission = Admission(1, timeout=5)
    admitted: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with admission.slot():
            await release.wait()

    async def waiter(name: str) -> None:
        async with admission.slot():
            admitted.append(name)
            await asyncio.sleep(0)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(waiter(f"w{i}")) for i in range(5)]
    await asyncio.sleep(0.01)  # all five are queued
    release.set()
    await first
    # A newcomer arriving just as the slot frees up does not overtake them.
    late = asyncio.create_task(waiter("late"))
    await asyncio.gather(*waiters, late)
    assert admitted == ["w0", "w1", "w2", "w3", "w4", "late"]


async def test_a_wait_past_the_timeout_raises_the_pools_error() -> None:
    admission = Admission(1, timeout=0.05)
    async with admission.slot():
        with pytest.raises(PoolTimeoutError, match="DATABASE_POOL_TIMEOUT"):
            async with admission.slot():
                pass
    async with admission.slot():  # the failed wait left no slot taken
        pass


async def test_sessions_beyond_pool_size_plus_overflow_wait_in_the_queue(
    settings: Settings,
) -> None:
    tight = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 1, "database_pool_timeout": 0.2}
    )
    async with DatabaseSessionManager(tight) as manager:
        async with manager.session() as one, manager.read_session() as two:
            await one.execute(text("SELECT 1"))
            await two.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeoutError, match="DATABASE_POOL_TIMEOUT"):
                async with manager.session():
                    pass
            pool = manager.engine.pool
            assert isinstance(pool, QueuePool)
            assert pool.checkedout() == 2
        async with manager.session() as three:  # both slots came back
            assert (await three.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.fixture
async def one_connection_app(
    settings: Settings,
) -> AsyncIterator[tuple[AsyncClient, asyncio.Event]]:
    """The app on a pool of one connection, with a route that holds it until told."""
    tight = settings.model_copy(
        update={"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout": 0.2}
    )
    app = create_app(tight)
    done = asyncio.Event()

    @app.get("/probe/hold")
    async def hold(session: DbSession) -> None:
        await session.execute(text("SELECT 1"))
        await done.wait()

    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, done


async def test_a_request_that_finds_no_connection_in_time_is_a_503(
    one_connection_app: tuple[AsyncClient, asyncio.Event],
) -> None:
    client, done = one_connection_app
    holding = asyncio.create_task(client.get("/probe/hold"))
    await asyncio.sleep(0.05)
    second = await client.get("/probe/hold")
    assert second.status_code == 503
    assert "Retry-After" in second.headers
    done.set()
    assert (await holding).status_code == 200
