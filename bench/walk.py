"""The list endpoint on a large table: a full walk, and what its first and last pages cost.

The default app is served on a database of ``rows`` items (1,000,000 in a full
run). A client walks every page of 100 items, following ``next``, and checks
that it saw every item once, in order. Each page's wall time is the client's,
its CPU time the server's (``/proc/<pid>/task/*/schedstat``, nanoseconds); the
first 50 pages are compared with the last 50. Beside it, PostgreSQL's own
execution time of the first and last page, by keyset and by ``OFFSET``
(``EXPLAIN ANALYZE``, median of five), shows what the keyset spares.
"""

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.servers import App, prepare_database, start, stop
from tests import postgres
from tests.tools import TLS

PAGE_SIZE = 100
SEGMENT = 50  # pages compared at each end
COLUMNS = "id, name, description, created_at"


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of ``pid`` so far, in nanoseconds."""
    return sum(
        int(task.joinpath("schedstat").read_text().split()[0])
        for task in Path(f"/proc/{pid}/task").iterdir()
    )


async def _execution_ms(url: str, query: str) -> float:
    connection = await asyncpg.connect(url)
    try:
        times = []
        for _ in range(5):
            plan = json.loads(await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}"))
            times.append(plan[0]["Execution Time"])
        return round(statistics.median(times), 3)
    finally:
        await connection.close()


def server_times(url: str, rows: int) -> dict[str, float]:
    """PostgreSQL's execution time (ms) of the first and last page, keyset and OFFSET."""
    last_key, last_offset = max(rows - PAGE_SIZE, 0), max(rows - PAGE_SIZE, 0)
    page = f"SELECT {COLUMNS} FROM items"
    queries = {
        "keyset_first_ms": f"{page} WHERE id > 0 ORDER BY id LIMIT {PAGE_SIZE + 1}",
        "keyset_last_ms": f"{page} WHERE id > {last_key} ORDER BY id LIMIT {PAGE_SIZE + 1}",
        "offset_first_ms": f"{page} ORDER BY id LIMIT {PAGE_SIZE} OFFSET 0",
        "offset_last_ms": f"{page} ORDER BY id LIMIT {PAGE_SIZE} OFFSET {last_offset}",
    }
    return {name: asyncio.run(_execution_ms(url, query)) for name, query in queries.items()}


def _segment(pages: list[tuple[float, int]]) -> dict[str, float]:
    return {
        "wall_ms": round(sum(wall for wall, _ in pages) * 1000, 2),
        "cpu_ms": round(sum(cpu for _, cpu in pages) / 1e6, 2),
        "median_page_ms": round(statistics.median(wall for wall, _ in pages) * 1000, 3),
    }


def walk(app: App, admin_url: str, pin: list[str], logs: Path, rows: int) -> dict[str, Any]:
    """Serve ``app`` on ``rows`` items and walk every page; the figures."""
    prepare_database(app, admin_url, app.project, rows)
    try:
        start(app, admin_url, pin, logs)
        assert app.process is not None
        pid = app.process.pid
        pages: list[tuple[float, int]] = []
        seen, last_id = 0, 0
        with httpx.Client(
            base_url=app.base_url, headers=app.headers, timeout=30, verify=TLS
        ) as client:
            for _ in range(20):  # warm-up: pool, caches, prepared statements
                client.get("/api/items", params={"limit": PAGE_SIZE}).raise_for_status()
            url: str | None = f"/api/items?limit={PAGE_SIZE}"
            started = time.perf_counter()
            while url:
                cpu_before, wall_before = cpu_ns(pid), time.perf_counter()
                answer = client.get(url)
                wall, cpu = time.perf_counter() - wall_before, cpu_ns(pid) - cpu_before
                answer.raise_for_status()
                body = answer.json()
                ids = [item["id"] for item in body["items"]]
                if ids != sorted(ids) or (ids and ids[0] <= last_id):
                    msg = f"the walk went backwards at item {last_id}: {ids[:3]}..."
                    raise RuntimeError(msg)
                seen, last_id = seen + len(ids), ids[-1] if ids else last_id
                pages.append((wall, cpu))
                url = body["next"]
            seconds = time.perf_counter() - started
        if seen != rows:
            msg = f"the walk saw {seen} items of {rows}"
            raise RuntimeError(msg)
        segment = min(SEGMENT, len(pages) // 3)
        first, last = _segment(pages[:segment]), _segment(pages[-segment:])
        return {
            "rows": rows,
            "page_size": PAGE_SIZE,
            "pages": len(pages),
            "seconds": round(seconds, 2),
            "segment_pages": segment,
            "first": first,
            "last": last,
            "last_over_first_wall": round(last["wall_ms"] / first["wall_ms"], 3),
            "last_over_first_cpu": round(last["cpu_ms"] / first["cpu_ms"], 3),
            "server": server_times(postgres.with_database(admin_url, app.database), rows),
        }
    finally:
        stop(app)
        postgres.drop_database(admin_url, app.database)


def markdown(figures: dict[str, Any]) -> list[str]:
    """The walk's lines for results.md."""
    server = figures["server"]
    rows = [
        f"| {name} | {part['wall_ms']:.1f} | {part['median_page_ms']:.2f} | {part['cpu_ms']:.1f} |"
        for name, part in (("first", figures["first"]), ("last", figures["last"]))
    ]
    return [
        "",
        f"Walk of {figures['rows']:,} items, {figures['pages']:,} pages of"
        f" {figures['page_size']}, in {figures['seconds']:.1f} s; every item seen once, in order.",
        "",
        f"| pages | wall ms ({figures['segment_pages']} pages) | median page ms | server CPU ms |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        f"| last / first | {figures['last_over_first_wall']:.2f} | |"
        f" {figures['last_over_first_cpu']:.2f} |",
        "",
        "PostgreSQL's execution time of one page (EXPLAIN ANALYZE, median of 5): keyset"
        f" first {server['keyset_first_ms']:.3f} ms, last {server['keyset_last_ms']:.3f} ms;"
        f" OFFSET first {server['offset_first_ms']:.3f} ms,"
        f" last {server['offset_last_ms']:.3f} ms.",
    ]
