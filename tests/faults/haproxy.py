"""HAProxy (Debian's package) as the load balancer in front of a service's instances.

It stands in for kube-proxy, an ingress or a cloud load balancer: it sends
requests to the servers its health checks find up, and, like kube-proxy,
never retries a request that failed (``retries 0``, no redispatch). Its
runtime API (a Unix socket) says which servers it considers up.
"""

import asyncio
import csv
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.faults.service import free_port

CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check {check_timeout}s
    retries 0

frontend service
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET {check_path}
    http-check expect status 200
    default-server check inter {interval}s fall {fall} rise 1
{servers}
"""


def haproxy_bin() -> str:
    """The haproxy executable, or fail saying how to install it."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if not found:
        msg = "HAProxy is needed: apt-get install haproxy (.ci/run installs it)"
        raise AssertionError(msg)
    return found


@dataclass
class LoadBalancer:
    """A running HAProxy with one backend of fixed server slots (name -> port)."""

    process: subprocess.Popen[bytes]
    port: int
    socket: Path
    servers: dict[str, int]
    log: Path

    @classmethod
    def start(
        cls,
        directory: Path,
        servers: dict[str, int],
        *,
        check_path: str,
        interval: float,
        fall: int,
        check_timeout: float,
    ) -> "LoadBalancer":
        """Start HAProxy checking ``check_path`` every ``interval`` s, down after ``fall``."""
        port = free_port()
        socket = directory / "haproxy.sock"
        config = directory / "haproxy.cfg"
        config.write_text(
            CONFIG.format(
                socket=socket,
                port=port,
                check_path=check_path,
                interval=interval,
                fall=fall,
                check_timeout=check_timeout,
                servers="\n".join(
                    f"    server {name} 127.0.0.1:{server_port}"
                    for name, server_port in servers.items()
                ),
            )
        )
        check = subprocess.run(
            [haproxy_bin(), "-c", "-f", str(config)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr
        log = directory / "haproxy.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [haproxy_bin(), "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        balancer = cls(process, port, socket, servers, log)
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return balancer

    @property
    def url(self) -> str:
        """Where clients send their requests."""
        return f"http://127.0.0.1:{self.port}"

    async def states(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it: UP, DOWN, or on its way ("UP 1/2")."""
        reader, writer = await asyncio.open_unix_connection(self.socket)
        writer.write(b"show stat\n")
        await writer.drain()
        text = (await reader.read()).decode()
        writer.close()
        await writer.wait_closed()
        rows = csv.DictReader(text.removeprefix("# ").splitlines())
        return {
            row["svname"]: row["status"]
            for row in rows
            if row.get("pxname") == "instances" and row["svname"] in self.servers
        }

    async def wait_for(self, wanted: dict[str, str], timeout: float) -> None:
        """Wait until each named server is in the wanted state."""
        deadline = time.monotonic() + timeout
        while True:
            states = await self.states()
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            if time.monotonic() > deadline:
                msg = f"HAProxy did not reach {wanted} within {timeout} s: {states}"
                raise AssertionError(msg)
            await asyncio.sleep(0.1)

    def stop(self) -> str:
        """Stop HAProxy; return its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")
