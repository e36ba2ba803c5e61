"""Side-by-side HTTP benchmark of the generated app, the article's pattern and a raw ceiling.

Run from the template checkout (see bench/README.md)::

    uv run python -m bench            # the full run, about 40 minutes
    uv run python -m bench --smoke    # seconds; checks that everything works

It bakes the variants the chosen apps need (default, ``database_schema=app``,
``session_scope=task``, ``tenancy=schema-per-tenant``), installs them with
``uv sync``, creates one fresh database per app, migrates it with the
generated project's Alembic migrations, seeds items, starts every app the way
production does (uvicorn, 1 worker, uvloop, httptools), pinned to one core, and
drives each with wrk pinned to another core. Rounds are interleaved (every app
once per round, in rotating order) and the figures are the medians over rounds;
ratios are taken within each round, then their median is reported. Before the
timed rounds, every app is served once on a throwaway cluster that logs every
statement, to count the statements a read and a write send.
"""

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import postgres  # noqa: E402
from tests.faults.cluster import ThrowawayCluster  # noqa: E402
from tests.faults.issuer import Issuer, app_settings  # noqa: E402
from tests.tools import clean_env, find_python, uv_bin  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk.lua"
PACKAGE = "orders_service"  # the default answers' package name
SCHEMA = "app"
WRK_INSTALL_HINT = "wrk is not installed. Install it with: sudo apt-get install wrk"

# The read-path variants of bench/apps/levers.py measured by --levers.
LEVERS = [
    "orm-ping-tx",
    "orm-tx",
    "orm-ping-autocommit",
    "orm-autocommit",
    "core-session",
    "core-connection",
    "core-no-stmt-cache",
    "core-session-json",
    "core-request-scope",
    "raw-asyncpg",
    "raw-asyncpg-dep",
    "raw-asyncpg-tx",
    "no-db",
]
# As in apps/levers.py: the levers that also serve writes, and those that only do.
LEVER_WRITES = ["no-db", "raw-asyncpg-dep", "raw-asyncpg-tx", "core-connection", "orm-tx"]
LEVER_WRITE_ONLY = ["raw-asyncpg-tx"]

GENERATED = "generated"
GENERATED_SCHEMA = "generated-schema"
GENERATED_TASK = "generated-task"
GENERATED_TENANT = "generated-tenant"
GENERATED_OTEL = "generated-otel"
GENERATED_JWT = "generated-jwt"
GENERATED_TX_READS = "generated-tx-reads"
GENERATED_UNQUEUED = "generated-unqueued"
ARTICLE = "article"
CEILING = "ceiling"
TENANT = "bench"

# The baked variants, by name: their answers beyond the defaults.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "schema": {"database_schema": SCHEMA},
    "task": {"session_scope": "task"},
    "tenant": {"tenancy": "schema-per-tenant"},
    "otel": {"observability": "opentelemetry"},
    "jwt": {"auth": "jwt"},
}
# Requests counted per app on the statement-logging cluster.
COUNTED_READS, COUNTED_WRITES = 200, 100


@dataclass
class Plan:
    """What one run measures and for how long."""

    duration: float
    warmup_seconds: float
    rss_requests: int
    rounds: int
    connections: list[int]
    scenarios: list[str]
    items: int
    python_version: str
    apps: list[str]
    smoke: bool
    keep: bool
    out: Path
    extra: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    levers: list[str] = field(default_factory=list)
    count_statements: bool = True


@dataclass
class App:
    """One server under test."""

    name: str
    description: str
    project: Path
    schema: str | None
    module: str
    app_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    database: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    reads: str = "/api/items"  # reads go to {reads}/{id}
    shares: "App | None" = None  # a lever: served by another App's process
    release: str | None = None  # POST here after each measurement to close idle connections
    scenarios: tuple[str, ...] = ("read", "write")  # what it serves
    variant: str = "default"  # the baked project whose migrations make its database
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request
    seed_schema: str | None = None  # where the items table is, if not ``schema``
    admin_url: str = ""  # the server its database is on, to read the database's statistics

    @property
    def header_line(self) -> str:
        """The one header wrk sends with every request ("Name: value"), or ""."""
        return "".join(f"{name}: {value}" for name, value in self.headers.items())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def parse_args(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds, tiny counts")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--connections", default=None, help="comma-separated (default 8,64)")
    parser.add_argument("--scenarios", default="read,write", help="read and/or write")
    parser.add_argument("--rss-requests", type=int, help="requests between RSS readings")
    parser.add_argument("--items", type=int, default=1000, help="items seeded per database")
    parser.add_argument("--python", default="3.12", help="Python version of the baked projects")
    parser.add_argument(
        "--apps",
        default=",".join(
            [
                GENERATED,
                GENERATED_SCHEMA,
                GENERATED_TASK,
                GENERATED_TENANT,
                GENERATED_OTEL,
                GENERATED_JWT,
                GENERATED_TX_READS,
                GENERATED_UNQUEUED,
                ARTICLE,
                CEILING,
            ]
        ),
        help="which apps to run",
    )
    parser.add_argument(
        "--extra-app",
        action="append",
        default=[],
        metavar="NAME=DIR[,KEY=VALUE...]",
        help="also run a generated-style project from DIR (already synced), with env",
    )
    parser.add_argument(
        "--levers",
        nargs="?",
        const=",".join(LEVERS),
        default="",
        metavar="NAME,...",
        help="instead: the generated app and the variants of bench/apps/levers.py (default all)",
    )
    parser.add_argument(
        "--no-statements",
        action="store_true",
        help="skip counting statements per request on a statement-logging cluster",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and builds")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    smoke = args.smoke
    default_connections = "4,16" if smoke else "8,64"
    extra: dict[str, tuple[str, dict[str, str]]] = {}
    for spec in args.extra_app:
        name, _, rest = spec.partition("=")
        directory, *pairs = rest.split(",")
        extra[name] = (directory, dict(pair.split("=", 1) for pair in pairs))
    return Plan(
        duration=args.duration or (1.0 if smoke else 10.0),
        warmup_seconds=0.5 if smoke else 3.0,
        rss_requests=args.rss_requests or (500 if smoke else 50_000),
        rounds=args.rounds or (1 if smoke else 3),
        connections=[int(c) for c in (args.connections or default_connections).split(",")],
        scenarios=args.scenarios.split(","),
        items=args.items,
        python_version=args.python,
        apps=[CEILING, GENERATED, *args.levers.split(",")]
        if args.levers
        else [a for a in args.apps.split(",") if a] + list(extra),
        smoke=smoke,
        keep=args.keep,
        out=args.out or RESULTS,
        extra=extra,
        levers=args.levers.split(",") if args.levers else [],
        count_statements=not args.no_statements and not args.levers,
    )


# --- environment checks -------------------------------------------------------------------


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args: list[str], cwd: Path, **env: str) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = f"{' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}"
        raise RuntimeError(msg)
    return result.stdout


# --- building the apps ----------------------------------------------------------------------


def bake(workdir: Path, name: str, python: str, **answers: str) -> Path:
    """Render the template into ``workdir/name`` and install it; return the project dir."""
    out = workdir / name
    shutil.rmtree(out, ignore_errors=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    extra = [f"{key}={value}" for key, value in answers.items()]
    run([str(cookiecutter), "--no-input", "-o", str(out), str(ROOT), *extra], ROOT)
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    run([uv_bin(), "sync", "--quiet", "--python", python], project)
    return project


def sqlalchemy_url(admin_url: str, database: str) -> str:
    return postgres.with_database(admin_url, database, driver="postgresql+asyncpg")


async def seed(url: str, schema: str | None, items: int) -> None:
    table = f'"{schema}".items' if schema else "items"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            f"INSERT INTO {table} (name, description)"
            " SELECT 'seed-' || g, 'seeded item number ' || g FROM generate_series(1, $1) g",
            items,
        )
        await connection.execute(f"ANALYZE {table}")
    finally:
        await connection.close()


def migrations_project(app: App, plan: Plan, projects: dict[str, Path]) -> Path:
    """The project whose migrations make ``app``'s database (an extra app's own)."""
    if app.name in plan.extra:
        return app.project
    return projects.get(app.variant, projects["default"])


def prepare_database(app: App, admin_url: str, migrations_project: Path, items: int) -> None:
    """A fresh database for ``app``, migrated by a generated project, with seeded items."""
    app.database = postgres.create_database(admin_url)
    app.admin_url = admin_url
    url = sqlalchemy_url(admin_url, app.database)
    env = {"DATABASE_URL": url, **app.env}
    if app.schema:
        env["DATABASE_SCHEMA"] = app.schema
    run([uv_bin(), "run", "--no-sync", "alembic", "upgrade", "head"], migrations_project, **env)
    seed_schema = app.seed_schema or app.schema
    asyncio.run(seed(postgres.with_database(admin_url, app.database), seed_schema, items))


def start(app: App, admin_url: str, pin: list[str], logs: Path) -> None:
    app.port = free_port()
    app.log = logs / f"{app.name}.log"
    url = sqlalchemy_url(admin_url, app.database)
    env = {
        "DATABASE_URL": url,
        "BENCH_DATABASE_URL": url,
        "BENCH_PACKAGE": PACKAGE,
        **({"DATABASE_SCHEMA": app.schema, "BENCH_SCHEMA": app.schema} if app.schema else {}),
        **app.env,
    }
    python = app.project / ".venv" / "bin" / "python"
    command = [
        *pin,
        str(python),
        "-m",
        "uvicorn",
        app.module,
        "--host",
        "127.0.0.1",
        "--port",
        str(app.port),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if app.app_dir:
        command += ["--app-dir", str(app.app_dir)]
    with app.log.open("wb") as out:
        app.process = subprocess.Popen(
            command, cwd=app.project, env=clean_env(**env), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            msg = f"{app.name} exited with {app.process.returncode}:\n{app.log.read_text()}"
            raise RuntimeError(msg)
        try:
            answer = httpx.get(f"{app.base_url}{app.reads}/1", headers=app.headers, timeout=2)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    msg = f"{app.name} did not answer within 60 s:\n{app.log.read_text()}"
    raise RuntimeError(msg)


def stop(app: App) -> None:
    if app.process is None or app.process.poll() is not None:
        return
    app.process.send_signal(signal.SIGINT)
    try:
        app.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        app.process.kill()
        app.process.wait()


# --- statements per request -----------------------------------------------------------------

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
    with httpx.Client(base_url=app.base_url, headers=app.headers, timeout=10) as client:
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


def start_otlp_sink(pin: list[str]) -> tuple[subprocess.Popen[str], str]:
    """The stand-in collector the traced app exports to; its process and endpoint."""
    port = free_port()
    sink = subprocess.Popen(
        [*pin, sys.executable, str(BENCH / "apps" / "otlp_sink.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return sink, f"http://127.0.0.1:{port}/v1/traces"
        time.sleep(0.1)
    sink.kill()
    msg = "the OTLP sink did not start"
    raise RuntimeError(msg)


def stop_otlp_sink(sink: subprocess.Popen[str] | None) -> dict[str, int]:
    """Stop the sink; what it received (exports and bytes)."""
    if sink is None:
        return {}
    sink.send_signal(signal.SIGTERM)
    output, _ = sink.communicate(timeout=10)
    found = re.search(r"OTLP_SINK exports=(\d+) bytes=(\d+)", output)
    return {"exports": int(found[1]), "bytes": int(found[2])} if found else {}


def rss_kib(app: App) -> int:
    assert app.process is not None
    status = Path(f"/proc/{app.process.pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


# --- load -----------------------------------------------------------------------------------


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
            httpx.post(f"{app.base_url}{app.release}", timeout=30).raise_for_status()


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


# --- the run --------------------------------------------------------------------------------


# The baked variant whose migrations make each app's database (else "default").
APP_VARIANTS = {
    ARTICLE: "schema",
    GENERATED_SCHEMA: "schema",
    GENERATED_TASK: "task",
    GENERATED_TENANT: "tenant",
    GENERATED_OTEL: "otel",
    GENERATED_JWT: "jwt",
}


def needed_variants(plan: Plan) -> list[str]:
    """The variants the chosen apps need, the default first (its migrations serve the rest)."""
    wanted = {APP_VARIANTS.get(name, "default") for name in plan.apps if name not in plan.extra}
    return ["default", *sorted(wanted - {"default"})]


def define_apps(
    plan: Plan, projects: dict[str, Path], otlp_endpoint: str = "", issuer: Any = None
) -> list[App]:
    default = projects["default"]
    generated = f"{PACKAGE}.main:app"
    apps: dict[str, App] = {
        GENERATED: App(GENERATED, "generated app, default variant", default, None, generated),
    }
    if GENERATED_SCHEMA in plan.apps:
        apps[GENERATED_SCHEMA] = App(
            GENERATED_SCHEMA,
            f"generated app, database_schema={SCHEMA}",
            projects["schema"],
            SCHEMA,
            generated,
            variant="schema",
        )
    if GENERATED_TASK in plan.apps:
        apps[GENERATED_TASK] = App(
            GENERATED_TASK,
            "generated app, session_scope=task",
            projects["task"],
            None,
            generated,
            variant="task",
        )
    if GENERATED_TENANT in plan.apps:
        apps[GENERATED_TENANT] = App(
            GENERATED_TENANT,
            f"generated app, tenancy=schema-per-tenant (X-Tenant: {TENANT})",
            projects["tenant"],
            None,
            generated,
            variant="tenant",
            env={"TENANTS": TENANT},
            headers={"X-Tenant": TENANT},
            seed_schema=f"tenant_{TENANT}",
        )
    if GENERATED_OTEL in plan.apps:
        apps[GENERATED_OTEL] = App(
            GENERATED_OTEL,
            "generated app, observability=opentelemetry, every span exported (OTLP/HTTP)",
            projects["otel"],
            None,
            generated,
            variant="otel",
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_endpoint,
            },
        )
    if GENERATED_JWT in plan.apps:
        apps[GENERATED_JWT] = App(
            GENERATED_JWT,
            "generated app, auth=jwt, every request's RS256 token verified (issuer on loopback)",
            projects["jwt"],
            None,
            generated,
            variant="jwt",
            env=app_settings(issuer.url),
            headers=issuer.bearer(exp=int(time.time()) + 86_400),
        )
    apps |= {
        GENERATED_TX_READS: App(
            GENERATED_TX_READS,
            "generated app, default variant, DATABASE_AUTOCOMMIT_READS=false",
            default,
            None,
            generated,
            env={"DATABASE_AUTOCOMMIT_READS": "false"},
        ),
        GENERATED_UNQUEUED: App(
            GENERATED_UNQUEUED,
            "generated app, default variant, without its admission queue (apps/unqueued.py)",
            default,
            None,
            "unqueued:app",
            app_dir=BENCH / "apps",
        ),
        ARTICLE: App(
            ARTICLE,
            f"the article's pattern (SET search_path TO {SCHEMA})",
            default,
            SCHEMA,
            "article:app",
            app_dir=BENCH / "apps",
            release="/bench/release",
            variant="schema",
        ),
        CEILING: App(
            CEILING,
            "FastAPI + asyncpg pool + hand-written SQL",
            default,
            None,
            "ceiling:app",
            app_dir=BENCH / "apps",
        ),
    }
    if plan.levers:
        host = App(
            "levers",
            "bench/apps/levers.py",
            default,
            None,
            "levers:app",
            app_dir=BENCH / "apps",
            env={"BENCH_LEVERS": ",".join(plan.levers)},
            reads="/lever/no-db",
        )
        for name in plan.levers:
            apps[name] = App(
                name,
                f"lever {name}",
                default,
                None,
                "levers:app",
                reads=f"/lever/{name}",
                shares=host,
                scenarios=tuple(
                    scenario
                    for scenario, served in [
                        ("read", name not in LEVER_WRITE_ONLY),
                        ("write", name in LEVER_WRITES),
                    ]
                    if served
                ),
            )
    for name, (directory, env) in plan.extra.items():
        apps[name] = App(
            name,
            f"extra: {directory} {env or ''}".strip(),
            Path(directory),
            env.pop("DATABASE_SCHEMA", None),
            f"{PACKAGE}.main:app",
            env=env,
        )
    return [apps[name] for name in plan.apps]


def versions(project: Path) -> dict[str, str]:
    python = project / ".venv" / "bin" / "python"
    code = (
        "import importlib.metadata as m, platform, json;"
        "print(json.dumps({'python': platform.python_version(), **{p: m.version(p) for p in"
        " ('fastapi','starlette','pydantic','sqlalchemy','asyncpg','uvicorn','uvloop',"
        "'httptools')}}))"
    )
    return json.loads(run([str(python), "-c", code], project))


def machine() -> dict[str, str]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "system": platform.system(),
    }


def server_version(admin_url: str) -> str:
    return str(postgres.fetchval(admin_url, "SHOW server_version"))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _median_or_none(values: list[float | None]) -> float | None:
    counted = [v for v in values if v is not None]
    return round(median(counted), 2) if counted else None


def summarize(plan: Plan, samples: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for app in plan.apps:
        for scenario in plan.scenarios:
            for conns in plan.connections:
                mine = [
                    s
                    for s in samples
                    if s["app"] == app and s["scenario"] == scenario and s["connections"] == conns
                ]
                if not mine:  # a lever that does not serve this scenario
                    continue
                cells[f"{app}/{scenario}/{conns}"] = {
                    "app": app,
                    "scenario": scenario,
                    "connections": conns,
                    "rps": round(median([s["rps"] for s in mine]), 1),
                    "p50_ms": round(median([s["p50_ms"] for s in mine]), 3),
                    "p99_ms": round(median([s["p99_ms"] for s in mine]), 3),
                    "cpu_ms": round(median([s["cpu_ms"] for s in mine]), 4),
                    "connects_per_1k": _median_or_none([s.get("connects_per_1k") for s in mine]),
                    "errors": sum(s["errors"] for s in mine),
                    "rounds": len(mine),
                }
    ratios: dict[str, Any] = {}
    pairs = [
        (GENERATED, ARTICLE),
        (GENERATED, CEILING),
        (GENERATED_SCHEMA, ARTICLE),
        (GENERATED_SCHEMA, CEILING),
        (GENERATED_TASK, ARTICLE),
        (GENERATED_TASK, CEILING),
        (GENERATED_TENANT, ARTICLE),
        (GENERATED_TENANT, CEILING),
        (GENERATED_OTEL, GENERATED),
        (GENERATED_OTEL, CEILING),
        (GENERATED_JWT, GENERATED),
        (GENERATED_JWT, CEILING),
        (GENERATED_TX_READS, GENERATED),
        (GENERATED_UNQUEUED, GENERATED),
        (ARTICLE, CEILING),
        *[(name, CEILING) for name in [*plan.extra, *plan.levers]],
        *[(name, GENERATED) for name in plan.extra],
    ]
    for top, bottom in pairs:
        if top not in plan.apps or bottom not in plan.apps:
            continue
        for scenario in plan.scenarios:
            for conns in plan.connections:
                per_round, cpu_per_round = [], []
                for r in range(plan.rounds):
                    a = [
                        s
                        for s in samples
                        if (s["app"], s["scenario"], s["connections"], s["round"])
                        == (top, scenario, conns, r)
                    ]
                    b = [
                        s
                        for s in samples
                        if (s["app"], s["scenario"], s["connections"], s["round"])
                        == (bottom, scenario, conns, r)
                    ]
                    if a and b and b[0]["rps"]:
                        per_round.append(a[0]["rps"] / b[0]["rps"])
                    if a and b and b[0]["cpu_ms"]:
                        cpu_per_round.append(a[0]["cpu_ms"] / b[0]["cpu_ms"])
                if not per_round:
                    continue
                ratios[f"{top}/{bottom}/{scenario}/{conns}"] = {
                    "top": top,
                    "bottom": bottom,
                    "scenario": scenario,
                    "connections": conns,
                    "ratio": round(median(per_round), 3),
                    "per_round": [round(x, 3) for x in per_round],
                    "cpu_ratio": round(median(cpu_per_round), 3) if cpu_per_round else None,
                }
    return {"cells": cells, "ratios": ratios}


def markdown(result: dict[str, Any]) -> str:
    plan = result["plan"]
    summary = result["summary"]
    lines = [
        f"Run {result['started']} on {result['machine']['cpu']} "
        f"({result['machine']['cores']} cores, {result['machine']['system']} "
        f"{result['machine']['kernel']}), {result['pinning']}; PostgreSQL "
        f"{result['postgresql']}; "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        + f". {plan['rounds']} interleaved rounds of {plan['duration']:.0f} s per cell, "
        f"medians; {plan['items']} seeded items; wrk, 1 thread.",
        "",
        "| app | scenario | connections | req/s | server CPU ms/request | p50 ms | p99 ms"
        " | connects per 1k requests | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cell in summary["cells"].values():
        connects = cell.get("connects_per_1k")
        lines.append(
            f"| {cell['app']} | {cell['scenario']} | {cell['connections']} | "
            f"{cell['rps']:.0f} | {cell['cpu_ms']:.3f} | {cell['p50_ms']:.2f} | "
            f"{cell['p99_ms']:.2f} | {'-' if connects is None else f'{connects:g}'} | "
            f"{cell['errors']} |"
        )
    lines += [
        "",
        "| ratio (median of per-round ratios) | scenario | connections | req/s ratio"
        " | CPU/request ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for ratio in summary["ratios"].values():
        cpu = ratio.get("cpu_ratio")
        lines.append(
            f"| {ratio['top']} / {ratio['bottom']} | {ratio['scenario']} | "
            f"{ratio['connections']} | {ratio['ratio']:.2f} | "
            f"{cpu if cpu is None else format(cpu, '.2f')} |"
        )
    if result.get("statements"):
        lines += [
            "",
            "| app | statements per read | statements per write |",
            "| --- | ---: | ---: |",
        ]
        for name, counted in result["statements"].items():
            lines.append(f"| {name} | {counted['read']:g} | {counted['write']:g} |")
    if result.get("otlp_sink"):
        sink = result["otlp_sink"]
        lines += [
            "",
            f"The traced app exported {sink['exports']:,} batches of spans"
            f" ({sink['bytes'] / 1e6:.1f} MB of OTLP protobuf) to the stand-in collector.",
        ]
    lines += [
        "",
        f"| app | RSS before (MiB) | RSS after {plan['rss_requests']:,} requests (MiB) | growth |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, rss in result["rss"].items():
        lines.append(
            f"| {name} | {rss['before_kib'] / 1024:.1f} | {rss['after_kib'] / 1024:.1f} | "
            f"{rss['growth_percent']:+.1f}% |"
        )
    return "\n".join(lines) + "\n"


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    # SIGTERM (and SIGINT when started in the background) still stop the apps and
    # drop the databases.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    wrk_bin = check_wrk()
    server_pin, client_pin, pinning = cpu_layout()
    python = find_python(plan.python_version)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run_dir = plan.out / started.strftime("%Y%m%dT%H%M%SZ")
    workdir = run_dir / "build"
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(text, flush=True)

    say(f"bench: {pinning}; results in {run_dir}")
    admin_url, embedded = postgres.find_server(run_dir / "postgres")
    variants = needed_variants(plan)
    say(f"bench: baking and installing the variants: {', '.join(variants)}")
    projects = {
        name: bake(workdir, name, python, python_version=plan.python_version, **VARIANTS[name])
        for name in variants
    }
    found_versions = versions(projects["default"])
    pg_version = server_version(admin_url)
    sink, otlp_endpoint = start_otlp_sink(client_pin) if "otel" in projects else (None, "")
    issuer = Issuer() if "jwt" in projects else None  # serves its keys from this process
    apps = define_apps(plan, projects, otlp_endpoint, issuer)
    statements = (
        count_statements(apps, projects, plan, server_pin, logs, say)
        if plan.count_statements
        else {}
    )
    try:
        for app in apps:
            if app.shares is not None:  # a lever: its host serves it
                host = app.shares
                if host.process is None:
                    prepare_database(host, admin_url, projects["default"], plan.items)
                    start(host, admin_url, server_pin, logs)
                app.database, app.port, app.process = host.database, host.port, host.process
                app.admin_url = host.admin_url
                continue
            migrations = migrations_project(app, plan, projects)
            prepare_database(app, admin_url, migrations, plan.items)
            start(app, admin_url, server_pin, logs)
            say(f"bench: {app.name} on {app.base_url} (pid {app.process.pid})")  # type: ignore[union-attr]

        for app in apps:  # warm up, then the RSS reading over N requests
            for scenario in [x for x in plan.scenarios if x in app.scenarios]:
                wrk(
                    wrk_bin,
                    client_pin,
                    app,
                    scenario=scenario,
                    connections=max(plan.connections),
                    duration=plan.warmup_seconds,
                    items=plan.items,
                    others=apps,
                    settle=not plan.smoke,
                )
        rss: dict[str, Any] = {}
        for app in apps:
            make_room(app, apps)
            before = rss_kib(app)
            served = 0
            while served < plan.rss_requests:  # wrk cannot end early: short runs up to N
                served += wrk(
                    wrk_bin,
                    client_pin,
                    app,
                    scenario=app.scenarios[0],
                    connections=max(plan.connections),
                    duration=1 if plan.smoke else 5,
                    items=plan.items,
                    stop_after=plan.rss_requests - served,
                )["requests"]
            after = rss_kib(app)
            rss[app.name] = {
                "before_kib": before,
                "after_kib": after,
                "requests": served,
                "growth_percent": round(100 * (after - before) / before, 2),
            }
            say(
                f"bench: {app.name} RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB over "
                f"{served} requests"
            )

        samples: list[dict[str, Any]] = []
        for round_number in range(plan.rounds):
            order = apps[round_number % len(apps) :] + apps[: round_number % len(apps)]
            for scenario in plan.scenarios:
                for conns in plan.connections:
                    for app in [a for a in order if scenario in a.scenarios]:
                        sample = wrk(
                            wrk_bin,
                            client_pin,
                            app,
                            scenario=scenario,
                            connections=conns,
                            duration=plan.duration,
                            items=plan.items,
                            others=apps,
                            settle=not plan.smoke,
                        )
                        sample.update(
                            app=app.name, scenario=scenario, connections=conns, round=round_number
                        )
                        samples.append(sample)
                        say(
                            f"round {round_number + 1} {scenario:5} c={conns:<3} "
                            f"{app.name:18} {sample['rps']:9.1f} req/s  p50 "
                            f"{sample['p50_ms']:7.2f} ms  p99 {sample['p99_ms']:7.2f} ms"
                            f"  cpu {sample['cpu_ms']:.3f} ms"
                            + (
                                f"  connects/1k {sample['connects_per_1k']:g}"
                                if sample["connects_per_1k"] is not None
                                else ""
                            )
                            + (f"  errors {sample['errors']}" if sample["errors"] else "")
                        )
        for app in apps:
            if app.process is not None and app.process.poll() is not None:
                msg = f"{app.name} died:\n{app.log.read_text() if app.log else ''}"
                raise RuntimeError(msg)
    finally:
        for app in apps:
            stop(app)
        otlp_received = stop_otlp_sink(sink)
        if issuer is not None:
            issuer.close()
        if not plan.keep:
            hosts = {id(a.shares): a.shares for a in apps if a.shares is not None}
            for app in [*(a for a in apps if a.shares is None), *hosts.values()]:
                if app.database:
                    postgres.drop_database(admin_url, app.database)
            shutil.rmtree(workdir, ignore_errors=True)
        if embedded is not None:
            embedded.cleanup()  # type: ignore[attr-defined]

    result = {
        "started": started.isoformat(),
        "smoke": plan.smoke,
        "machine": machine(),
        "pinning": pinning,
        "postgresql": pg_version,
        "versions": found_versions,
        "plan": {
            "duration": plan.duration,
            "rounds": plan.rounds,
            "connections": plan.connections,
            "scenarios": plan.scenarios,
            "items": plan.items,
            "rss_requests": plan.rss_requests,
            "apps": {app.name: app.description for app in apps},
        },
        "samples": samples,
        "statements": statements,
        "otlp_sink": otlp_received,
        "rss": rss,
        "summary": summarize(plan, samples),
    }
    table = markdown(result)
    (run_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (run_dir / "results.md").write_text(table)
    shutil.copyfile(run_dir / "results.json", plan.out / "latest.json")
    shutil.copyfile(run_dir / "results.md", plan.out / "latest.md")
    say("")
    say(table)
    say(f"bench: wrote {run_dir / 'results.json'} and {run_dir / 'results.md'}")
    return 0
