"""The compose stack's database roles, made on the test server by the project's own script.

``deploy/compose/roles.sh`` is what the postgres image runs when compose first
creates the database volume. Here it runs on the host against a fresh
database, with role names of its own (roles are server-wide) and password
files in place of compose's secrets; the roles are dropped afterwards.
"""

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests import postgres


@dataclass(frozen=True)
class Roles:
    """The owner (migrations) and the app (the running service)."""

    owner: str
    app: str

    def url(self, admin_url: str, database: str, role: str, password: str = "") -> str:
        """An asyncpg-driver URL of ``database`` for ``role``."""
        parts = urlsplit(admin_url)
        secret = f":{password}" if password else ""
        return (
            f"postgresql+asyncpg://{role}{secret}@{parts.hostname}:{parts.port or 5432}/{database}"
        )


@contextmanager
def compose_roles(project: Path, admin_url: str, database: str, scratch: Path) -> Iterator[Roles]:
    """Run the project's roles script on ``database``; drop the roles afterwards."""
    tag = uuid.uuid4().hex[:8]
    roles = Roles(owner=f"owner_{tag}", app=f"app_{tag}")
    owner_secret, app_secret = scratch / "owner-password", scratch / "app-password"
    owner_secret.write_text("owner-secret\n")
    app_secret.write_text("app-secret\n")
    parts = urlsplit(admin_url)
    env = {
        "PATH": "/usr/bin:/bin",
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_DB": database,
        "OWNER_ROLE": roles.owner,
        "APP_ROLE": roles.app,
        "OWNER_PASSWORD_FILE": str(owner_secret),
        "APP_PASSWORD_FILE": str(app_secret),
    }
    done = subprocess.run(
        ["sh", str(project / "deploy" / "compose" / "roles.sh")],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        yield roles
    finally:
        asyncio.run(_drop(admin_url, database, roles))


async def _drop(admin_url: str, database: str, roles: Roles) -> None:
    connection = await asyncpg.connect(postgres.with_database(admin_url, database), timeout=10)
    try:
        for role in (roles.app, roles.owner):  # one at a time: the owner's defaults name the app
            await connection.execute(f'DROP OWNED BY "{role}" CASCADE')
    finally:
        await connection.close()
    admin = await asyncpg.connect(postgres.plain_url(admin_url), timeout=10)
    try:
        await admin.execute(f'DROP ROLE "{roles.owner}"')
        await admin.execute(f'DROP ROLE "{roles.app}"')
    finally:
        await admin.close()
