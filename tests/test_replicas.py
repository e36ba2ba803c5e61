"""Read replicas, failover and concurrent migrations, on PostgreSQL's own streaming replication.

Each test makes its own primary and ``pg_basebackup -R`` standby on loopback
(``tests/faults/replication.py``), migrates on the primary and serves a variant
with ``DATABASE_URL`` listing both hosts in libpq's form, the way DBAs and
providers hand it out. Reads are counted on the servers, from their own
statement logs. Failovers run under 8 concurrent writers with the default
settings: every answer is kept, and every acknowledged write is looked for on
the server that took over.
"""

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.faults.replication import ReplicatedPair
from tests.faults.service import InstalledVariant, RunningApp
from tests.tools import TLS, clean_env

pytestmark = pytest.mark.reliability

VARIANTS = {
    "default": {},
    "schema": {"database_schema": "app"},
    "tenant": {"tenancy": "schema-per-tenant"},
}
WRITERS = 8
RECOVERY_BOUND = 10.0
RUNNERS = 3
ITEM_READ = re.compile(r"(statement|execute [^:]*): SELECT items\.id")


@pytest.fixture
def pair():
    """A primary and its standby, both logging every statement they run."""
    made = ReplicatedPair(log_statement="all")
    yield made
    made.destroy()


def urls(variant: InstalledVariant, pair: ReplicatedPair) -> tuple[str, str]:
    """DATABASE_URL (both hosts, libpq's form) and DATABASE_REPLICA_URL (the standby)."""
    hosts = f"127.0.0.1:{pair.primary.port},127.0.0.1:{pair.standby.port}"
    return (
        f"postgresql://postgres@{hosts}/postgres",
        f"postgresql://postgres@127.0.0.1:{pair.standby.port}/postgres",
    )


def item_reads(log: Path, since: int) -> int:
    """Reads of an item the server logged after byte ``since`` of its log."""
    with log.open("rb") as text:
        text.seek(since)
        return len(ITEM_READ.findall(text.read().decode(errors="replace")))


def wait_until_standby_serves(app: RunningApp, timeout: float = 10) -> dict[str, object]:
    """Readiness once every standby reports ``ok``; fail if one does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        ready = httpx.get(f"{app.base_url}/health/ready", timeout=5, verify=TLS).json()
        replicas = ready.get("replicas") or {}
        if replicas and all(state.startswith("ok") for state in replicas.values()):
            return ready
        assert time.monotonic() < deadline, f"no standby serves reads: {ready}"
        time.sleep(0.1)


def test_reads_go_to_the_standby_and_writes_to_the_primary(
    install_variant, pair: ReplicatedPair, tmp_path: Path, figure
) -> None:
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    database_url, replica_url = urls(variant, pair)
    variant.migrate(database_url)
    # The routing, not the lag bound, is under test: a slow poll on a busy machine
    # must not send a read to the primary.
    settings = {"DATABASE_REPLICA_URL": replica_url, "DATABASE_REPLICA_MAX_LAG": "30"}
    with variant.serve(tmp_path / "app.log", database_url, **settings) as app:
        ready = wait_until_standby_serves(app)
        assert ready["status"] == "ok", ready
        created = httpx.post(
            f"{app.base_url}/api/items", json={"name": "replicated"}, timeout=10, verify=TLS
        )
        assert created.status_code == 201, created.text
        pair.wait_until_caught_up()
        offsets = {name: cluster.log.stat().st_size for name, cluster in pair.clusters.items()}
        statuses = Counter(
            httpx.get(
                f"{app.base_url}/api/items/{created.json()['id']}", timeout=10, verify=TLS
            ).status_code
            for _ in range(100)
        )
        app.assert_clean_log()
    served = {
        name: item_reads(cluster.log, offsets[name]) for name, cluster in pair.clusters.items()
    }
    assert statuses == {200: 100}
    assert served == {"primary": 0, "standby": 100}, served
    figure(
        "100 reads by id from a client without a write:"
        f" standby ran {served['standby']}, primary {served['primary']}"
    )


def test_a_read_after_a_write_finds_it_with_the_standby_10_s_behind(
    install_variant, pair: ReplicatedPair, tmp_path: Path, figure
) -> None:
    """The lag bound is raised to 60 s, so only read-your-writes keeps the reads right."""
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    database_url, replica_url = urls(variant, pair)
    variant.migrate(database_url)
    pair.wait_until_caught_up()
    pair.hold_standby_back(10)
    settings = {"DATABASE_REPLICA_URL": replica_url, "DATABASE_REPLICA_MAX_LAG": "60"}
    with variant.serve(tmp_path / "app.log", database_url, **settings) as app:
        wait_until_standby_serves(app)
        with httpx.Client(
            base_url=app.base_url, timeout=10, verify=TLS
        ) as client:  # keeps its cookies
            same_client = [read_after_write(client, client) for _ in range(20)]
        with httpx.Client(base_url=app.base_url, timeout=10, verify=TLS) as writer:
            other_client = [
                read_after_write(
                    writer, httpx.Client(base_url=app.base_url, timeout=10, verify=TLS)
                )
                for _ in range(20)
            ]
        app.assert_clean_log()
    assert same_client == [200] * 20
    # The control: a client that did not write reads from the standby, 10 s behind.
    assert other_client.count(404) >= 15, other_client
    figure(
        f"standby 10 s behind, lag bound 60 s: read right after its own write found 20/20;"
        f" read by another client found {other_client.count(200)}/20 (the standby's)"
    )


def read_after_write(writer: httpx.Client, reader: httpx.Client) -> int:
    created = writer.post("/api/items", json={"name": f"ryw-{uuid.uuid4().hex[:12]}"})
    assert created.status_code == 201, created.text
    return reader.get(f"/api/items/{created.json()['id']}").status_code


def test_a_standby_that_is_down_is_skipped_without_an_error(
    install_variant, pair: ReplicatedPair, tmp_path: Path, figure
) -> None:
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    database_url, replica_url = urls(variant, pair)
    variant.migrate(database_url)
    settings = {"DATABASE_REPLICA_URL": replica_url, "DATABASE_REPLICA_MAX_LAG": "30"}
    with variant.serve(tmp_path / "app.log", database_url, **settings) as app:
        wait_until_standby_serves(app)
        created = httpx.post(
            f"{app.base_url}/api/items", json={"name": "kept"}, timeout=10, verify=TLS
        )
        pair.wait_until_caught_up()
        read = f"{app.base_url}/api/items/{created.json()['id']}"
        before = pair.standby.log.stat().st_size
        assert httpx.get(read, timeout=10, verify=TLS).status_code == 200
        assert item_reads(pair.standby.log, before) == 1, "the standby served no read first"
        pair.standby.stop()
        statuses = Counter(httpx.get(read, timeout=10, verify=TLS).status_code for _ in range(50))
        ready = httpx.get(f"{app.base_url}/health/ready", timeout=10, verify=TLS)
        text = app.stop()
    assert statuses == {200: 50}, statuses
    assert ready.status_code == 200
    assert list(ready.json()["replicas"].values()) == ["skipped"]
    skipped = [line for line in text.splitlines() if "skipped:" in line]
    assert skipped, text
    assert "Traceback" not in text
    figure(
        f"standby stopped after serving reads: 50 reads, {dict(statuses)}; readiness 200,"
        f" replica skipped, logged once: {skipped[0].split('skipped: ', 1)[1]}"
    )


@dataclass
class Writes:
    """Every answer of a failover run, with when it came."""

    answers: list[tuple[float, int]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)


async def write_until(
    app: RunningApp, writes: Writes, stop: asyncio.Event, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(
        base_url=app.base_url, timeout=30, headers=headers, verify=TLS
    ) as client:
        while not stop.is_set():
            name = f"fo-{uuid.uuid4().hex[:16]}"
            response = await client.post("/api/items", json={"name": name})
            writes.answers.append((time.monotonic(), response.status_code))
            if response.status_code == 201:
                writes.acknowledged.append(name)
            else:
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"].isdigit()


async def fail_over(
    app: RunningApp, pair: ReplicatedPair, how: str, headers: dict[str, str]
) -> tuple[Writes, float]:
    """Writers run; the primary is fenced or stopped; the standby is promoted. When was that?"""
    writes, stop = Writes(), asyncio.Event()
    writers = [
        asyncio.create_task(write_until(app, writes, stop, headers)) for _ in range(WRITERS)
    ]
    await asyncio.sleep(1)
    if how == "fenced":
        await asyncio.to_thread(pair.fence_primary)
        await asyncio.to_thread(pair.wait_until_caught_up)
    else:
        await asyncio.to_thread(pair.primary.stop)
    await asyncio.to_thread(pair.standby.promote)
    promoted_at = time.monotonic()
    while time.monotonic() - promoted_at < RECOVERY_BOUND + 2:
        await asyncio.sleep(0.2)
        recovered = [at for at, status in writes.answers if status == 201 and at > promoted_at]
        if recovered and time.monotonic() - recovered[0] > 1:
            break
    stop.set()
    await asyncio.gather(*writers)
    return writes, promoted_at


@pytest.mark.parametrize("how", ["fenced", "stopped"])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_writes_move_to_the_promoted_standby_with_503s_only(
    install_variant, pair: ReplicatedPair, tmp_path: Path, figure, name: str, how: str
) -> None:
    variant: InstalledVariant = install_variant(VARIANTS[name])
    database_url, _ = urls(variant, pair)
    variant.migrate(database_url)
    with variant.serve(tmp_path / "app.log", database_url) as app:
        writes, promoted_at = asyncio.run(fail_over(app, pair, how, variant.headers))
        text = app.stop()
    statuses = Counter(status for _, status in writes.answers)
    after = [at for at, status in writes.answers if status == 201 and at > promoted_at]
    assert set(statuses) <= {201, 503}, statuses
    assert after, f"no write succeeded after the promotion: {statuses}"
    recovery = after[0] - promoted_at
    assert recovery <= RECOVERY_BOUND, recovery
    stored = asyncio.run(names_on(pair.url(pair.standby), variant.schema))
    missing = [n for n in writes.acknowledged if n not in stored]
    assert not missing, f"{len(missing)} acknowledged writes are not on the new primary"
    assert "Traceback" not in text, text
    figure(
        f"{how} primary, 8 writers: writes again {recovery:.2f} s after the promotion;"
        f" {statuses[201]} x 201, {statuses[503]} x 503, 0 x 500;"
        f" {len(writes.acknowledged)} acknowledged,"
        f" all {len(stored & set(writes.acknowledged))} on the new primary"
    )


async def names_on(url: str, schema: str) -> set[str]:
    connection = await asyncpg.connect(url, server_settings={"search_path": schema}, timeout=10)
    try:
        return {row["name"] for row in await connection.fetch("SELECT name FROM items")}
    finally:
        await connection.close()


# A revision that takes a second before its DDL, so that runners started together
# are inside their migrations at the same time, as replicas starting at once are.
SLOW_REVISION = """\"\"\"Wait, then create a table.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("SELECT pg_sleep(1)")
    op.create_table("concurrency_probe", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("concurrency_probe")
"""


def with_slow_revision(variant: InstalledVariant, scratch: Path) -> Path:
    """A copy of the project (sharing its environment) with the slow revision added."""
    copy = scratch / variant.project.name
    shutil.copytree(variant.project, copy, ignore=shutil.ignore_patterns(".venv", "*cache*"))
    (copy / ".venv").symlink_to(variant.project / ".venv")
    (copy / "migrations" / "versions" / "0002_slow.py").write_text(SLOW_REVISION)
    return copy


@pytest.mark.parametrize("name", list(VARIANTS))
def test_three_migrations_started_at_once_all_succeed(
    install_variant, pg_admin_url: str, fresh_database: str, tmp_path: Path, figure, name: str
) -> None:
    variant: InstalledVariant = install_variant(VARIANTS[name])
    project = with_slow_revision(variant, tmp_path)
    url = postgres.with_database(pg_admin_url, fresh_database)
    env = clean_env(DATABASE_URL=url, **variant.settings)
    started = time.monotonic()
    runners = [
        subprocess.Popen(
            [str(project / ".venv" / "bin" / "python"), "-m", "alembic", "upgrade", "head"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(RUNNERS)
    ]
    outputs = [runner.communicate(timeout=120)[0] for runner in runners]
    codes = [runner.returncode for runner in runners]
    assert codes == [0] * RUNNERS, "\n".join(outputs)
    heads = asyncio.run(versions(url, variant))
    assert heads == ["0002"], heads
    figure(
        f"{RUNNERS} x alembic upgrade head at once on an empty database (a revision that waits"
        f" 1 s): exit codes {codes} in {time.monotonic() - started:.1f} s"
    )


async def versions(url: str, variant: InstalledVariant) -> list[str]:
    schema = variant.schema
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [
            row[0]
            for row in await connection.fetch(
                f'SELECT version_num FROM "{schema}".alembic_version'
            )
        ]
    finally:
        await connection.close()
