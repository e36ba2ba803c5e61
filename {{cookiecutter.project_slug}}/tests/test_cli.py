"""The command line runs jobs with the same settings and sessions as the app."""

import asyncio
import os
import secrets
import sys

import pytest

from {{ cookiecutter.package_name }}.cli.__main__ import (
    main,
    run,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)


async def test_check_db_reports_server_schema_and_pool(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(["check-db"], settings) == 0
    out = capsys.readouterr().out
    assert "server:       PostgreSQL " in out
    assert "schema:       " in out
    assert f"Pool size: {settings.database_pool_size}" in out


async def test_check_db_fails_with_exit_1_and_never_shows_the_password(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    password = secrets.token_urlsafe(12)
    configured = settings.database_url_object.difference_update_query(["host"])
    unreachable = configured.set(host="127.0.0.1", port=1, password=password)
    broken = Settings(database_url=unreachable.render_as_string(hide_password=False))

    assert await run(["check-db"], broken) == 1
    captured = capsys.readouterr()
    assert "cannot reach postgresql+asyncpg://" in captured.err
    assert password not in captured.out + captured.err


async def test_the_module_runs_as_a_program(settings: Settings) -> None:
    url = settings.database_url_object.render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "{{ cookiecutter.package_name }}.cli",
        "check-db",
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"PostgreSQL" in out


async def test_the_command_line_runs_without_fcntl_as_on_windows() -> None:
    """Windows has no ``fcntl``: only the embedded server (POSIX-only) may need it."""
    code = (
        "import sys; sys.modules['fcntl'] = None; sys.argv = ['cli', '--help']\n"
        f"from {main.__module__} import main\n"
        "main()"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"check-db" in out
