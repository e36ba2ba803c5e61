"""Instructions per request, counted by valgrind's callgrind: a measure that noise cannot move.

Run from the template checkout::

    uv run python -m bench.instructions --apps generated,ceiling \\
        --copies again,columns,insert-returning,no-access-line,no-pieces

CPU time per request moves by up to 2x between two copies of the same code
on a shared machine (bench/README.md), more than any lever in question. The
number of instructions a request executes does not: callgrind counts them,
the same for the same code and input whatever else the machine does. Each app
is served as the timed benchmark serves it (uvicorn, one worker, uvloop,
httptools), under ``valgrind --tool=callgrind`` with counting off; after a
warm-up, counting is switched on for exactly ``--requests`` requests from a
client with one or with several connections, then off, and the count is read
from callgrind's dump. Instructions are not time (a cache miss costs more than
an add), so these ratios complement the CPU figures; they do not replace them.
"""

import argparse
import asyncio
import datetime as dt
import json
import random
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.catalog import define_apps, needed_variants
from bench.copies import make_copy
from bench.plan import VARIANTS, parse_args
from bench.servers import App, bake, migrations_project, prepare_database, start, stop
from tests import postgres
from tests.tools import TLS, find_python

WARMUP = 200

# The slow-query threshold while counting. callgrind runs an app about 50 times
# slower; at 64 connections a statement then waits past the default 200 ms for the
# busy event loop, and 220-323 statements per app were logged as slow (a warning
# line each, about 2 % of the count), which at full speed none would be. The
# timing of every statement stays on; only its threshold is out of callgrind's reach.
SLOW_QUERY_MS = "60000"


def valgrind_prefix(out_dir: Path, name: str) -> list[str]:
    """The command prefix that serves an app under callgrind, counting nothing until told."""
    return [
        shutil.which("valgrind") or "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir / name}.%p.callgrind",
    ]


def control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def dumped_instructions(out_dir: Path, name: str, pid: int) -> int:
    """The instruction count ("totals:") of the newest numbered dump of ``pid``."""
    dumps = sorted(
        out_dir.glob(f"{name}.{pid}.callgrind.*"), key=lambda p: int(p.suffix.lstrip("."))
    )
    text = dumps[-1].read_text(errors="replace")
    found = re.search(r"^totals:\s+(\d+)", text, re.MULTILINE)
    if not found:
        msg = f"no instruction count in {dumps[-1]}"
        raise RuntimeError(msg)
    return int(found.group(1))


async def send(app: App, scenario: str, count: int, connections: int, items: int) -> None:
    """Exactly ``count`` requests of ``scenario`` over ``connections`` connections."""
    todo = list(range(count))

    async def connection() -> None:
        async with httpx.AsyncClient(
            base_url=app.base_url, timeout=600, headers=app.headers, verify=TLS
        ) as client:
            while todo:
                todo.pop()
                if scenario == "write":
                    answer = await client.post(app.reads, json={"name": f"cg-{uuid.uuid4().hex}"})
                elif scenario == "list":  # the first page of 20
                    answer = await client.get(app.reads, params={"limit": 20})
                else:
                    answer = await client.get(f"{app.reads}/{random.randint(1, items)}")
                answer.raise_for_status()

    await asyncio.gather(*(connection() for _ in range(connections)))


def measure(
    app: App,
    out_dir: Path,
    dump_name: str,
    scenario: str,
    count: int,
    connections: int,
    items: int,
) -> float:
    """Instructions per request of ``app`` for ``scenario`` (dumps named ``dump_name``)."""
    assert app.process is not None
    pid = app.process.pid
    asyncio.run(send(app, scenario, WARMUP, connections, items))
    control(pid, "--zero")
    control(pid, "--instr=on")
    asyncio.run(send(app, scenario, count, connections, items))
    control(pid, "--instr=off")
    control(pid, "--dump")
    return dumped_instructions(out_dir, dump_name, pid) / count


def count_app(
    app: App, dump_name: str, logs: Path, plan: Any, requests: int, results: dict[str, Any]
) -> None:
    """Every scenario and connection count of ``app``, into ``results``."""
    for scenario in [s for s in plan.scenarios if s in app.scenarios]:
        for conns in plan.connections:
            per_request = measure(app, logs, dump_name, scenario, requests, conns, plan.items)
            results.setdefault(app.name, {})[f"{scenario}/{conns}"] = per_request
            print(
                f"{app.name:18} {scenario:5} c={conns:<3} "
                f"{per_request / 1e6:7.3f} M instructions per request",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--requests", type=int, default=300, help="counted requests per cell")
    own, rest = extra.parse_known_args(argv)
    plan = parse_args(rest)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("valgrind is needed: apt-get install valgrind")
    python = find_python(plan.python_version)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_dir = plan.out / f"instructions-{started.strftime('%Y%m%dT%H%M%SZ')}"
    workdir, logs = run_dir / "build", run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    admin_url, embedded = postgres.find_server(run_dir / "postgres")
    projects = {
        name: bake(workdir, name, python, python_version=plan.python_version, **VARIANTS[name])
        for name in needed_variants(plan)
    }
    for name in plan.copies:
        projects[f"copy-{name}"] = make_copy(projects["default"], workdir, name, python)
    apps = define_apps(plan, projects)
    for app in apps:  # a copy that turns the timing off (0) keeps its own setting
        app.env.setdefault("DATABASE_SLOW_QUERY_MS", SLOW_QUERY_MS)
    # A lever (--levers) is an endpoint of one host process: the host is served once,
    # and each lever's requests are counted on its own path.
    served = {id(app.shares or app): app.shares or app for app in apps}
    results: dict[str, dict[str, float]] = {}
    try:
        for server in served.values():
            migrations = migrations_project(server, plan, projects)
            prepare_database(server, admin_url, migrations, plan.items)
            start(server, admin_url, valgrind_prefix(logs, server.name), logs)
            try:
                for app in [a for a in apps if (a.shares or a) is server]:
                    app.database, app.port, app.process = (
                        server.database,
                        server.port,
                        server.process,
                    )
                    count_app(app, server.name, logs, plan, own.requests, results)
            finally:
                stop(server)
                postgres.drop_database(admin_url, server.database)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]
    report: dict[str, Any] = {"started": started.isoformat(), "results": results}
    (run_dir / "instructions.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {run_dir / 'instructions.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
