"""Round trips per request, counted by the server, in every schema mode.

A throwaway PostgreSQL cluster logs every statement it executes
(``log_statement=all``: ``BEGIN``/``COMMIT`` and pings included). Each variant
is served on a database there; after a warm-up, sequential reads
(``GET /api/items/{id}``) and writes (``POST /api/items``) are sent and the
server's count of executed statements is divided by the requests.

With the shipped defaults a read is its ``SELECT`` alone (read sessions run
in autocommit) and a write ``BEGIN``, ``INSERT ... RETURNING``, ``COMMIT``: a
connection used within the last second is not pinged, and a tenant's schema
travels in the table names, not in a statement. With
``DATABASE_AUTOCOMMIT_READS=false`` a read is ``BEGIN``, ``SELECT``,
``ROLLBACK``; with ``DATABASE_POOL_PING_AFTER=0`` every checkout adds its
``SELECT 1``. Under load that rises and falls, the pool keeps every
connection it opens: none is closed between peaks and reopened.
"""

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.cluster import ThrowawayCluster
from tests.faults.service import InstalledVariant, migrated_database
from tests.tools import TLS

pytestmark = pytest.mark.reliability

EXAMPLE = {"python_version": "3.12", "include_example_api": "y"}
# answers, settings, statements per read, statements per write.
HOT_PATH_VARIANTS = {
    "default": (EXAMPLE, {}, 1, 3),
    "schema": ({**EXAMPLE, "database_schema": "app"}, {}, 1, 3),
    "task-scope": ({**EXAMPLE, "session_scope": "task"}, {}, 1, 3),
    "tenant": ({**EXAMPLE, "tenancy": "schema-per-tenant"}, {}, 1, 3),
    "transaction-reads": (EXAMPLE, {"DATABASE_AUTOCOMMIT_READS": "false"}, 3, 3),
    "ping-every-checkout": (EXAMPLE, {"DATABASE_POOL_PING_AFTER": "0"}, 2, 4),
}
READS = 200
WRITES = 100


# One line per statement the server executes: simple queries and executions
# of prepared statements, the empty ";" of a ping included.
STATEMENT_LINE = re.compile(r"LOG:  (statement|execute [^:]*): ")


@pytest.fixture(scope="module")
def counting_server():
    """A throwaway cluster that logs every statement; its admin URL and its log."""
    try:
        cluster = ThrowawayCluster()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        cluster.start(
            log_statement="all",
            log_min_duration_statement="-1",
            log_connections="on",
            log_disconnections="on",
        )
        yield cluster.admin_url, cluster.root / "server.log"
    finally:
        cluster.destroy()


def log_lines_since(log: Path, start: int) -> list[str]:
    """The server's log lines from byte ``start`` on."""
    with log.open("rb") as text:
        text.seek(start)
        return text.read().decode(errors="replace").splitlines()


async def statements_while(log: Path, action) -> int:
    """Statements the server executed while ``action`` ran (only the app is connected)."""
    start = log.stat().st_size
    await action()
    await asyncio.sleep(0.2)  # let the server flush its log
    return sum(1 for line in log_lines_since(log, start) if STATEMENT_LINE.search(line))


@pytest.mark.parametrize("name", list(HOT_PATH_VARIANTS))
def test_statements_per_read_and_write(
    name: str, install_variant, counting_server: tuple[str, Path], tmp_path: Path, figure
) -> None:
    admin_url, log = counting_server
    answers, settings, read_statements, write_statements = HOT_PATH_VARIANTS[name]
    variant: InstalledVariant = install_variant(answers)
    with (
        migrated_database(admin_url, variant) as database,
        variant.serve(tmp_path / "server.log", database.app_url, **settings) as app,
    ):

        async def scenario() -> tuple[float, float]:
            async with httpx.AsyncClient(
                base_url=app.base_url, timeout=10, headers=variant.headers, verify=TLS
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

                per_read = await statements_while(log, reads) / READS
                per_write = await statements_while(log, writes) / WRITES
                return per_read, per_write

        per_read, per_write = asyncio.run(scenario())
        app.assert_clean_log()
    assert per_read == read_statements, per_read
    assert per_write == write_statements, per_write
    figure(
        f"{per_read:g} statements per read,"
        f" {per_write:g} per write, counted in the server's statement log"
    )


SLOW_READS = 10


def test_after_a_burst_slow_reads_reuse_one_connection_without_a_ping(
    install_variant, counting_server: tuple[str, Path], tmp_path: Path, figure
) -> None:
    """The pool hands out the connection returned last (``pool_use_lifo``).

    A burst opens many connections; reads that follow every 0.2 s then take
    the same one, in use within the last second, so none is pinged. Handed out
    in turn instead, each of the burst's connections would have idled past
    ``DATABASE_POOL_PING_AFTER`` (1 s) and added its ``SELECT 1``.
    """
    admin_url, log = counting_server
    variant: InstalledVariant = install_variant(EXAMPLE)
    with (
        migrated_database(admin_url, variant) as database,
        variant.serve(tmp_path / "server.log", database.app_url) as app,
    ):

        async def scenario() -> tuple[int, int]:
            async with httpx.AsyncClient(base_url=app.base_url, timeout=10, verify=TLS) as client:
                created = await client.post("/api/items", json={"name": "burst"})
                path = f"/api/items/{created.json()['id']}"
                burst = await asyncio.gather(*(client.get(path) for _ in range(40)))
                assert {response.status_code for response in burst} == {200}
                opened = len(await database.app_backends())

                async def slow_reads() -> None:
                    for _ in range(SLOW_READS):
                        assert (await client.get(path)).status_code == 200
                        await asyncio.sleep(0.2)

                return opened, await statements_while(log, slow_reads)

        opened, statements = asyncio.run(scenario())
        app.assert_clean_log()
    assert opened > 3, opened  # the burst really opened several connections
    assert statements == SLOW_READS, statements
    figure(
        f"a burst of 40 reads left {opened} connections open; {SLOW_READS} reads 0.2 s apart"
        f" then sent {statements} statements (no ping)"
    )


# Concurrent clients per wave: load that rises past the pool, falls, and rises again.
RAMP = [1, 8, 64, 8, 1, 64, 16, 1]


def connection_events(log: Path, database: str, start: int) -> tuple[int, int, list[str]]:
    """Connections to ``database`` opened and closed since byte ``start`` of the log.

    Also every line that is not a statement (connections, errors), for a
    failure message.
    """
    lines = log_lines_since(log, start)
    opened = [
        line
        for line in lines
        if f"connection authorized: user=postgres database={database} " in line
    ]
    closed = [
        line for line in lines if re.search(rf"disconnection: .* database={database} ", line)
    ]
    others = [line for line in lines if "LOG:  " in line and not STATEMENT_LINE.search(line)]
    return len(opened), len(closed), others


def test_rising_and_falling_load_never_closes_a_pooled_connection(
    install_variant, counting_server: tuple[str, Path], tmp_path: Path, figure
) -> None:
    """With the default pool (15, no overflow), a connection opened stays open.

    An overflow connection is closed as soon as it is returned while the pool's
    core sits idle, so a pool with overflow reconnects at every peak; with
    ``DATABASE_POOL_SIZE=5 DATABASE_MAX_OVERFLOW=10`` this test fails.
    """
    admin_url, log = counting_server
    variant: InstalledVariant = install_variant(EXAMPLE)
    with migrated_database(admin_url, variant) as database:
        served_from = log.stat().st_size
        # Queueing is not under test here: a long pool timeout, so that a stalled
        # machine cannot turn the 64-client waves into 503s.
        with variant.serve(
            tmp_path / "server.log", database.app_url, DATABASE_POOL_TIMEOUT="60"
        ) as app:

            async def scenario() -> list[tuple[int, int, list[str]]]:
                # The small waves leave most of a 64-wave's connections idle for
                # seconds: expire them before uvicorn's 5 s keep-alive closes one
                # under a request.
                limits = httpx.Limits(max_connections=max(RAMP), keepalive_expiry=2)
                async with httpx.AsyncClient(
                    base_url=app.base_url, timeout=90, limits=limits, verify=TLS
                ) as client:
                    created = await client.post("/api/items", json={"name": "ramp"})
                    path = f"/api/items/{created.json()['id']}"

                    async def client_session(wave: int, number: int) -> None:
                        for step in range(3):
                            name = f"ramp-{wave}-{number}-{step}"
                            assert (
                                await client.post("/api/items", json={"name": name})
                            ).status_code == 201
                            assert (await client.get(path)).status_code == 200

                    events = []
                    for wave, clients in enumerate(RAMP):
                        start = log.stat().st_size
                        await asyncio.gather(*(client_session(wave, n) for n in range(clients)))
                        await asyncio.sleep(0.3)  # let the server flush its log
                        events.append(connection_events(log, database.name, start))
                    return events

            events = asyncio.run(scenario())
            app.assert_clean_log()
        # Stopped, the app has closed every connection it opened, and the log
        # shows each closing: the count of closings per wave can see one.
        time.sleep(0.3)
        lifetime_opened, lifetime_closed, _ = connection_events(log, database.name, served_from)
    opened = [o for o, _, _ in events]
    closed = [c for _, c, _ in events]
    log_lines = "\n".join(line for _, _, others in events for line in others)
    assert sum(opened) > 3, (opened, log_lines)  # the peaks really needed several connections
    assert sum(opened) <= 15, (opened, log_lines)  # DATABASE_POOL_SIZE
    assert closed == [0] * len(RAMP), (closed, log_lines)
    assert lifetime_closed == lifetime_opened > sum(opened), (lifetime_opened, lifetime_closed)
    figure(
        "connections opened / closed per wave of "
        + ", ".join(f"{c} clients: {o}/{d}" for c, o, d in zip(RAMP, opened, closed, strict=True))
    )
