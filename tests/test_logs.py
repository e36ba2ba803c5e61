"""A variant served by ``fastapi run`` with ``LOG_FORMAT=json`` writes only JSON log lines.

uvicorn's own lines (startup, shutdown) are JSON too; each request has exactly
one access line, carrying its request id like every other line it caused (a
slow query, a constraint violation); no bound parameter reaches the log. The
image's command (``python -m <package>.serve``) with two workers writes JSON
from every process, the supervising one included.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.service import Database, InstalledVariant, migrated_database
from tests.test_reliability import TableLock, blocked_on_lock
from tests.tools import TLS

pytestmark = pytest.mark.reliability

# A value sent only as a bound parameter (an item's name): never in the log.
HIDDEN_NAME = "hidden-name-4f1c"
SLOW_QUERY_MS = 100
# fastapi-cli prints a banner on standard output before uvicorn starts; the logs follow it.
BANNER_END = "Logs:"


def json_lines(logs: str, whole: str) -> list[dict[str, Any]]:
    """Every non-empty line of ``logs``, parsed; fails, showing ``whole``, on one not JSON."""
    records = []
    for line in logs.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"a log line is not JSON: {line!r}\n{whole}")
    return records


def log_records(text: str) -> list[dict[str, Any]]:
    """Every log line after fastapi-cli's banner, parsed; fails on a line that is not JSON."""
    banner, marker, logs = text.partition(BANNER_END)
    assert marker, text
    assert "{" not in banner, banner
    return json_lines(logs, text)


async def slow_insert(base_url: str, database: Database) -> httpx.Response:
    """Create an item while a lock holds the table for longer than the threshold."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10, verify=TLS) as client:
        async with TableLock(database):
            insert = asyncio.create_task(
                client.post(
                    "/api/items", json={"name": HIDDEN_NAME}, headers={"X-Request-ID": "slow-1"}
                )
            )
            assert await blocked_on_lock(database, 1)
            await asyncio.sleep(SLOW_QUERY_MS * 2 / 1000)
        return await insert


def test_a_served_variant_logs_json_lines_with_the_request_id_on_each(
    tmp_path: Path, pg_admin_url: str, install_variant
) -> None:
    variant: InstalledVariant = install_variant({})
    settings = {"LOG_FORMAT": "json", "DATABASE_SLOW_QUERY_MS": str(SLOW_QUERY_MS)}
    with (
        migrated_database(pg_admin_url, variant) as database,
        variant.serve(tmp_path / "app.log", database.app_url, **settings) as app,
    ):
        live = httpx.get(
            f"{app.base_url}/health/live", headers={"X-Request-ID": "live-1"}, verify=TLS
        )
        created = asyncio.run(slow_insert(app.base_url, database))
        duplicate = httpx.post(
            f"{app.base_url}/api/items", json={"name": HIDDEN_NAME}, timeout=10, verify=TLS
        )
        assert live.headers["X-Request-ID"] == "live-1"
        assert created.status_code == 201, created.text
        assert duplicate.status_code == 409, duplicate.text
        text = app.assert_clean_log()

    records = log_records(text)
    server = [r["message"] for r in records if r["logger"] == "uvicorn.error"]
    for line in ("Waiting for application startup.", "Application shutdown complete."):
        assert line in server, text
    assert any(m.startswith("Started server process") for m in server), text
    assert not [r for r in records if r["logger"] == "uvicorn.access"], text
    access = [r for r in records if r["logger"].endswith(".access")]
    requests = {
        "live-1": ("GET", "/health/live", 200),
        "slow-1": ("POST", "/api/items", 201),
        duplicate.headers["X-Request-ID"]: ("POST", "/api/items", 409),
    }
    for request_id, (method, path, status) in requests.items():
        lines = [r for r in access if r.get("request_id") == request_id]
        assert len(lines) == 1, text
        assert (lines[0]["method"], lines[0]["path"], lines[0]["status"]) == (method, path, status)
        assert lines[0]["duration_ms"] >= 0
    slow = [r for r in records if r["logger"].endswith(".slow_queries")]
    slow_inserts = [r for r in slow if r["statement"].startswith("INSERT INTO items")]
    assert len(slow_inserts) == 1, text
    assert slow_inserts[0]["request_id"] == "slow-1"
    assert slow_inserts[0]["duration_ms"] >= SLOW_QUERY_MS
    conflict = [r for r in records if "constraint violation" in r["message"]]
    assert len(conflict) == 1, text
    assert conflict[0]["request_id"] == duplicate.headers["X-Request-ID"]
    assert HIDDEN_NAME not in text


def test_the_image_command_with_two_workers_logs_json_from_every_process(
    tmp_path: Path, pg_admin_url: str, install_variant
) -> None:
    variant: InstalledVariant = install_variant({})
    serve = ["python", "-m", f"{variant.package}.serve"]
    settings = {"LOG_FORMAT": "json", "WEB_CONCURRENCY": "2"}
    with (
        migrated_database(pg_admin_url, variant) as database,
        variant.serve(tmp_path / "app.log", database.app_url, command=serve, **settings) as app,
    ):
        ids = [f"w-{n}" for n in range(20)]
        for request_id in ids:
            answer = httpx.get(
                f"{app.base_url}/health/live", headers={"X-Request-ID": request_id}, verify=TLS
            )
            assert answer.status_code == 200, answer.text
        text = app.assert_clean_log()

    records = json_lines(text, text)  # no banner: every line of the log is JSON
    server = [r["message"] for r in records if r["logger"] == "uvicorn.error"]
    # The supervisor's own lines, then each worker's.
    assert any(m.startswith("Started parent process") for m in server), text
    assert any(m.startswith("Stopping parent process") for m in server), text
    assert sum(m.startswith("Started server process") for m in server) == 2, text
    # One access line per request, each with its id (the harness's readiness probes add theirs).
    access = [r["request_id"] for r in records if r["logger"].endswith(".access")]
    assert sorted(i for i in access if i.startswith("w-")) == sorted(ids), text
