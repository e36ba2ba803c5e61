"""A PostgreSQL server for the tests, and throwaway databases on it.

Where the server comes from, in order: ``TEST_DATABASE_URL``; the server on
127.0.0.1:5432 (user postgres) if it answers; an embedded server from the
``pgserver`` wheel, with its data directory under the test run's temp dir.
"""

import asyncio
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW_TO_PROVIDE = (
    "No PostgreSQL server for the tests. Start one on 127.0.0.1:5432 (user postgres, "
    "trust auth), or set TEST_DATABASE_URL=postgresql://user:password@host:port/postgres "
    "to a server where that user may create databases, or install the 'pgserver' package."
)


def plain_url(url: str) -> str:
    """The URL with the scheme asyncpg itself understands."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def with_database(url: str, database: str, *, driver: str = "postgresql") -> str:
    """``url`` pointing at another database (and optionally another scheme)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=driver, path=f"/{database}"))


async def _answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(plain_url(url), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


def find_server(scratch: Path) -> tuple[str, object | None]:
    """An admin URL to a server, and the embedded server object if one was started."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        if not asyncio.run(_answers(configured)):
            msg = f"TEST_DATABASE_URL is set but does not answer. {HOW_TO_PROVIDE}"
            raise RuntimeError(msg)
        return plain_url(configured), None
    if asyncio.run(_answers(LOCAL_SERVER)):
        return LOCAL_SERVER, None
    try:
        import pgserver  # only needed when no server runs
    except ImportError as exc:
        raise RuntimeError(HOW_TO_PROVIDE) from exc
    server = pgserver.get_server(scratch / "pgdata", cleanup_mode="stop")
    return server.get_uri(), server


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(plain_url(url), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def fetchval(url: str, query: str, *args: object) -> object:
    """The first value of ``query``'s first row, on a connection of its own."""

    async def run() -> object:
        connection = await asyncpg.connect(plain_url(url), timeout=10)
        try:
            return await connection.fetchval(query, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


def create_database(admin_url: str, name: str | None = None) -> str:
    """Create an empty database (with a fresh name unless given); return its name."""
    name = name or f"tpl_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return name


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database made by ``create_database``, closing its connections."""
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def names_by_schema(url: str, query: str, *args: object) -> dict[str, set[str]]:
    """Run ``query`` (rows of schema, name) and group the names by schema."""
    connection = await asyncpg.connect(plain_url(url), timeout=10)
    try:
        rows = await connection.fetch(query, *args)
    finally:
        await connection.close()
    found: dict[str, set[str]] = {}
    for schema, name in rows:
        found.setdefault(schema, set()).add(name)
    return found
