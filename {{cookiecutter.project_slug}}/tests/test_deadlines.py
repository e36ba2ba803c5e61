"""Deadlines: the server's bound for requests and jobs, and the client's bound."""

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.errors import (
    is_unavailable,
)

SLEEP = text("SELECT pg_sleep(1)")
CURRENT_SETTING = text("SELECT current_setting(:name)")


async def show(manager: DatabaseSessionManager, setting: str) -> str:
    async with manager.session() as session:
        return str(await session.scalar(CURRENT_SETTING, {"name": setting}))


async def test_requests_run_under_the_server_deadlines(settings: Settings) -> None:
    async with DatabaseSessionManager(settings) as manager:
        assert await show(manager, "statement_timeout") == "4s"
        assert await show(manager, "idle_in_transaction_session_timeout") == "15s"


async def test_jobs_get_the_longer_deadline(settings: Settings) -> None:
    async with DatabaseSessionManager(settings, job=True) as manager:
        assert await show(manager, "statement_timeout") == "15min"


async def test_past_the_server_deadline_the_statement_is_cancelled_as_unavailable(
    settings: Settings,
) -> None:
    quick = settings.model_copy(update={"database_statement_timeout": 0.1})
    async with DatabaseSessionManager(quick) as manager, manager.session() as session:
        with pytest.raises(DBAPIError) as cancelled:
            await session.execute(SLEEP)
    assert getattr(cancelled.value.orig, "sqlstate", None) == "57014"  # query_canceled
    assert is_unavailable(cancelled.value)  # answered with 503


async def test_past_the_client_deadline_the_connection_is_dropped(settings: Settings) -> None:
    impatient = settings.model_copy(
        update={"database_command_timeout": 0.2, "database_statement_timeout": 10.0}
    )
    invalidated: list[BaseException | None] = []
    async with DatabaseSessionManager(impatient) as manager:
        pool = manager.engine.sync_engine.pool
        event.listen(pool, "invalidate", lambda _conn, _record, exc: invalidated.append(exc))
        async with manager.session() as session:
            await session.execute(text("SELECT 1"))
        assert invalidated == []
        async with manager.session() as session:
            with pytest.raises(DatabaseUnavailableError, match="client deadline") as dropped:
                await session.execute(SLEEP)
        assert isinstance(dropped.value.__cause__, TimeoutError)  # answered with 503
        async with manager.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1  # a fresh connection
    assert [type(exc) for exc in invalidated] == [TimeoutError]
