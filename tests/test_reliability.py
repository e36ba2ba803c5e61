"""Faults against a booted variant on real PostgreSQL: it answers, recovers, loses nothing.

Each test serves the schema variant with the example API (``fastapi run``,
the settings a deployment would set) on a fresh migrated database, injects a
real fault from outside the app, and reports what it measured with ``figure``.
Nothing here adds a route to the product: connections are held by table locks
taken from another connection, and killed with ``pg_terminate_backend``.
"""

import asyncio
import random
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.faults.cluster import ThrowawayCluster
from tests.faults.service import (
    Database,
    InstalledVariant,
    RunningApp,
    migrated_database,
    wait_for,
)
from tests.tools import TLS

pytestmark = pytest.mark.reliability

FAULT_VARIANT = {"python_version": "3.12", "database_schema": "app", "include_example_api": "y"}
# How long a connection returned to the pool proves, to readiness, that the database answers.
READY_RECENT = 1.0 + 0.1
UNAVAILABLE_DETAILS = {
    "Database is busy, try again shortly.",
    "Database is unavailable, try again shortly.",
}


@pytest.fixture(scope="module")
def variant(install_variant) -> InstalledVariant:
    return install_variant(FAULT_VARIANT)


@pytest.fixture
def database(pg_admin_url: str, variant: InstalledVariant):
    with migrated_database(pg_admin_url, variant) as database:
        yield database


def assert_unavailable(response: httpx.Response) -> None:
    """A proper 503: JSON body, Retry-After, no trace."""
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    body = response.json()
    assert body.get("detail") in UNAVAILABLE_DETAILS or body.get("status") == "unavailable"
    assert "Traceback" not in response.text
    assert "sqlalchemy" not in response.text.lower()


async def timed(client: httpx.AsyncClient, method: str, path: str, **kwargs):
    started = time.monotonic()
    response = await client.request(method, path, **kwargs)
    return response, time.monotonic() - started


class TableLock:
    """ACCESS EXCLUSIVE on the items table, from a connection outside the app."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.connection: asyncpg.Connection | None = None
        self.transaction = None

    async def __aenter__(self) -> "TableLock":
        self.connection = await self.database.connect()
        self.transaction = self.connection.transaction()
        await self.transaction.start()
        await self.connection.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.transaction is not None
        assert self.connection is not None
        await self.transaction.rollback()
        await self.connection.close()


async def blocked_on_lock(database: Database, count: int, timeout: float = 10) -> bool:
    """Wait until ``count`` of the app's backends wait on a lock."""

    async def enough() -> bool:
        rows = await database.app_backends()
        return sum(1 for row in rows if row["wait_event_type"] == "Lock") >= count

    return await wait_for(enough, timeout)


# 1. Pool exhaustion ----------------------------------------------------------------------


def test_exhausted_pool_answers_503_within_the_pool_timeout_then_recovers(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    pool_timeout = 1.0
    bound = pool_timeout + 1
    settings = {
        "DATABASE_POOL_SIZE": "2",
        "DATABASE_MAX_OVERFLOW": "0",
        "DATABASE_POOL_TIMEOUT": str(pool_timeout),
        # The holders wait on the lock for the whole test: no deadline may free them.
        "DATABASE_STATEMENT_TIMEOUT": "120",
        "DATABASE_COMMAND_TIMEOUT": "125",
    }
    probes = [
        ("GET", "/api/items", {}),
        ("GET", "/api/items/1", {}),
        ("POST", "/api/items", {"json": {"name": "while-exhausted"}}),
        ("PATCH", "/api/items/1", {"json": {"description": "x"}}),
        ("DELETE", "/api/items/1", {}),
        ("GET", "/health/ready", {}),
    ]

    async def scenario(app: RunningApp) -> tuple[list[float], list[int], float]:
        # Connections left idle by the burst must expire before uvicorn's 5 s
        # keep-alive could close one under a later request.
        limits = httpx.Limits(max_connections=100, keepalive_expiry=2)
        async with httpx.AsyncClient(
            base_url=app.base_url, timeout=60, limits=limits, verify=TLS
        ) as client:
            created = await client.post("/api/items", json={"name": "before"})
            assert created.status_code == 201, created.text
            async with TableLock(database):
                holders = [
                    asyncio.create_task(client.get("/api/items")) for _ in range(2)
                ]  # each holds one of the two pooled connections, waiting on the lock
                assert await blocked_on_lock(database, 2), "the two holders never blocked"
                # Readiness takes a connection returned within the last second as
                # proof that the database answers; from then on none comes back.
                await asyncio.sleep(READY_RECENT)
                # 30 concurrent requests, then 12 one after another.
                burst = await asyncio.gather(
                    *(timed(client, m, p, **kw) for m, p, kw in probes * 5)
                )
                sequential = [await timed(client, m, p, **kw) for m, p, kw in probes * 2]
                live, live_seconds = await timed(client, "GET", "/health/live")
                assert live.status_code == 200
                for response, _ in burst + sequential:
                    assert_unavailable(response)
            held = await asyncio.gather(*holders)
            assert [r.status_code for r in held] == [200, 200]
            after = await asyncio.gather(
                *(client.post("/api/items", json={"name": f"after-{n}"}) for n in range(10)),
                *(client.get("/api/items") for _ in range(10)),
                client.get("/health/ready"),
            )
            statuses = [r.status_code for r in after]
            assert set(statuses) <= {200, 201}, statuses
        return [s for _, s in burst + sequential], statuses, live_seconds

    with variant.serve(tmp_path / "app.log", database.app_url, **settings) as app:
        latencies, recovered, live_seconds = asyncio.run(scenario(app))
        app.assert_clean_log()
    slowest = max(latencies)
    assert slowest <= bound, f"slowest 503 took {slowest:.2f} s, bound {bound} s"
    assert min(latencies) >= pool_timeout * 0.9  # they did wait for the pool, not fail fast
    figure(
        f"pool 2, pool_timeout {pool_timeout:g} s: {len(latencies)} requests while exhausted,"
        f" all 503 + Retry-After in {min(latencies):.2f}-{slowest:.2f} s (bound {bound:g} s);"
        f" /health/live 200 in {live_seconds * 1000:.0f} ms;"
        f" after release {len(recovered)}/{len(recovered)} succeeded"
    )


# 2. Connections killed server-side -------------------------------------------------------


def test_killed_connections_cost_at_most_a_503_and_no_acknowledged_row(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    settings = {"DATABASE_POOL_SIZE": "5", "DATABASE_MAX_OVERFLOW": "0"}
    acknowledged: list[str] = []
    statuses: Counter[int] = Counter()

    async def write(client: httpx.AsyncClient, tag: str) -> int:
        name = f"{tag}-{uuid.uuid4().hex[:12]}"
        response = await client.post("/api/items", json={"name": name})
        statuses[response.status_code] += 1
        if response.status_code == 201:
            assert response.json()["name"] == name
            acknowledged.append(name)
        else:
            assert_unavailable(response)
        return response.status_code

    async def scenario(app: RunningApp) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30, verify=TLS) as client:
            # Between requests: every pooled connection is killed while idle.
            between_failures = killed_between = 0
            for _ in range(5):
                await asyncio.gather(*(write(client, "warm") for _ in range(5)))
                killed_between += await database.terminate_app_backends()
                results = await asyncio.gather(*(write(client, "between") for _ in range(5)))
                between_failures += sum(1 for status in results if status != 201)

            # During requests: 8 writers run while every backend is killed every 100-300 ms.
            stop = asyncio.Event()
            kills = killed_during = 0

            async def writer() -> None:
                while not stop.is_set():
                    await write(client, "during")

            async def killer() -> None:
                nonlocal kills, killed_during
                while not stop.is_set():
                    await asyncio.sleep(random.uniform(0.1, 0.3))
                    killed_during += await database.terminate_app_backends()
                    kills += 1

            before = statuses.copy()
            tasks = [asyncio.create_task(writer()) for _ in range(8)]
            tasks.append(asyncio.create_task(killer()))
            await asyncio.sleep(6)
            stop.set()
            await asyncio.gather(*tasks)
            during = statuses - before

            # Afterwards: every request succeeds again.
            final = await asyncio.gather(*(write(client, "after") for _ in range(20)))
        return {
            "between_failures": between_failures,
            "killed_between": killed_between,
            "kills": kills,
            "killed_during": killed_during,
            "during_201": during.get(201, 0),
            "during_503": during.get(503, 0),
            "after_failures": sum(1 for status in final if status != 201),
        }

    with variant.serve(tmp_path / "app.log", database.app_url, **settings) as app:
        result = asyncio.run(scenario(app))
        app.assert_clean_log()
    names = asyncio.run(database.item_names())
    present = Counter(names)
    lost = [name for name in acknowledged if present[name] != 1]
    unacknowledged = len(names) - len(acknowledged)
    assert set(statuses) <= {201, 503}, statuses
    assert result["between_failures"] == 0, result
    assert result["after_failures"] == 0, result
    assert result["killed_during"] > 0
    assert not lost, f"acknowledged but not present exactly once: {lost[:10]}"
    assert len(names) == len(set(names))
    figure(
        f"between requests: {result['killed_between']} idle connections killed in 5 rounds,"
        " next 25 requests 0 failed (liveness check on checkout);"
        f" during: {result['kills']} kill rounds"
        f" ({result['killed_during']} backends) under 8 writers,"
        f" {result['during_201'] + result['during_503']} requests ="
        f" {result['during_201']} x 201 + {result['during_503']} x 503, 0 other;"
        f" rows acknowledged {len(acknowledged)}, present {len(names)}, lost 0,"
        f" committed-but-unacknowledged {unacknowledged}; then 20/20 succeeded"
    )


# 3. Database down and back ---------------------------------------------------------------


def test_database_down_and_back_without_restarting_the_app(
    variant: InstalledVariant, tmp_path: Path, figure
) -> None:
    cluster = ThrowawayCluster()
    try:
        cluster.start()
        with migrated_database(cluster.admin_url, variant) as database:
            settings = {
                "DATABASE_POOL_SIZE": "3",
                "DATABASE_MAX_OVERFLOW": "0",
                "DATABASE_POOL_TIMEOUT": "2",
                "DATABASE_CONNECT_TIMEOUT": "2",
            }
            with variant.serve(tmp_path / "app.log", database.app_url, **settings) as app:
                figures = asyncio.run(down_and_back(app, cluster))
                app.assert_clean_log()
            assert sorted(asyncio.run(database.item_names())) == ["after", "before"]
    finally:
        cluster.destroy()
    figure(
        f"while down: {figures['ready']} x /health/ready 503 and {figures['writes']} x writes 503"
        f" in at most {figures['slowest']:.2f} s (bound 3 s), /health/live 200;"
        f" back: ready again {figures['recovery']:.2f} s after the server accepted"
        f" connections, same process (pid {figures['pid']})"
    )


async def down_and_back(app: RunningApp, cluster: ThrowawayCluster) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30, verify=TLS) as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.post("/api/items", json={"name": "before"})).status_code == 201
        await asyncio.to_thread(cluster.stop, "fast")
        await asyncio.sleep(READY_RECENT)  # past what the last returned connection proves
        slowest = 0.0
        ready_503 = writes_503 = 0
        for n in range(10):
            ready, seconds = await timed(client, "GET", "/health/ready")
            assert_unavailable(ready)
            ready_503 += 1
            write, write_seconds = await timed(
                client, "POST", "/api/items", json={"name": f"down-{n}"}
            )
            assert_unavailable(write)
            writes_503 += 1
            live = await client.get("/health/live")
            assert live.status_code == 200
            slowest = max(slowest, seconds, write_seconds)
        assert slowest <= 3
        await asyncio.to_thread(cluster.start)
        back = time.monotonic()

        async def ready() -> bool:
            return (await client.get("/health/ready")).status_code == 200

        assert await wait_for(ready, timeout=30, interval=0.1)
        recovery = time.monotonic() - back
        assert (await client.post("/api/items", json={"name": "after"})).status_code == 201
    assert app.process.poll() is None
    return {
        "ready": ready_503,
        "writes": writes_503,
        "slowest": slowest,
        "recovery": recovery,
        "pid": app.pid,
    }


# 4. Cancellation storm -------------------------------------------------------------------


def test_a_storm_of_disconnecting_clients_leaks_no_connection(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    pool_size, max_overflow, storm = 3, 2, 1000
    settings = {
        "DATABASE_POOL_SIZE": str(pool_size),
        "DATABASE_MAX_OVERFLOW": str(max_overflow),
        "DATABASE_POOL_TIMEOUT": "2",
    }

    async def scenario(app: RunningApp) -> dict[str, int]:
        host, port = app.base_url.removeprefix("http://").split(":")
        seen_backends = seen_waiting = 0
        stop = asyncio.Event()

        async def hang_up(n: int) -> None:
            kind = n % 4
            if kind == 0:
                body = f'{{"name": "storm-{n}"}}'.encode()
                request = (
                    f"POST /api/items HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
            else:
                path = ["/api/items?limit=50", f"/api/items/{n % 7 + 1}", "/health/ready"][
                    kind - 1
                ]
                request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            await writer.drain()
            await asyncio.sleep(random.uniform(0, 0.05))
            if n % 2:
                writer.transport.abort()  # a reset, as from a crashed client
            else:
                writer.close()  # an orderly close before the answer
            del reader

        async def locker() -> None:
            # Holds the table most of the time, so many requests are mid-query
            # (waiting on the lock) when their clients leave.
            while not stop.is_set():
                async with TableLock(database):
                    await asyncio.sleep(0.15)
                await asyncio.sleep(0.05)

        async def watch() -> None:
            nonlocal seen_backends, seen_waiting
            while not stop.is_set():
                rows = await database.app_backends()
                seen_backends = max(seen_backends, len(rows))
                waiting = sum(1 for row in rows if row["wait_event_type"] == "Lock")
                seen_waiting = max(seen_waiting, waiting)
                await asyncio.sleep(0.05)

        background = [asyncio.create_task(locker()), asyncio.create_task(watch())]
        gate = asyncio.Semaphore(50)

        async def one(n: int) -> None:
            async with gate:
                await hang_up(n)

        await asyncio.gather(*(one(n) for n in range(storm)))
        stop.set()
        await asyncio.gather(*background)

        # The app may still be serving requests its clients left: wait until its
        # backends are idle and stay unchanged for a second. ("Idle" alone is
        # not enough: a read in autocommit is idle between its statements.)
        last: list[tuple[object, ...]] = []

        async def settled() -> bool:
            nonlocal last
            rows = await database.app_backends()
            snapshot = sorted((row["pid"], row["state"], row["state_change"]) for row in rows)
            done = snapshot == last and all(row["state"] == "idle" for row in rows)
            last = snapshot
            return done

        assert await wait_for(settled, timeout=60, interval=1.0), last
        left = len(last)

        # Nothing checked out: every one of the pool's connections can be taken again.
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30, verify=TLS) as client:
            async with TableLock(database):
                held = [
                    asyncio.create_task(client.get("/api/items"))
                    for _ in range(pool_size + max_overflow)
                ]
                all_free = await blocked_on_lock(database, pool_size + max_overflow)
            statuses = [r.status_code for r in await asyncio.gather(*held)]
        assert all_free, "some connection stayed checked out after the storm"
        assert statuses == [200] * (pool_size + max_overflow), statuses
        return {"seen": seen_backends, "waiting": seen_waiting, "left": left}

    with variant.serve(tmp_path / "app.log", database.app_url, **settings) as app:
        result = asyncio.run(scenario(app))
        log = app.assert_clean_log()
    assert result["seen"] <= pool_size + max_overflow, result
    assert result["left"] <= pool_size, result
    assert result["waiting"] > 0, "no query was running when clients left"
    figure(
        f"{storm} requests whose clients hung up after 0-50 ms (half reset, half closed),"
        f" while a lock kept up to {result['waiting']} queries waiting:"
        f" at most {result['seen']} app backends"
        f" (pool {pool_size} + overflow {max_overflow}), {result['left']} left idle afterwards"
        f" (pool size {pool_size}), {pool_size + max_overflow}/{pool_size + max_overflow}"
        f" connections free to check out, 0 leak warnings in {len(log.splitlines())} log lines"
    )


# 6. Concurrent writers -------------------------------------------------------------------


def test_200_concurrent_writers_on_a_small_pool_each_write_present_once(
    variant: InstalledVariant, database: Database, tmp_path: Path, figure
) -> None:
    writers = 200
    settings = {"DATABASE_POOL_SIZE": "5", "DATABASE_MAX_OVERFLOW": "0"}

    async def scenario(app: RunningApp) -> tuple[list[httpx.Response], float]:
        limits = httpx.Limits(max_connections=writers)
        async with httpx.AsyncClient(
            base_url=app.base_url, timeout=60, limits=limits, verify=TLS
        ) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.post("/api/items", json={"name": f"writer-{n}"}) for n in range(writers))
            )
            return list(responses), time.monotonic() - started

    with variant.serve(tmp_path / "app.log", database.app_url, **settings) as app:
        responses, seconds = asyncio.run(scenario(app))
        app.assert_clean_log()
    statuses = Counter(r.status_code for r in responses)
    acknowledged = [r.json()["name"] for r in responses if r.status_code == 201]
    ids = [r.json()["id"] for r in responses if r.status_code == 201]
    names = asyncio.run(database.item_names())
    assert statuses == {201: writers}, statuses
    assert sorted(names) == sorted(acknowledged)
    assert len(set(ids)) == len(ids) == writers
    figure(
        f"{writers} concurrent writers on a pool of 5: {statuses[201]} acknowledged,"
        f" {len(names)} rows, each exactly once, in {seconds:.2f} s"
    )
