"""``seed-items`` and ``purge-items`` write in one transaction each, outside any request."""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import delete, func, select

from {{ cookiecutter.package_name }}.cli.__main__ import (
    run,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.items.models import (
    Item,
)

Scope = Callable[[], AbstractContextManager[object]]


@pytest.fixture
async def prefix(sessionmanager: DatabaseSessionManager, test_scope: Scope) -> AsyncIterator[str]:
    """A name prefix of this test's own; its items are deleted afterwards."""
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    yield prefix
    with test_scope():
        async with sessionmanager.session() as session:
            await session.execute(delete(Item).where(Item.name.startswith(prefix)))
            await session.commit()


async def count(manager: DatabaseSessionManager, prefix: str, scope: Scope) -> int:
    """Committed items whose name starts with ``prefix``."""
    with scope():
        async with manager.session() as session:
            query = select(func.count()).select_from(Item).where(Item.name.startswith(prefix))
            return (await session.scalar(query)) or 0


async def test_seed_then_purge(
    settings: Settings,
    sessionmanager: DatabaseSessionManager,
    prefix: str,
    test_scope: Scope,
    scope_arguments: list[str],
) -> None:
    seed = ["seed-items", "25", "--prefix", prefix, *scope_arguments]
    assert await run(seed, settings) == 0
    assert await count(sessionmanager, prefix, test_scope) == 25

    assert await run(["purge-items", *scope_arguments], settings) == 0
    assert await count(sessionmanager, prefix, test_scope) == 0


async def test_a_seed_failing_midway_writes_nothing(
    settings: Settings,
    sessionmanager: DatabaseSessionManager,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
    test_scope: Scope,
    scope_arguments: list[str],
) -> None:
    # Item 13 of 20 already exists, so the 13th insert violates the unique name.
    with test_scope():
        async with sessionmanager.session() as session:
            session.add(Item(name=f"{prefix}-13"))
            await session.commit()

    seed = ["seed-items", "20", "--prefix", prefix, *scope_arguments]
    assert await run(seed, settings) == 1
    assert "seed-items failed, nothing written" in capsys.readouterr().err
    assert await count(sessionmanager, prefix, test_scope) == 1
