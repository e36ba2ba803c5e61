"""A throwaway PostgreSQL cluster a test may stop and start: never the shared server.

It runs from a data directory of its own, on its own port and socket
directory, with trust authentication on loopback. PostgreSQL refuses to run as
root, so when the tests run as root every server command runs as the
``postgres`` OS user (``runuser``), in a directory that user owns.
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.faults.service import free_port
from tests.prerequisites import require


class ThrowawayCluster:
    """initdb + pg_ctl start/stop in a temporary directory, removed by ``destroy()``."""

    def __init__(self, standby_of: "ThrowawayCluster | None" = None) -> None:
        """Create the cluster (not started): a new one, or a streaming standby of another.

        A standby is a ``pg_basebackup -R`` of the running ``standby_of``: it
        follows its primary as soon as it starts.
        """
        self.bindir = require("postgresql")
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.socket_dir.mkdir()
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self.port = free_port()
        if standby_of is None:
            self._server(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
            )
        else:
            self._server(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres",
                "-D", str(self.data), "-R", "-X", "stream", "--no-sync",
            )  # fmt: skip

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "server.log"

    @property
    def admin_url(self) -> str:
        """The maintenance database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _server(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=self.root, timeout=120
        )
        if result.returncode != 0:
            msg = (
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
            raise RuntimeError(msg)

    def start(self, **settings: str) -> None:
        """Start the server (with extra ``settings``) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.socket_dir} -c fsync=off"
        ) + "".join(f" -c {name}={value}" for name, value in settings.items())
        self._server(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
            "-l", str(self.log), "-o", options,
        )  # fmt: skip

    def promote(self) -> None:
        """Make this standby a primary, and wait until it takes writes."""
        self._server("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and disconnect every client)."""
        self._server("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode)

    def destroy(self) -> None:
        """Stop the server if it runs and remove every file of the cluster."""
        with contextlib.suppress(RuntimeError):  # not running
            self.stop("immediate")
        for _ in range(3):
            shutil.rmtree(self.root, ignore_errors=True)
            if not self.root.exists():
                return
            time.sleep(0.5)
