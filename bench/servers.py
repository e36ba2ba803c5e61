"""The servers under test: baked, installed, given a seeded database, started and stopped."""

import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench import ROOT
from bench.plan import (
    BENCH,
    PACKAGE,
    Plan,
)
from tests import bytecode, postgres
from tests.tools import TLS, clean_env, uv_bin


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
    scenarios: tuple[str, ...] = ("read", "write", "list")  # what it serves
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


def bake(workdir: Path, name: str, python: str, **answers: str) -> Path:
    """Render the template into ``workdir/name`` and install it; return the project dir."""
    out = workdir / name
    shutil.rmtree(out, ignore_errors=True)
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    extra = [f"{key}={value}" for key, value in answers.items()]
    run([str(cookiecutter), "--no-input", "-o", str(out), str(ROOT), *extra], ROOT)
    (project,) = [p for p in out.iterdir() if p.is_dir()]
    install(project, python)
    return project


def install(project: Path, python: str) -> None:
    """``uv sync`` the project with ``python``; its environment takes the filed bytecode."""
    run([uv_bin(), "sync", "--quiet", "--python", python], project)
    bytecode.adopt(project / ".venv")


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
            answer = httpx.get(
                f"{app.base_url}{app.reads}/1", headers=app.headers, timeout=2, verify=TLS
            )
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


def versions(project: Path) -> dict[str, str]:
    """The versions that matter in ``project``'s environment, and whether compiled code runs.

    SQLAlchemy ships a pure-Python wheel beside its compiled ones; without its
    Cython extensions, result rows and caching cost noticeably more.
    """
    python = project / ".venv" / "bin" / "python"
    code = (
        "import importlib.metadata as m, platform, json;"
        "from sqlalchemy.util import _has_cython;"
        "print(json.dumps({'python': platform.python_version(), **{p: m.version(p) for p in"
        " ('fastapi','starlette','pydantic','sqlalchemy','asyncpg','uvicorn','uvloop',"
        "'httptools')}, 'sqlalchemy compiled extensions':"
        " 'loaded' if _has_cython.HAS_CYEXTENSION else 'NOT loaded'}))"
    )
    return json.loads(run([str(python), "-c", code], project))
