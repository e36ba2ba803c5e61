"""Everything lives in ``DATABASE_SCHEMA``; another schema is another world."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import DropSchema

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.models import (
    Base,
)

from tests.database import migrate


async def test_sessions_work_in_the_configured_schema(
    session: AsyncSession, settings: Settings
) -> None:
    assert await session.scalar(text("SELECT current_schema()")) == settings.database_schema


async def test_migrations_put_every_table_in_the_schema(
    session: AsyncSession, settings: Settings
) -> None:
    rows = await session.execute(
        text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema"),
        {"schema": settings.database_schema},
    )
    tables = {row.table_name for row in rows}
    assert tables == {"alembic_version", *Base.metadata.tables}


@pytest.fixture
async def other_service(settings: Settings) -> AsyncIterator[DatabaseSessionManager]:
    """A second service on the same database, in a schema of its own."""
    other = settings.model_copy(update={"database_schema": f"other_{uuid.uuid4().hex[:12]}"})
    await asyncio.to_thread(migrate, other)
    async with DatabaseSessionManager(other) as manager:
        yield manager
        async with manager.session() as session:
            await session.execute(DropSchema(other.database_schema, cascade=True))
            await session.commit()


async def test_two_schemas_do_not_see_each_other(
    other_service: DatabaseSessionManager, sessionmanager: DatabaseSessionManager
) -> None:
    marker = f"other-{uuid.uuid4().hex[:8]}"
    async with other_service.session() as session:
        await session.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": marker})
        await session.commit()
        seen_there = await session.scalar(
            text("SELECT count(*) FROM alembic_version WHERE version_num = :v"), {"v": marker}
        )
    async with sessionmanager.session() as session:
        seen_here = await session.scalar(
            text("SELECT count(*) FROM alembic_version WHERE version_num = :v"), {"v": marker}
        )
    assert seen_there == 1
    assert seen_here == 0


@pytest.mark.parametrize(
    "name",
    [
        "app; drop schema public",
        'app"',
        "App",
        "1app",
        "pg_catalog",
        "information_schema",
        "a" * 64,
        "schéma",
        "",
    ],
)
def test_unsafe_schema_names_are_refused_at_load(name: str) -> None:
    with pytest.raises(ValidationError, match="database_schema"):
        Settings(database_schema=name)
