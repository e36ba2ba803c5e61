"""A generated variant, installed once, served as many times as the tests need.

``InstalledVariant`` bakes a variant and installs it with ``uv sync`` (its own
Python). ``serve()`` migrates a database and starts ``fastapi run`` with the
settings a test chooses; ``RunningApp`` stops it and hands back its log.
"""

import asyncio
import keyword
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from cookiecutter.main import cookiecutter

from tests import postgres
from tests.template import ROOT
from tests.tools import TLS, clean_env, find_python, run, uv_bin, uv_sync

# What a healthy app never writes to its log, whatever faults it went through.
LEAK_WARNINGS = ("non-checked-in connection", "garbage collector")


def _ephemeral_start() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's default without /proc)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out by this process, never handed out twice.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on, for a server started next.

    It is picked below the kernel's ephemeral range: a port the kernel hands
    out (``bind(0)``) may go to some client's outgoing connection before the
    server binds it, and that server then fails to start. Each xdist worker
    picks from its own slice of ports, so two workers never pick the same one.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = min(_ephemeral_start(), 32768)
    slice_size = (first - 10000) // 8
    start = 10000 + (int(worker) % 8 if worker.isdigit() else 0) * slice_size
    candidates = list(range(start, start + slice_size))
    random.shuffle(candidates)
    for port in candidates:
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    msg = f"no free port left in {start}-{start + slice_size - 1}"
    raise RuntimeError(msg)


@dataclass
class InstalledVariant:
    """A baked and installed variant of the template."""

    answers: dict[str, str]
    project: Path
    slug: str
    package: str

    @classmethod
    def install(cls, answers: dict[str, str], output_dir: Path) -> "InstalledVariant":
        """Bake ``answers`` under ``output_dir`` and ``uv sync`` it with its own Python."""
        python = find_python(answers.get("python_version", "3.12"))
        project = Path(
            cookiecutter(
                str(ROOT), no_input=True, extra_context=answers, output_dir=str(output_dir)
            )
        )
        uv_sync(project, python)
        return cls.load(answers, project)

    @classmethod
    def load(cls, answers: dict[str, str], project: Path) -> "InstalledVariant":
        """The variant ``install`` made of ``answers`` in ``project``."""
        package = next(
            p.name
            for p in (project / "src").iterdir()
            if p.is_dir() and p.name.isidentifier() and not keyword.iskeyword(p.name)
        )
        return cls(answers, project, project.name, package)

    @property
    def tenant(self) -> str | None:
        """The tenant the faults work in, for a schema-per-tenant variant."""
        return "acme" if self.answers.get("tenancy") == "schema-per-tenant" else None

    @property
    def schema(self) -> str:
        """The schema the tables live in."""
        if self.tenant:
            return f"tenant_{self.tenant}"
        return self.answers.get("database_schema") or "public"

    @property
    def settings(self) -> dict[str, str]:
        """Environment every command and server of this variant needs."""
        return {"TENANTS": self.tenant} if self.tenant else {}

    @property
    def headers(self) -> dict[str, str]:
        """Headers every request to this variant's /api routes needs."""
        return {"X-Tenant": self.tenant} if self.tenant else {}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the project's environment; fail if it fails."""
        return run([uv_bin(), "run", "--no-sync", *args], self.project, **env)

    def try_run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the project's environment; return whatever happened."""
        return subprocess.run(
            [uv_bin(), "run", "--no-sync", *args],
            cwd=self.project,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def migrate(self, database_url: str) -> None:
        """``alembic upgrade head`` on ``database_url`` (an asyncpg URL)."""
        self.run("alembic", "upgrade", "head", DATABASE_URL=database_url, **self.settings)

    @contextmanager
    def serve(
        self, log: Path, database_url: str, *, command: list[str] | None = None, **settings: str
    ) -> Iterator["RunningApp"]:
        """Serve the app with these settings until the block ends.

        ``command`` (default ``fastapi run``) is what ``uv run`` starts; it must
        take ``--host`` and ``--port``.
        """
        app = RunningApp.start(self, log, database_url, settings, command)
        try:
            yield app
        finally:
            app.stop()


@dataclass
class RunningApp:
    """One ``fastapi run`` process of an installed variant."""

    variant: InstalledVariant
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    exit_code: int | None = field(default=None)

    @classmethod
    def start(
        cls,
        variant: InstalledVariant,
        log: Path,
        database_url: str,
        settings: dict[str, str],
        server: list[str] | None = None,
    ) -> "RunningApp":
        """Start the server and wait until ``/health/live`` answers."""
        port = free_port()
        env = clean_env(DATABASE_URL=database_url, **{**variant.settings, **settings})
        command = [uv_bin(), "run", "--no-sync", *(server or ["fastapi", "run"])]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                cwd=variant.project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        app = cls(variant, process, f"http://127.0.0.1:{port}", log)
        app.wait_until_live()
        return app

    def wait_until_live(self, timeout: float = 60) -> None:
        """Wait for ``/health/live``; fail with the log if the app exits or hangs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"the app exited with {self.process.returncode}:\n{self.output()}"
                raise AssertionError(msg)
            try:
                live = httpx.get(f"{self.base_url}/health/live", timeout=2, verify=TLS)
                if live.status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        msg = f"the app did not start within {timeout} s:\n{self.output()}"
        raise AssertionError(msg)

    def wait_for_workers(self, workers: int, timeout: float = 60) -> None:
        """Wait until ``workers`` workers have started their app.

        ``/health/live`` answers once one has: under load the others may still
        be importing theirs, and the connections opened meanwhile all go to
        the first.
        """
        deadline = time.monotonic() + timeout
        while self.output().count("Application startup complete") < workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                msg = f"{workers} workers did not start within {timeout} s:\n{self.output()}"
                raise AssertionError(msg)
            time.sleep(0.1)

    def output(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")

    @property
    def pid(self) -> int:
        """The server's process id (the same one for the app's whole life)."""
        return self.process.pid

    def stop(self) -> str:
        """Stop with SIGINT (as a deployment would); return the whole log."""
        if self.exit_code is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.exit_code = self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.exit_code = self.process.wait()
        return self.output()

    def assert_clean_log(self, *, allow: tuple[str, ...] = ()) -> str:
        """Stop, then check the log: clean exit, no traceback, no leaked connection."""
        text = self.stop()
        assert self.exit_code == 0, text
        assert "Application shutdown complete" in text, text
        for unwanted in ("Traceback", "ERROR", *LEAK_WARNINGS):
            if unwanted not in allow:
                assert unwanted not in text, f"{unwanted!r} in the log:\n{text}"
        return text


@dataclass
class Database:
    """A fresh, migrated database for one test, and admin access to it."""

    admin_url: str
    name: str
    variant: InstalledVariant

    @property
    def app_url(self) -> str:
        """The URL the app connects with."""
        return postgres.with_database(self.admin_url, self.name, driver="postgresql+asyncpg")

    @property
    def plain_url(self) -> str:
        """The URL for asyncpg itself."""
        return postgres.with_database(self.admin_url, self.name)

    async def connect(self) -> asyncpg.Connection:
        """An admin connection to this database, in the app's schema."""
        return await asyncpg.connect(
            self.plain_url, server_settings={"search_path": self.variant.schema}, timeout=10
        )

    async def app_backends(self) -> list[asyncpg.Record]:
        """The app's server backends (by its application_name) on this database."""
        connection = await asyncpg.connect(self.plain_url, timeout=10)
        try:
            return await connection.fetch(
                "SELECT pid, state, state_change, wait_event_type FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name = $2",
                self.name,
                self.variant.slug,
            )
        finally:
            await connection.close()

    async def terminate_app_backends(self) -> int:
        """``pg_terminate_backend`` on every connection the app holds; how many.

        Each call waits (up to 5 s) until the backend has exited, so the
        connections are dead, not dying, when it returns.
        """
        connection = await asyncpg.connect(self.plain_url, timeout=10)
        try:
            killed = await connection.fetch(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = $1 AND application_name = $2",
                self.name,
                self.variant.slug,
            )
        finally:
            await connection.close()
        return sum(1 for row in killed if row[0])

    async def item_names(self) -> list[str]:
        """Every item name in the table, duplicates included."""
        connection = await self.connect()
        try:
            return [row["name"] for row in await connection.fetch("SELECT name FROM items")]
        finally:
            await connection.close()


@contextmanager
def migrated_database(admin_url: str, variant: InstalledVariant) -> Iterator[Database]:
    """A new database migrated to head, dropped afterwards."""
    name = postgres.create_database(admin_url)
    try:
        database = Database(admin_url, name, variant)
        variant.migrate(database.app_url)
        yield database
    finally:
        postgres.drop_database(admin_url, name)


async def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll an async predicate until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return bool(await predicate())
