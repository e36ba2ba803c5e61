"""Liveness never needs the database; readiness reports whether it answers."""

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app


async def test_live_is_ok(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "detail": None}


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
    assert ready.json() == {"status": "unavailable", "detail": "database unreachable"}
    assert live.status_code == 200
