"""A pooled connection killed on the server is replaced on checkout, not handed out."""

import asyncio

import pytest
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)

BACKEND_PID = text("SELECT pg_backend_pid()")


@pytest.mark.parametrize(
    ("ping_after", "settle"),
    [(0.0, 0.0), (3600.0, 0.2)],
    ids=["pinged-at-checkout", "closed-state-without-a-ping"],
)
async def test_a_killed_connection_costs_no_failed_request(
    settings: Settings, ping_after: float, settle: float
) -> None:
    """Killed just before checkout, the ping catches it; once its close has arrived,
    the driver's closed state does, without a round trip."""
    if settings.database_pooler != "none":
        pytest.skip("kills a server connection that PgBouncer would hide")
    one = settings.model_copy(
        update={
            "database_pool_size": 1,
            "database_max_overflow": 0,
            "database_pool_ping_after": ping_after,
        }
    )
    async with DatabaseSessionManager(one) as manager, DatabaseSessionManager(settings) as admin:
        async with manager.session() as session:
            killed = await session.scalar(BACKEND_PID)
        async with admin.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        await asyncio.sleep(settle)
        async with manager.session() as session:
            assert await session.scalar(BACKEND_PID) != killed
