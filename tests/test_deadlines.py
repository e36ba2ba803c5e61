"""Every request has a deadline: a frozen network, a slow query, a too-slow statement.

Each test serves a variant (``fastapi run``, default deadlines unless said) on
a fresh migrated database and measures how long every answer took:

- a frozen network: the app reaches PostgreSQL through a relay that the test
  freezes (connections stay open, nothing answers, nothing is reset) while 20
  API requests, 2 readiness probes and a liveness probe are in flight; then
  the relay resumes and 20 more requests must all succeed;
- a slow query on a healthy server (a table lock held from another
  connection): PostgreSQL's ``statement_timeout`` cancels it;
- the client's own bound (``command_timeout``) on a statement whose answer
  never comes (the network frozen for that one request): the statement fails
  at the client's deadline and its connection is closed, not pooled.
"""

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.faults.relay import Relay
from tests.faults.service import Database, InstalledVariant, migrated_database, wait_for
from tests.test_reliability import READY_RECENT, TableLock, assert_unavailable
from tests.tools import TLS

pytestmark = pytest.mark.reliability

DEADLINE_VARIANTS = {
    "default": {"python_version": "3.12", "include_example_api": "y"},
    "schema": {"python_version": "3.12", "include_example_api": "y", "database_schema": "app"},
}
# The generated defaults (config.py), in seconds.
POOL_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 4.0
READY_TIMEOUT = 2.0
# The documented bound of a request during a partition: a pool slot, then one
# connect or one statement; plus scheduling slack on a loaded 2-core machine.
PARTITION_BOUND = POOL_TIMEOUT + max(CONNECT_TIMEOUT, COMMAND_TIMEOUT) + 2.0
SLACK = 1.5


@pytest.fixture(params=list(DEADLINE_VARIANTS), ids=list(DEADLINE_VARIANTS))
def variant(request, install_variant) -> InstalledVariant:
    return install_variant(DEADLINE_VARIANTS[request.param])


@pytest.fixture
def database(pg_admin_url: str, variant: InstalledVariant):
    with migrated_database(pg_admin_url, variant) as database:
        yield database


def through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the relay's."""
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{port}"))


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response | None, float]:
    started = time.monotonic()
    try:
        response = await client.get(path)
    except httpx.TimeoutException:
        response = None
    return response, time.monotonic() - started


async def later_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response | None, float]:
    """``timed_get`` once readiness can no longer lean on the last returned connection."""
    await asyncio.sleep(READY_RECENT)
    return await timed_get(client, path)


async def stuck_backends(database: Database) -> list[asyncpg.Record]:
    """App backends that are neither idle nor gone."""
    return [b for b in await database.app_backends() if b["state"] != "idle"]


def test_a_frozen_network_costs_a_bounded_wait_and_recovers(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    target = urlsplit(database.plain_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    relay.start()
    try:
        url = through(database.app_url, relay.port)
        with variant.serve(tmp_path / "server.log", url) as app:

            async def scenario():
                # Requests answered at 5 s leave their connections idle until the
                # last answer near 10 s, about uvicorn's 5 s keep-alive: the
                # client must not reuse one the server may be closing just then.
                async with httpx.AsyncClient(
                    base_url=app.base_url,
                    timeout=40,
                    headers=variant.headers,
                    limits=httpx.Limits(keepalive_expiry=2),
                    verify=TLS,
                ) as client:
                    for _ in range(3):
                        assert (await client.get("/api/items")).status_code == 200
                    with relay.frozen():
                        during = await asyncio.gather(
                            *(timed_get(client, "/api/items") for _ in range(20)),
                            *(later_get(client, "/health/ready") for _ in range(2)),
                            timed_get(client, "/health/live"),
                        )
                    after = await asyncio.gather(
                        *(timed_get(client, "/api/items") for _ in range(20))
                    )
                    settled = await wait_for(
                        lambda: _none_stuck(database), timeout=STATEMENT_TIMEOUT + 10
                    )
                    return during, after, settled

            during, after, settled = asyncio.run(scenario())
            log = app.assert_clean_log()
    finally:
        relay.stop()

    api, ready, live = during[:20], during[20:22], during[22]
    for response, _ in api:
        assert response is not None, "a request hung past the client's 40 s"
        assert_unavailable(response)
    api_seconds = [seconds for _, seconds in api]
    assert max(api_seconds) <= PARTITION_BOUND, api_seconds
    for response, seconds in ready:
        assert response is not None
        assert response.status_code == 503
        assert seconds <= READY_TIMEOUT + SLACK
    assert live[0] is not None
    assert live[0].status_code == 200
    assert live[1] < 1.0
    assert [r.status_code for r, _ in after if r is not None] == [200] * 20
    assert settled, "a backend stayed active or idle in transaction"
    assert "Traceback" not in log
    figure(
        f"frozen: 20 API requests 503 in {min(api_seconds):.1f}-{max(api_seconds):.1f} s"
        f" (bound {PARTITION_BOUND:g} s), ready 503 in {max(s for _, s in ready):.1f} s,"
        f" live 200 in {live[1] * 1000:.0f} ms; after thaw 20/20 OK, no backend stuck"
    )


async def _none_stuck(database: Database) -> bool:
    return not await stuck_backends(database)


def test_a_slow_query_is_cancelled_by_the_server_deadline(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    with variant.serve(tmp_path / "server.log", database.app_url) as app:

        async def scenario():
            async with (
                TableLock(database),
                httpx.AsyncClient(
                    base_url=app.base_url, timeout=30, headers=variant.headers, verify=TLS
                ) as client,
            ):
                blocked = await timed_get(client, "/api/items")
            async with httpx.AsyncClient(
                base_url=app.base_url, timeout=30, headers=variant.headers, verify=TLS
            ) as client:
                return blocked, await client.get("/api/items")

        (response, seconds), after = asyncio.run(scenario())
        log = app.assert_clean_log()
    assert response is not None
    assert_unavailable(response)
    assert STATEMENT_TIMEOUT - 0.5 <= seconds <= STATEMENT_TIMEOUT + SLACK, seconds
    assert after.status_code == 200
    assert "QueryCanceledError" in log or "statement timeout" in log
    figure(f"lock wait cut by statement_timeout {STATEMENT_TIMEOUT:g} s: 503 in {seconds:.2f} s")


def test_a_statement_past_the_client_deadline_drops_its_connection(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    # The server's own deadline must be the shorter (the settings refuse otherwise), so
    # the statement never reaches it: the network to the server freezes mid-request.
    target = urlsplit(database.plain_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    relay.start()
    settings = {"DATABASE_COMMAND_TIMEOUT": "2", "DATABASE_STATEMENT_TIMEOUT": "1"}
    try:
        url = through(database.app_url, relay.port)
        with variant.serve(tmp_path / "server.log", url, **settings) as app:

            async def scenario():
                async with httpx.AsyncClient(
                    base_url=app.base_url, timeout=30, headers=variant.headers, verify=TLS
                ) as client:
                    assert (await client.get("/api/items")).status_code == 200
                    before = {b["pid"] for b in await database.app_backends()}
                    with relay.frozen():
                        blocked = await timed_get(client, "/api/items")
                    # Its connection was closed, not kept for the pool: its backend ends.
                    dropped = await wait_for(lambda: _gone(database, before), timeout=10)
                    return blocked, dropped, await client.get("/api/items")

            (response, seconds), dropped, after = asyncio.run(scenario())
            app.assert_clean_log()
    finally:
        relay.stop()
    assert response is not None
    assert_unavailable(response)
    assert 2.0 - 0.2 <= seconds <= 2.0 + SLACK, seconds
    assert dropped, "the timed-out connection's backend is still there"
    assert after.status_code == 200
    figure(f"client command_timeout 2 s: 503 in {seconds:.2f} s, its backend ended")


async def _gone(database: Database, before: set[int]) -> bool:
    return not before <= {b["pid"] for b in await database.app_backends()}
