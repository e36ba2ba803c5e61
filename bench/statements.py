"""Statements per request, counted by the server: each app alone on a statement-logging cluster."""

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import httpx

from bench.plan import COUNTED_READS, COUNTED_WRITES, Plan
from bench.servers import App, migrations_project, prepare_database, start, stop
from tests.faults.cluster import ThrowawayCluster
from tests.tools import TLS

# One line per statement the server executes (simple queries and executions of
# prepared statements), in a log_statement=all server log.
STATEMENT_LINE = re.compile(r"LOG:  (statement|execute [^:]*): ")


def _statements_in(log: Path, start: int) -> int:
    time.sleep(0.3)  # let the server flush its log
    with log.open("rb") as text:
        text.seek(start)
        written = text.read().decode(errors="replace")
    return sum(1 for line in written.splitlines() if STATEMENT_LINE.search(line))


def _count_one(app: App, log: Path, reads: int, writes: int) -> dict[str, float]:
    """Statements per read and per write of a running ``app``, sent one at a time."""
    with httpx.Client(
        base_url=app.base_url, headers=app.headers, timeout=10, verify=TLS
    ) as client:
        for number in range(20):  # warm-up: a full pool, caches, prepared statements
            client.post("/api/items", json={"name": f"warm-{number}"}).raise_for_status()
            client.get(f"{app.reads}/{number + 1}").raise_for_status()
        start = log.stat().st_size
        for number in range(reads):
            client.get(f"{app.reads}/{number % 20 + 1}").raise_for_status()
        per_read = _statements_in(log, start) / reads
        start = log.stat().st_size
        for number in range(writes):
            client.post("/api/items", json={"name": f"count-{number}"}).raise_for_status()
        per_write = _statements_in(log, start) / writes
    return {"read": per_read, "write": per_write}


def count_statements(
    apps: list[App],
    projects: dict[str, Path],
    plan: Plan,
    pin: list[str],
    logs: Path,
    say: Any,
) -> dict[str, dict[str, float]]:
    """Statements per read and per write of every app, counted by the server.

    Each app is served alone on a throwaway cluster with ``log_statement=all``
    (pings, ``BEGIN``, ``COMMIT`` and ``SET`` included), one request at a time.
    """
    try:
        cluster = ThrowawayCluster()
    except RuntimeError as exc:
        say(f"bench: statements not counted: {exc}")
        return {}
    reads, writes = (20, 10) if plan.smoke else (COUNTED_READS, COUNTED_WRITES)
    counted: dict[str, dict[str, float]] = {}
    try:
        cluster.start(log_statement="all", log_min_duration_statement="-1")
        log = cluster.root / "server.log"
        for app in apps:
            if app.shares is not None:
                continue
            probe = dataclasses.replace(app, database="", port=0, process=None)
            migrations = migrations_project(app, plan, projects)
            prepare_database(probe, cluster.admin_url, migrations, plan.items)
            try:
                start(probe, cluster.admin_url, pin, logs)
                counted[app.name] = _count_one(probe, log, reads, writes)
            finally:
                stop(probe)
            say(
                f"bench: {app.name}: {counted[app.name]['read']:g} statements per read,"
                f" {counted[app.name]['write']:g} per write"
            )
    finally:
        cluster.destroy()
    return counted
