"""A newcomer's first mistakes cost one line that says what to do, not a traceback.

``alembic upgrade head`` and the command line, run as programs: with the
placeholders of ``.env.example`` still in ``DATABASE_URL``, with nothing
listening, with a database that does not exist yet. ``dev`` creates that one.
In production the same failures stay loud.
"""

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from {{ cookiecutter.package_name }}.cli.dev import (
    database_ready,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.provision import (
    create_database_if_missing,
    database_exists,
)

PROJECT_ROOT = Path(__file__).parent.parent
PLACEHOLDERS = "postgresql://USER:PASSWORD@localhost:5432/app"
NOTHING_LISTENS = "postgresql://app@127.0.0.1:1/app"
COMMANDS = {
    "alembic": ["-m", "alembic", "upgrade", "head"],
    "cli": ["-m", "{{ cookiecutter.package_name }}.cli", "check-db"],
}


async def run(command: list[str], **environment: str) -> tuple[int, str]:
    """Run ``python`` with ``command`` in the project; its exit code and standard error."""
    env = {**os.environ, "ENVIRONMENT": "development", "TENANTS": "alpha", **environment}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, stderr.decode()


async def test_first_mistakes_are_one_line_with_the_fix_and_loud_in_production(
    settings: Settings,
) -> None:
    missing = settings.database_url_object.set(database=f"missing_{uuid.uuid4().hex[:8]}")
    cases = {
        (program, said): (COMMANDS[program], {"DATABASE_URL": url})
        for program in COMMANDS
        for url, said in (
            (PLACEHOLDERS, "USER:PASSWORD placeholders"),
            (NOTHING_LISTENS, "nothing listens there"),
        )
    }
    cases["alembic", f'database "{missing.database}" does not exist: create it'] = (
        COMMANDS["alembic"],
        {"DATABASE_URL": missing.render_as_string(hide_password=False)},
    )
    production = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql://app:a-real-secret@127.0.0.1:1/app",
        "DATABASE_ALLOW_PLAINTEXT": "true",
    }
    # Run at once: each is a fresh interpreter, most of it start-up time.
    results = await asyncio.gather(
        run(COMMANDS["alembic"], **production),
        *(run(command, **env) for command, env in cases.values()),
    )
    (loud_code, loud), *quiet = results
    for (program, said), (code, stderr) in zip(cases, quiet, strict=True):
        assert code != 0, program
        assert said in stderr, f"{program}: {stderr}"
        assert "Traceback" not in stderr, f"{program}: {stderr}"
    assert loud_code != 0
    assert "Traceback" in loud
    assert "a-real-secret" not in loud


async def drop_database(settings: Settings) -> None:
    """Drop ``settings``' database, from the server's maintenance database."""
    url = settings.database_url_object
    admin_url = url.set(database="postgres").render_as_string(hide_password=False)
    admin = settings.model_copy(update={"database_url": SecretStr(admin_url)})
    async with DatabaseSessionManager(admin, job=True) as manager:
        engine = manager.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            name = conn.dialect.identifier_preparer.quote(url.database or "")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def test_dev_creates_a_missing_database(settings: Settings) -> None:
    if settings.database_pooler == "pgbouncer":
        # It would wait out PgBouncer's server_login_retry (15 s) after the failed login.
        pytest.skip("creating databases is done on the server, not through PgBouncer")
    url = settings.database_url_object.set(database=f"fresh_{uuid.uuid4().hex[:8]}")
    fresh = settings.model_copy(
        update={"database_url": SecretStr(url.render_as_string(hide_password=False))}
    )
    try:
        assert not await database_exists(fresh)
        assert await database_ready(fresh)
        assert await database_exists(fresh)
        assert not await create_database_if_missing(fresh)  # already there
    finally:
        await drop_database(fresh)
