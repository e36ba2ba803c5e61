"""The benchmark keeps working: a smoke run produces complete, sane results.

Timings are never asserted: the smoke run lasts seconds on a shared machine.
It runs one app of each kind the harness treats apart (a generated app, one
that sends a header, the article that releases its connections, the ceiling,
a copy with a lever) at one concurrency, and the pagination walk on 3,000
rows: every code path of the harness, in about a minute. It needs wrk
(``apt-get install wrk``); without it the test is skipped.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.copies import COPIES as LEVERS
from bench.plan import PACKAGE
from tests.prerequisites import require
from tests.template import ROOT
from tests.tools import clean_env

APPS = ["generated", "generated-tenant", "article", "ceiling"]
COPIES = ["again"]
SCENARIOS = {"article": ("read", "write")}  # the others also serve the list


@pytest.mark.boot
def test_smoke_run_writes_sane_results(pg_admin_url: str, tmp_path: Path, figure) -> None:
    require("wrk")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--apps",
            ",".join(APPS),
            "--copies",
            ",".join(COPIES),
            "--connections",
            "8",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=clean_env(TEST_DATABASE_URL=pg_admin_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not (run_dir / "build").exists(), "the baked projects are removed"
    data = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("Run ")

    apps = [*APPS, *COPIES]
    assert set(data["plan"]["apps"]) == set(apps)
    cells = data["summary"]["cells"]
    assert len(cells) == sum(len(SCENARIOS.get(name, ("read", "write", "list"))) for name in apps)
    for cell in cells.values():
        assert cell["rps"] > 0, cell
        assert cell["cpu_ms"] > 0, cell  # the server's CPU per request, from /proc
        assert 0 < cell["p50_ms"] <= cell["p99_ms"], cell
        assert cell["errors"] == 0, cell
        # Connections opened per 1,000 requests, from PostgreSQL's statistics.
        assert cell["connects_per_1k"] is not None, cell
        assert cell["connects_per_1k"] >= 0, cell
    for ratio in data["summary"]["ratios"].values():
        assert ratio["ratio"] > 0, ratio
        assert ratio["cpu_ratio"] > 0, ratio
    for name in apps:
        rss = data["rss"][name]
        assert rss["requests"] >= data["plan"]["rss_requests"]
        assert rss["before_kib"] > 0
        assert rss["after_kib"] > 0
    # Statements per request, counted by a statement-logging server: the SELECT
    # alone per read (BEGIN, SELECT, ROLLBACK with reads in a transaction) and
    # BEGIN, INSERT, COMMIT per write in every generated variant; the ceiling's
    # read and write are one statement each.
    statements = data["statements"]
    assert set(statements) == set(apps)
    for name in ["generated", "generated-tenant", *COPIES]:
        assert statements[name] == {"read": 1, "write": 3}, (name, statements[name])
    assert statements["ceiling"] == {"read": 1, "write": 1}
    assert statements["article"]["read"] > 1  # its SET search_path, BEGIN and ROLLBACK
    assert data["versions"]["sqlalchemy"]
    assert data["versions"]["sqlalchemy compiled extensions"] == "loaded"
    walk = data["walk"]  # the walk itself checks every row is seen once, in order
    assert (walk["rows"], walk["pages"]) == (3_000, 30), walk
    assert walk["last_over_first_wall"] > 0
    assert walk["server"]["offset_last_ms"] > 0
    figure(
        "smoke generated/ceiling read "
        + ", ".join(
            f"c={r['connections']}: {r['ratio']:.2f}"
            for r in data["summary"]["ratios"].values()
            if (r["top"], r["bottom"], r["scenario"]) == ("generated", "ceiling", "read")
        )
    )


def test_every_copy_edits_text_the_default_bake_holds(cookies) -> None:
    """A lever whose text the template no longer holds would stop a benchmark run."""
    result = cookies.bake()
    assert result.exception is None, result.exception
    package = result.project_path / "src" / PACKAGE
    stale = [
        f"{name}: {relative}"
        for name, lever in LEVERS.items()
        for relative, old, new in lever.edits
        if old == new or old not in (package / relative).read_text()
    ]
    assert stale == []
    # A misspelt setting would be ignored, and the copy would measure the shipped code.
    readme = (result.project_path / "README.md").read_text()
    settings = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, re.MULTILINE))
    unknown = {key for lever in LEVERS.values() for key in lever.env} - settings
    assert unknown == set()
    assert all(lever.edits or lever.env for name, lever in LEVERS.items() if name != "again")
