"""``seed-items`` and ``purge-items`` write in one transaction each, outside any request."""

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select

from {{ cookiecutter.package_name }}.cli.__main__ import run
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db import DatabaseSessionManager
from {{ cookiecutter.package_name }}.items.models import Item


@pytest.fixture
async def prefix(sessionmanager: DatabaseSessionManager) -> AsyncIterator[str]:
    """A name prefix of this test's own; its items are deleted afterwards."""
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    yield prefix
    async with sessionmanager.session() as session:
        await session.execute(delete(Item).where(Item.name.startswith(prefix)))
        await session.commit()


async def count(manager: DatabaseSessionManager, prefix: str) -> int:
    """Committed items whose name starts with ``prefix``."""
    async with manager.session() as session:
        query = select(func.count()).select_from(Item).where(Item.name.startswith(prefix))
        return (await session.scalar(query)) or 0


async def test_seed_then_purge(
    settings: Settings, sessionmanager: DatabaseSessionManager, prefix: str
) -> None:
    assert await run(["seed-items", "25", "--prefix", prefix], settings) == 0
    assert await count(sessionmanager, prefix) == 25

    assert await run(["purge-items"], settings) == 0
    assert await count(sessionmanager, prefix) == 0


async def test_a_seed_failing_midway_writes_nothing(
    settings: Settings,
    sessionmanager: DatabaseSessionManager,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Item 13 of 20 already exists, so the 13th insert violates the unique name.
    async with sessionmanager.session() as session:
        session.add(Item(name=f"{prefix}-13"))
        await session.commit()

    assert await run(["seed-items", "20", "--prefix", prefix], settings) == 1
    assert "seed-items failed, nothing written" in capsys.readouterr().err
    assert await count(sessionmanager, prefix) == 1
