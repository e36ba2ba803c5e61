"""A real PgBouncer in transaction mode, on a free loopback port, for the tests.

It fronts the tests' PostgreSQL server for every database (``* = host=...``),
trusts the users it lists, and runs as the ``postgres`` user when the tests run
as root (PgBouncer refuses to run as root). Its config, log and pid file live
in a temporary directory that ``stop()`` removes.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.faults.service import free_port
from tests.prerequisites import require


class PgBouncer:
    """``pgbouncer`` with ``pool_mode = transaction`` in front of ``server_url``."""

    def __init__(self, server_url: str, pool_size: int = 20) -> None:
        self.binary = str(require("pgbouncer"))
        self.server = urlsplit(server_url)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        user = self.server.username or "postgres"
        (self.root / "userlist.txt").write_text(f'"{user}" ""\n')
        self.config = self.root / "pgbouncer.ini"
        self.config.write_text(
            "[databases]\n"
            f"* = host={self.server.hostname} port={self.server.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.root / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 1000\n"
            f"default_pool_size = {pool_size}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\n"
            f"pidfile = {self.root / 'pgbouncer.pid'}\n"
        )
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            for path in [self.root, *self.root.iterdir()]:
                shutil.chown(path, "postgres")

    def start(self) -> None:
        """Start in the background and wait until it accepts connections."""
        command = [self.binary, "-d", str(self.config)]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        msg = f"PgBouncer did not listen on {self.port}:\n{self.log()}"
        raise RuntimeError(msg)

    def url(self, database: str, *, driver: str = "postgresql") -> str:
        """A URL to ``database`` through PgBouncer."""
        netloc = f"{self.server.username or 'postgres'}@127.0.0.1:{self.port}"
        return urlunsplit((driver, netloc, f"/{database}", "", ""))

    def log(self) -> str:
        """What PgBouncer logged so far."""
        path = self.root / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Shut down (SIGINT: at once) and remove every file."""
        pidfile = self.root / "pgbouncer.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
