"""A PostgreSQL that speaks only TLS with SCRAM passwords, as managed databases do.

``make_ca`` and ``issue_server_certificate`` use openssl; ``TlsCluster`` is a
``ThrowawayCluster`` started with ``ssl = on``, that certificate, and a
``pg_hba.conf`` that allows TCP only over TLS (``hostssl ... scram-sha-256``),
plus the ``postgres`` superuser over its Unix socket for the test's own admin.
"""

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.faults.cluster import ThrowawayCluster

HBA = (
    "local all postgres trust\n"
    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    "hostssl all all ::1/128 scram-sha-256\n"
)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its certificate (what clients trust) and key."""

    certificate: Path
    key: Path


def make_ca(directory: Path, name: str) -> Authority:
    """A new CA named ``name`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key, certificate = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(key), "-out", str(certificate), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return Authority(certificate, key)


def issue_server_certificate(ca: Authority, directory: Path, dns_name: str) -> tuple[Path, Path]:
    """A server certificate for ``dns_name`` only (no IP address), signed by ``ca``."""
    key, request, certificate = (directory / f"server.{s}" for s in ("key", "csr", "crt"))
    extensions = directory / "server.ext"
    extensions.write_text(
        f"subjectAltName=DNS:{dns_name}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
        "-subj", f"/CN={dns_name}", cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.certificate), "-CAkey", str(ca.key),
        "-CAcreateserial", "-days", "2", "-out", str(certificate), "-extfile", str(extensions),
        cwd=directory,
    )  # fmt: skip
    return certificate, key


class TlsCluster:
    """A throwaway server reachable over TCP only with TLS and a SCRAM password."""

    def __init__(self, certificate: Path, key: Path) -> None:
        """Create and start the server with this certificate."""
        self.cluster = ThrowawayCluster()
        for source, name in ((certificate, "server.crt"), (key, "server.key")):
            target = self.cluster.root / name
            shutil.copy(source, target)
            target.chmod(0o600)
            if self.cluster.as_postgres:
                shutil.chown(target, "postgres")
        hba = self.cluster.data / "pg_hba.conf"
        hba.write_text(HBA)
        if self.cluster.as_postgres:
            shutil.chown(hba, "postgres")
        self.cluster.start(
            ssl="on",
            ssl_cert_file=str(self.cluster.root / "server.crt"),
            ssl_key_file=str(self.cluster.root / "server.key"),
            password_encryption="scram-sha-256",
        )

    @property
    def port(self) -> int:
        """The TCP port (TLS only)."""
        return self.cluster.port

    @property
    def log(self) -> Path:
        """The server's log."""
        return self.cluster.log

    async def admin(self, *statements: str) -> list[asyncpg.Record]:
        """Run ``statements`` as the superuser over the Unix socket; the last one's rows."""
        connection = await asyncpg.connect(
            host=str(self.cluster.socket_dir), port=self.port, user="postgres", database="postgres"
        )
        try:
            rows: list[asyncpg.Record] = []
            for statement in statements:
                rows = await connection.fetch(statement)
            return rows
        finally:
            await connection.close()

    def run(self, *statements: str) -> list[asyncpg.Record]:
        """``admin`` from synchronous code."""
        return asyncio.run(self.admin(*statements))

    def destroy(self) -> None:
        """Stop the server and remove its files."""
        self.cluster.destroy()


def readable_by_others(path: Path) -> Path:
    """Let the test's app processes read ``path`` (when the tests run as root, they do)."""
    path.chmod(0o644)
    if os.geteuid() == 0:
        path.parent.chmod(0o755)
    return path
