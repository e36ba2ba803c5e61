"""Round trips per request, counted by the server, in every schema mode.

A throwaway PostgreSQL cluster runs with ``pg_stat_statements`` (every
statement counted, ``BEGIN``/``COMMIT`` included). Each variant is served on a
database there; after a warm-up the counters are reset, then sequential reads
(``GET /api/items/{id}``) and writes (``POST /api/items``) are sent and the
server's count of executed statements is divided by the requests. No request
pays for a ping (the liveness check costs no round trip on a connection in
use). A read is ``BEGIN``, ``SELECT``, ``ROLLBACK``, or the ``SELECT`` alone
with ``DATABASE_AUTOCOMMIT_READS=true``; a write is ``BEGIN``, the ``INSERT
... RETURNING`` and ``COMMIT``; a tenant adds its ``set_config`` to each.
"""

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.faults.cluster import ThrowawayCluster
from tests.faults.service import InstalledVariant, migrated_database

pytestmark = pytest.mark.reliability

# answers, settings, statements per read at most, statements per write. Reads
# run in a transaction by default (BEGIN, SELECT, ROLLBACK); with
# DATABASE_AUTOCOMMIT_READS=true a read is its SELECT alone. A tenant's
# transaction also starts with its search_path (one more statement).
HOT_PATH_VARIANTS = {
    "default": ({"python_version": "3.12", "include_example_api": "y"}, {}, 3, 3),
    "default-autocommit-reads": (
        {"python_version": "3.12", "include_example_api": "y"},
        {"DATABASE_AUTOCOMMIT_READS": "true"},
        1,
        3,
    ),
    "schema": (
        {"python_version": "3.12", "include_example_api": "y", "database_schema": "app"},
        {},
        3,
        3,
    ),
    "tenant": (
        {"python_version": "3.12", "include_example_api": "y", "tenancy": "schema-per-tenant"},
        {"DATABASE_AUTOCOMMIT_READS": "true"},  # a tenant's reads keep their transaction
        4,
        4,
    ),
}
READS = 200
WRITES = 100
OWN_QUERIES = "%pg_stat_statements%"


@pytest.fixture(scope="module")
def counting_server():
    try:
        cluster = ThrowawayCluster()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        cluster.start(
            shared_preload_libraries="pg_stat_statements", **{"pg_stat_statements.track": "all"}
        )
        yield cluster.admin_url
    finally:
        cluster.destroy()


async def statements_since_reset(url: str, action) -> int:
    """Statements the server executed in this database while ``action`` ran."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
        await action()
        return int(
            await connection.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND query NOT LIKE $1",
                OWN_QUERIES,
            )
        )
    finally:
        await connection.close()


@pytest.mark.parametrize("name", list(HOT_PATH_VARIANTS))
def test_statements_per_read_and_write(
    name: str, install_variant, counting_server: str, tmp_path: Path, figure
) -> None:
    answers, settings, read_bound, write_statements = HOT_PATH_VARIANTS[name]
    variant: InstalledVariant = install_variant(answers)
    with (
        migrated_database(counting_server, variant) as database,
        variant.serve(tmp_path / "server.log", database.app_url, **settings) as app,
    ):

        async def scenario() -> tuple[float, float]:
            async with httpx.AsyncClient(
                base_url=app.base_url, timeout=10, headers=variant.headers
            ) as client:
                ids = []
                for number in range(20):  # warm-up: pool, caches, and rows to read
                    created = await client.post("/api/items", json={"name": f"w{number}"})
                    ids.append(created.json()["id"])
                    await client.get(f"/api/items/{ids[-1]}")

                async def reads() -> None:
                    for number in range(READS):
                        response = await client.get(f"/api/items/{ids[number % 20]}")
                        assert response.status_code == 200

                async def writes() -> None:
                    for number in range(WRITES):
                        response = await client.post("/api/items", json={"name": f"n{number}"})
                        assert response.status_code == 201

                per_read = await statements_since_reset(database.plain_url, reads) / READS
                per_write = await statements_since_reset(database.plain_url, writes) / WRITES
                return per_read, per_write

        per_read, per_write = asyncio.run(scenario())
        app.assert_clean_log()
    assert per_read <= read_bound, per_read
    assert per_write == write_statements, per_write
    figure(
        f"{per_read:g} statements per read (bound {read_bound}),"
        f" {per_write:g} per write, counted by pg_stat_statements"
    )
