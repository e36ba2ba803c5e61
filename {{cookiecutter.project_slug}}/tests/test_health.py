"""Liveness never needs the database; readiness reports whether it answers."""

import asyncio

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)


async def test_live_is_ok(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "detail": None, "replicas": None}


async def test_ready_is_ok_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_is_503_and_live_200_when_the_database_is_unreachable(
    unreachable_settings: Settings,
) -> None:
    app = create_app(unreachable_settings)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["detail"] == "database unavailable"
    assert ready.headers["Retry-After"].isdigit()
    assert live.status_code == 200


async def test_a_busy_pool_does_not_fail_readiness(settings: Settings) -> None:
    """A connection that came back within the last second proves the database answers, so
    readiness does not queue for a connection: a busy instance must stay in the load balancer."""
    one = settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    app = create_app(one)

    @app.get("/probe/hold")
    async def hold(session: DbSession) -> None:
        await session.execute(text("SELECT pg_sleep(3)"))  # the pool's only connection

    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        assert (await client.get("/health/ready")).status_code == 200  # a connection came back
        holding = asyncio.create_task(client.get("/probe/hold"))
        await asyncio.sleep(0.2)
        try:
            ready = await asyncio.wait_for(client.get("/health/ready"), timeout=1)
        finally:
            holding.cancel()
    assert ready.status_code == 200
