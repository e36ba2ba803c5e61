"""A generated project on a machine with no PostgreSQL: the embedded server.

Everything runs in a network namespace of its own, where nothing listens on
localhost:5432, with neither ``DATABASE_URL`` nor ``TEST_DATABASE_URL`` set:
what a fresh laptop sees. The generated test suite passes there; the
documented dev command serves ``/health/ready`` 200, a second one started
beside it shares the server, stopping the last one stops the server, data
survives a restart, and a run killed with SIGKILL leaves nothing that blocks
the next one. Where a server is configured, the same command creates the
database if it is missing, migrates it and serves.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from tests import postgres
from tests.faults.service import InstalledVariant, free_port
from tests.tools import clean_env, run, uv_bin

PROBE = """
import json, sys, urllib.error, urllib.request
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
request = urllib.request.Request(url, method=method, data=body.encode() or None,
                                 headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=3) as response:
        print(json.dumps([response.status, response.read().decode()]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, error.read().decode()]))
except OSError as error:
    print(json.dumps([0, str(error)]))
"""


def namespace_env() -> dict[str, str]:
    env = clean_env()
    for name in ("DATABASE_URL", "TEST_DATABASE_URL", "ENVIRONMENT"):
        env.pop(name, None)
    return env


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace with only a loopback interface: no server on 5432."""
    name = f"devdb{os.getpid()}"
    if shutil.which("ip") is None:
        pytest.skip("network namespaces are unavailable here: no `ip` command (iproute2)")
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"network namespaces are unavailable here: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def no_embedded_postgres_left(project: Path, timeout: float = 15) -> bool:
    """Whether the project's embedded server is gone, waiting a little for it to exit.

    The postmaster removes its pid file just before it exits, so a run that
    stopped it may return an instant before the process is gone. In these
    namespaces the lock file of its socket stays behind, naming its pid: a
    server started while that pid still exists, even as a zombie, refuses to
    start ("lock file already exists"), so that pid must be gone too.
    """
    deadline = time.monotonic() + timeout
    while embedded_postgres_pids(project) or socket_lock_pids(project):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def socket_lock_pids(project: Path) -> list[int]:
    """Existing processes named by socket lock files of the project's embedded server."""
    pgdata = str(project / ".devdb" / "pgdata")
    pids = []
    runtime = platformdirs.user_runtime_path("python_PostgresServer")  # the package's folder
    for lock in runtime.glob("*/.s.PGSQL.*.lock"):
        try:
            lines = lock.read_text().splitlines()
        except OSError:
            continue
        if len(lines) > 1 and lines[1] == pgdata and Path(f"/proc/{lines[0]}").exists():
            pids.append(int(lines[0]))
    return pids


def embedded_postgres_pids(project: Path) -> list[int]:
    """Processes whose command line names this project's embedded data folder."""
    marker = str(project / ".devdb" / "pgdata").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"postgres" in cmdline:
                pids.append(int(entry.name))
    return pids


class DevServer:
    """``uv run <slug> dev``, inside the namespace if one is given."""

    def __init__(
        self, variant: InstalledVariant, namespace: str | None, log: Path, **settings: str
    ) -> None:
        self.variant = variant
        self.prefix = ["ip", "netns", "exec", namespace] if namespace else []
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*self.prefix, uv_bin(), "run", "--no-sync",
                 variant.slug, "dev", "--port", str(self.port)],
                cwd=variant.project, env={**namespace_env(), **settings}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def request(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        python = str(self.variant.project / ".venv" / "bin" / "python")
        url = f"http://127.0.0.1:{self.port}{path}"
        payload = "" if body is None else json.dumps(body)
        out = subprocess.run(
            [*self.prefix, python, "-c", PROBE, method, url, payload],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        status, text = json.loads(out.stdout)
        return status, text

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dev exited:\n{self.log.read_text()}"
            if self.request("GET", "/health/ready")[0] == 200:
                return
            time.sleep(0.5)
        msg = f"not ready within {timeout} s:\n{self.log.read_text()}"
        raise AssertionError(msg)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """SIGTERM to the command; SIGINT to its process group, as Ctrl-C sends it."""
        if self.process.poll() is not None:
            return self.process.returncode
        if sig == signal.SIGINT:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def machine_home() -> Iterator[Path]:
    """Where the fresh machine's project lives: outside pytest's temporary root.

    As root, the embedded server runs as a user of its own, and opens the
    folders above its data to that user. Every pytest process that starts
    using the root (a generated suite on another worker) makes the root
    private again, and the server then lost its data folder at its next
    checkpoint ("could not open file .../global/pg_control: Permission denied").
    """
    home = Path(tempfile.mkdtemp(prefix="fresh-machine-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.boot
def test_a_fresh_machine_serves_and_tests_with_the_embedded_server(
    namespace: str, machine_home: Path, tmp_path: Path, figure
) -> None:
    started = time.monotonic()
    variant = InstalledVariant.install({"python_version": "3.12"}, machine_home)
    project = variant.project
    in_namespace = ["ip", "netns", "exec", namespace]
    probe = "import socket; socket.create_connection(('localhost', 5432), 1)"
    refused = subprocess.run(
        [*in_namespace, str(project / ".venv/bin/python"), "-c", probe], capture_output=True
    )
    assert refused.returncode != 0, "something answers on localhost:5432 in the namespace"

    # The generated suite, with no test database configured.
    tests = subprocess.run(
        [*in_namespace, uv_bin(), "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=namespace_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout, tests.stdout
    assert " failed" not in tests.stdout, tests.stdout
    # The embedded server's own lifecycle test runs here (it skips where a server is configured).
    skipped = [line for line in tests.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skipped if "test_devdb" in line], skipped
    assert no_embedded_postgres_left(project), "the tests left the server running"

    # The dev command; a second one beside it shares the server.
    first = DevServer(variant, namespace, tmp_path / "dev1.log")
    first.wait_ready()
    assert "embedded PostgreSQL" in first.log.read_text()
    created = first.request("POST", "/api/items", {"name": "kept"})
    assert created[0] == 201, created
    second = DevServer(variant, namespace, tmp_path / "dev2.log")
    second.wait_ready()
    assert second.stop() == 0, second.log.read_text()
    assert first.request("GET", "/health/ready")[0] == 200, "the second run stopped the server"
    assert embedded_postgres_pids(project)
    assert first.stop() == 0, first.log.read_text()
    assert "Application shutdown complete" in first.log.read_text()
    assert no_embedded_postgres_left(project), "the server outlived the last dev run"

    # Killed outright: the server stays up; the next run takes it over, then stops it.
    killed = DevServer(variant, namespace, tmp_path / "dev3.log")
    killed.wait_ready()
    children = run(["pgrep", "-f", f"fastapi dev --host 127.0.0.1 --port {killed.port}"], project)
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed.process.wait()
    for pid in children.stdout.split():
        os.killpg(int(pid), signal.SIGKILL)  # the app server too, as a crash would take it
    assert embedded_postgres_pids(project), "nothing left to recover"
    again = DevServer(variant, namespace, tmp_path / "dev4.log")
    again.wait_ready()
    listed = again.request("GET", "/api/items")
    assert [item["name"] for item in json.loads(listed[1])["items"]] == ["kept"], listed
    # Ctrl-C: a clean stop. `dev` reports the shell's 130 when uvicorn re-raises SIGINT
    # once shut down, 0 when its reloader exits on its own first (seen under load).
    assert again.stop(signal.SIGINT) in (0, 130), again.log.read_text()
    assert "Application shutdown complete" in again.log.read_text()
    assert no_embedded_postgres_left(project), embedded_postgres_pids(project)
    assert (project / ".devdb" / "pgdata" / "PG_VERSION").exists()
    assert ".devdb/" in (project / ".gitignore").read_text().splitlines()
    figure(
        f"embedded server: tests, two dev runs, a killed run: {time.monotonic() - started:.0f} s"
    )


@pytest.mark.boot
def test_dev_creates_a_configured_database_migrates_it_and_serves(
    install_variant, pg_admin_url: str, tmp_path: Path
) -> None:
    """The README's run command where a server is configured, its database not made yet."""
    variant: InstalledVariant = install_variant({})
    name = f"dev_{uuid.uuid4().hex[:8]}"
    url = postgres.with_database(pg_admin_url, name, driver="postgresql+asyncpg")
    try:
        server = DevServer(variant, None, tmp_path / "dev.log", DATABASE_URL=url)
        try:
            server.wait_ready()
            created = server.request("POST", "/api/items", {"name": "first"})
        finally:
            code = server.stop(signal.SIGINT)
        log = server.log.read_text()
        assert created[0] == 201, (created, log)
        assert f"Created the database {name}" in log, log
        assert "Running upgrade" in log, log
        assert "Traceback" not in log, log
        assert code in (0, 130), log  # see the embedded test: either is a clean Ctrl-C
    finally:
        postgres.drop_database(pg_admin_url, name)
