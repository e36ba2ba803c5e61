"""``DATABASE_POOLER=pgbouncer``: what transaction pooling needs, checked on the server.

The template's own tests run variants through a real PgBouncer; these check the
mechanism against the test server directly.
"""

import pytest
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)

SESSION_DEFAULT = text("SELECT reset_val FROM pg_settings WHERE name = 'search_path'")
CURRENT = text("SELECT current_setting('search_path')")
PREPARED = text("SELECT count(*) FROM pg_prepared_statements")
STATEMENTS = [
    text("SELECT 1"),
    text("SELECT now()"),
    text("SELECT current_user"),
    text("SELECT version()"),
    text("SELECT pg_backend_pid()"),
]


def behind_pgbouncer(settings: Settings) -> Settings:
    return settings.model_copy(update={"database_pooler": "pgbouncer", "database_pool_size": 1})


async def test_schema_settings_travel_with_each_transaction_not_the_connection(
    settings: Settings,
) -> None:
    expected = settings.schema_server_settings().get("search_path")
    async with DatabaseSessionManager(behind_pgbouncer(settings)) as manager:
        for _ in range(3):  # each a new transaction, as PgBouncer would route it
            async with manager.engine.connect() as connection:
                session_default = await connection.scalar(SESSION_DEFAULT)
                current = await connection.scalar(CURRENT)
                assert session_default == '"$user", public'  # no startup parameter
                if expected is not None:
                    assert current == expected


async def test_no_prepared_statement_outlives_its_use(settings: Settings) -> None:
    if settings.database_pooler == "pgbouncer":
        pytest.skip("reads a direct connection's server state; through PgBouncer it is shared")
    async with (
        DatabaseSessionManager(behind_pgbouncer(settings)) as manager,
        manager.engine.connect() as connection,
    ):
        for statement in STATEMENTS:
            await connection.execute(statement)
            await connection.execute(text("SELECT CAST(:n AS int)"), {"n": 1})
        assert await connection.scalar(PREPARED) == 1  # only this query itself
    async with DatabaseSessionManager(settings) as manager, manager.engine.connect() as connection:
        for statement in STATEMENTS:
            await connection.execute(statement)
        assert await connection.scalar(PREPARED) > len(STATEMENTS)  # without a pooler: cached
