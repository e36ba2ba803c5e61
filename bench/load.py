"""The load: wrk on its own core, and what each measurement reads from /proc and PostgreSQL."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.plan import WRK_SCRIPT
from bench.servers import App
from tests import postgres
from tests.tools import TLS

WRK_INSTALL_HINT = "wrk is not installed. Install it with: sudo apt-get install wrk"


def check_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(WRK_INSTALL_HINT)
    return wrk


def cpu_layout() -> tuple[list[str], list[str], str]:
    """taskset prefixes for the server and the load generator, and what was done."""
    taskset = shutil.which("taskset")
    cpus = sorted(os.sched_getaffinity(0))
    if taskset is None or len(cpus) < 2:
        return [], [], "not pinned (needs taskset and at least 2 cores)"
    probe = subprocess.run([taskset, "-c", str(cpus[1]), "true"], check=False)
    if probe.returncode != 0:
        return [], [], "not pinned (taskset failed)"
    server, client = str(cpus[-1]), str(cpus[0])
    return (
        [taskset, "-c", server],
        [taskset, "-c", client],
        f"server on CPU {server}, wrk on CPU {client}",
    )


def rss_kib(app: App) -> int:
    assert app.process is not None
    status = Path(f"/proc/{app.process.pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


def make_room(app: App, others: list[App]) -> None:
    """End the idle connections of every other app, so ``app``'s pool fits on the server.

    Ten apps keeping pools of 15 open would outgrow PostgreSQL's default
    ``max_connections`` of 100. Each generated app replaces an ended
    connection on its next checkout (its liveness check), the ceiling's
    asyncpg pool too, and the article holds none between measurements.
    """
    databases = sorted({o.database for o in others if o.database and o.database != app.database})
    if not databases or not app.admin_url:
        return
    left = asyncio.run(_end_idle_backends(app.admin_url, databases))
    if left:
        print(f"bench: backends {left} still there 5 s after pg_terminate_backend", flush=True)


# The pids are chosen first (MATERIALIZED), so that the planner cannot call
# pg_terminate_backend on backends the other conditions would have left out.
END_IDLE = (
    "WITH idle AS MATERIALIZED (SELECT pid FROM pg_stat_activity"
    " WHERE datname = ANY($1::text[]) AND state = 'idle')"
    " SELECT coalesce(array_agg(pid), '{}') FROM idle WHERE pg_terminate_backend(pid)"
)


async def _end_idle_backends(admin_url: str, databases: list[str]) -> list[int]:
    """Signal the idle backends of ``databases`` at once, then wait for them together.

    pg_terminate_backend's own timeout waits for each in turn, in 100 ms steps
    (about 0.9 s a measurement). Returns the pids still there after 5 s.
    """
    connection = await asyncpg.connect(postgres.plain_url(admin_url), timeout=10)
    try:
        ended: list[int] = await connection.fetchval(END_IDLE, databases)
        deadline = time.monotonic() + 5
        while ended and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ended = await connection.fetchval(
                "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE pid = ANY($1)",
                ended,
            )
        return ended
    finally:
        await connection.close()


def wrk(
    wrk_bin: str,
    pin: list[str],
    app: App,
    *,
    scenario: str,
    connections: int,
    duration: float,
    items: int,
    stop_after: int = 0,
    others: list[App] | None = None,
    settle: bool = True,
) -> dict[str, Any]:
    """One measurement of ``app``; its summary with req/s and latencies in ms.

    With ``others`` (the apps sharing the server), their idle connections are
    ended first (``make_room``) and ``app`` gets an unmeasured second of the
    same load, so that it starts with its pool full, its ended connections
    replaced. So does an app that releases its idle connections between
    measurements (the article's pool holds one per concurrent request).
    ``settle=False`` (a smoke run) skips that second for all but the latter.
    """
    if others:
        make_room(app, others)
    if app.release or (others and settle):
        _load(
            wrk_bin, pin, app, scenario=scenario, connections=connections, duration=1, items=items
        )
    try:
        return _load(
            wrk_bin,
            pin,
            app,
            scenario=scenario,
            connections=connections,
            duration=duration,
            items=items,
            stop_after=stop_after,
        )
    finally:
        if app.release:
            httpx.post(f"{app.base_url}{app.release}", timeout=30, verify=TLS).raise_for_status()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def sessions_opened(app: App) -> int | None:
    """Connections ever opened to ``app``'s database (None where the server does not count).

    From ``pg_stat_database.sessions`` (PostgreSQL 14 and newer). A backend
    reports its start with its next statistics flush, so a count can trail by
    a second or so: a measurement's figure is close, not exact.
    """
    if not app.admin_url:
        return None
    try:
        opened = postgres.fetchval(
            app.admin_url, "SELECT sessions FROM pg_stat_database WHERE datname = $1", app.database
        )
    except asyncpg.UndefinedColumnError:
        return None
    return int(opened) if isinstance(opened, int) else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, from /proc (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _load(
    wrk_bin: str,
    pin: list[str],
    app: App,
    *,
    scenario: str,
    connections: int,
    duration: float,
    items: int,
    stop_after: int = 0,
) -> dict[str, Any]:
    nonce = uuid.uuid4().hex[:10]
    path = app.reads if scenario == "write" else f"{app.reads}/1"
    command = [
        *pin,
        wrk_bin,
        "-t1",
        f"-c{connections}",
        f"-d{max(duration, 1):.0f}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        f"{app.base_url}{path}",
        "--",
        scenario,
        str(items),
        nonce,
        str(stop_after),
        app.reads,
        app.header_line,
    ]
    assert app.process is not None
    sessions_before = sessions_opened(app)
    cpu_before = cpu_seconds(app.process.pid)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu_used = cpu_seconds(app.process.pid) - cpu_before
    sessions_after = sessions_opened(app)
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        msg = f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        raise RuntimeError(msg)
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "errors": errors,
        "error_detail": raw["errors"],
        # The server's CPU per request: far steadier on a shared machine than req/s.
        "cpu_ms": round(cpu_used * 1000 / raw["requests"], 4) if raw["requests"] else 0.0,
        # Connections the app opened per 1,000 requests: a pool that closes and
        # reopens connections under load pays for each (None: not counted).
        "connects_per_1k": (
            round(1000 * (sessions_after - sessions_before) / raw["requests"], 2)
            if sessions_before is not None and sessions_after is not None and raw["requests"]
            else None
        ),
    }
