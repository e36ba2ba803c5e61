"""Scaling out: several workers, a checked connection budget, PgBouncer in transaction mode.

Variants are served with two workers (``WEB_CONCURRENCY=2``, the variable the
image sets) through a real PgBouncer 1.18 in transaction mode, with
``DATABASE_POOLER=pgbouncer``: migrations, a CRUD round trip, 1,000 mixed
requests at 64 connections, then the tests of each variant's own suite that
reach the database, all through PgBouncer. Which worker served is read from
the kernel: each worker process must own its own connections to PgBouncer (a
pool per lifespan, none shared across the fork). The budget check refuses to
start a production server whose pools do not fit the real server's
``max_connections``.
"""

import asyncio
import random
import re
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.faults.pgbouncer import PgBouncer
from tests.faults.roles import compose_roles
from tests.faults.service import InstalledVariant, free_port
from tests.test_boot import crud_round_trip, tables_by_schema
from tests.tools import TLS, clean_env, uv_bin

pytestmark = pytest.mark.reliability

SCALING_VARIANTS = {
    "default": {"python_version": "3.12", "include_example_api": "y"},
    "schema": {"python_version": "3.12", "include_example_api": "y", "database_schema": "app"},
    "tenant": {
        "python_version": "3.12",
        "include_example_api": "y",
        "tenancy": "schema-per-tenant",
    },
}
TENANTS = ["acme", "globex"]
REQUESTS = 1000
CONNECTIONS = 64


@pytest.fixture(scope="module")
def pgbouncer(pg_admin_url: str):
    bouncer = PgBouncer(pg_admin_url)  # skipped (failed under CI) without PgBouncer
    bouncer.start()
    yield bouncer
    bouncer.stop()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split()
            found += map(int, children)
            todo += map(int, children)
    return found


def connections_to(pid: int, port: int) -> int:
    """TCP connections process ``pid`` holds to 127.0.0.1:``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        target = fd.readlink().as_posix() if fd.is_symlink() else ""
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(match.group(1))
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[9] in inodes:
            count += 1
    return count


async def mixed_load(
    base_url: str, tenants: list[str | None], figure_name: str
) -> tuple[Counter[int], dict[str | None, list[str]], float, Counter[str]]:
    """``REQUESTS`` reads and writes over ``CONNECTIONS`` connections.

    Returns the statuses, the acknowledged names, the seconds taken and the
    requests sent again on a new connection.
    """
    rng = random.Random(20261127)
    acknowledged: dict[str | None, list[str]] = {tenant: [] for tenant in tenants}
    ids: dict[str | None, list[int]] = {tenant: [] for tenant in tenants}
    statuses: Counter[int] = Counter()
    reconnects: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(REQUESTS):
        queue.put_nowait(number)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            tenant = tenants[number % len(tenants)]
            headers = {"X-Tenant": tenant} if tenant else {}
            choice = rng.random()
            if choice < 0.4 or not ids[tenant]:
                name = f"{figure_name}-{number}-{uuid.uuid4().hex[:8]}"
                response = await post(client, name, headers)
                if response.status_code == 201:
                    acknowledged[tenant].append(name)
                    ids[tenant].append(response.json()["id"])
            elif choice < 0.8:
                item = rng.choice(ids[tenant])
                response = await get(client, f"/api/items/{item}", headers)
            else:
                response = await get(client, "/api/items?limit=20", headers)
            statuses[response.status_code] += 1

    async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
        """A read, sent again once if its kept-alive connection was closed under it."""
        try:
            return await client.get(path, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            reconnects["reads"] += 1
            return await client.get(path, headers=headers)

    async def post(
        client: httpx.AsyncClient, name: str, headers: dict[str, str]
    ) -> httpx.Response:
        """A write, sent again once if its kept-alive connection was closed under it.

        uvicorn closes a connection idle for 5 s; a test starved of CPU for that
        long sends its next request as the server closes. The server never read
        that one; had it stored it, the retry's 409 would leave a row nobody
        acknowledged, and the check of the table would fail.
        """
        try:
            return await client.post("/api/items", json={"name": name}, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            reconnects["writes"] += 1
            return await client.post("/api/items", json={"name": name}, headers=headers)

    async def connection() -> None:
        # A client per connection: one pool of 64 costs this process 3x the CPU per request.
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1), verify=TLS
        ) as client:
            await worker(client)

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return statuses, acknowledged, time.monotonic() - started, reconnects


async def names_in(url: str, schema: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f'SELECT name FROM "{schema}".items')
    finally:
        await connection.close()
    return [row["name"] for row in rows]


@pytest.mark.parametrize("name", list(SCALING_VARIANTS))
def test_two_workers_through_pgbouncer_transaction_mode(
    name: str, install_variant, pg_admin_url: str, pgbouncer: PgBouncer, tmp_path: Path, figure
) -> None:
    variant: InstalledVariant = install_variant(SCALING_VARIANTS[name])
    tenants: list[str | None] = list(TENANTS) if variant.tenant else [None]
    settings = {"DATABASE_POOLER": "pgbouncer", "WEB_CONCURRENCY": "2"}
    if variant.tenant:
        settings["TENANTS"] = ",".join(TENANTS)
    database = postgres.create_database(pg_admin_url)
    direct = postgres.with_database(pg_admin_url, database)
    through = pgbouncer.url(database, driver="postgresql+asyncpg")
    try:
        variant.run("alembic", "upgrade", "head", DATABASE_URL=through, **settings)
        with variant.serve(tmp_path / "server.log", through, **settings) as app:
            app.wait_for_workers(2)  # else the load's connections may all go to the first
            crud_round_trip(app.base_url, {"X-Tenant": TENANTS[0]} if variant.tenant else {})
            statuses, acknowledged, seconds, reconnects = asyncio.run(
                mixed_load(app.base_url, tenants, name)
            )
            workers = [
                pid for pid in descendants(app.pid) if connections_to(pid, pgbouncer.port) > 0
            ]
            log = app.assert_clean_log()
        assert log.count("Application shutdown complete") == 2, log

        assert sum(statuses.values()) == REQUESTS
        assert sum(reconnects.values()) < REQUESTS // 100, reconnects  # a rare race, no more
        assert not [s for s in statuses if s >= 500], statuses
        assert "prepared statement" not in log
        assert "prepared statement" not in pgbouncer.log()
        assert len(workers) == 2, "both workers must hold their own connections"

        schemas = [f"tenant_{t}" for t in TENANTS] if variant.tenant else [variant.schema]
        tables = asyncio.run(tables_by_schema(direct))
        assert tables == {schema: {"alembic_version", "items"} for schema in schemas}
        for tenant, schema in zip(tenants, schemas, strict=True):
            present = asyncio.run(names_in(direct, schema))
            written = [n for n in present if n != "boot"]
            assert sorted(written) == sorted(acknowledged[tenant]), schema
            assert len(set(written)) == len(written)

        # Made on the server: through PgBouncer, a login to a database that did not
        # exist yet is retried only after server_login_retry (15 s).
        postgres.create_database(pg_admin_url, f"{database}_test")
        # Its tests that reach the database (`-m database`): the others never meet PgBouncer.
        suite = variant.run(
            "pytest", "-q", "-p", "no:cacheprovider", "-m", "database",
            TEST_DATABASE_URL=pgbouncer.url(f"{database}_test", driver="postgresql+asyncpg"),
            **{k: v for k, v in settings.items() if k != "WEB_CONCURRENCY"},
        )  # fmt: skip
        assert " passed" in suite.stdout
        assert " failed" not in suite.stdout
    finally:
        postgres.drop_database(pg_admin_url, f"{database}_test")
        postgres.drop_database(pg_admin_url, database)
    writes = sum(len(names) for names in acknowledged.values())
    own_suite = suite.stdout.splitlines()[-1]
    figure(
        f"{REQUESTS} requests at {CONNECTIONS} connections in {seconds:.1f} s through PgBouncer"
        f" (2 workers): {dict(sorted(statuses.items()))}, {writes} writes acknowledged and"
        f" present once each, 0 prepared-statement errors, {dict(reconnects) or 'none'} sent"
        f" again on a new connection; own suite: {own_suite}"
    )


@pytest.mark.parametrize("environment", ["production", "development"])
def test_an_over_budget_server_refuses_in_production_and_warns_in_development(
    environment: str, install_variant, pg_admin_url: str, fresh_database: str, tmp_path: Path
) -> None:
    variant: InstalledVariant = install_variant(SCALING_VARIANTS["default"])
    # As in the compose stack: migrations as the owner, the app as its own role, no superuser
    # (so the superuser_reserved_connections the budget leaves out stay out of its reach).
    with compose_roles(variant.project, pg_admin_url, fresh_database, tmp_path) as roles:
        variant.migrate(roles.url(pg_admin_url, fresh_database, roles.owner))
        url = roles.url(pg_admin_url, fresh_database, roles.app, password="not-a-default-secret")
        env = {
            "DATABASE_URL": url,
            "ENVIRONMENT": environment,
            "DATABASE_ALLOW_PLAINTEXT": "true",  # the test server speaks no TLS
            "WEB_CONCURRENCY": "2",
            "DATABASE_POOL_SIZE": "60",
            "DATABASE_MAX_OVERFLOW": "10",
        }
        port = free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [uv_bin(), "run", "--no-sync", "fastapi", "run", "--port", str(port)],
                cwd=variant.project,
                env=clean_env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            if environment == "production":
                # It stops without serving. (uvicorn's supervisor exits 0 once a worker
                # failed to start; a single worker exits 3.)
                process.wait(timeout=60)
                with pytest.raises(httpx.TransportError):
                    httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2, verify=TLS)
            else:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2, verify=TLS)
                        break
                    except httpx.TransportError:
                        time.sleep(0.2)
                ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5, verify=TLS)
                assert ready.status_code == 200
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert (
        "connection budget exceeded: primary: 2 workers (WEB_CONCURRENCY) x 1 replicas" in text
    ), text
    assert "x 70 (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW) = 140 connections" in text, text
    assert ("Application startup failed" in text) is (environment == "production"), text
