"""The embedded PostgreSQL: only in development with nothing configured, shared, kept."""

import asyncio
import os
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.devdb import (
    default_address_answers,
    embedded_database,
    nothing_configured,
)

URL = "postgresql+asyncpg://svc:a-real-secret@127.0.0.1:1/app"


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``DATABASE_URL`` or ``ENVIRONMENT`` in the environment, no ``.env``."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.usefixtures("bare")
def test_development_with_nothing_configured_may_use_it() -> None:
    assert nothing_configured(Settings())


@pytest.mark.usefixtures("bare")
def test_a_database_url_in_the_environment_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", URL)
    assert not nothing_configured(Settings())


def test_a_database_url_in_dot_env_turns_it_off(bare: Path) -> None:
    (bare / ".env").write_text(f"DATABASE_URL={URL}\n")
    assert not nothing_configured(Settings())


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_another_environment_turns_it_off(
    bare: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == ".env":
        (bare / ".env").write_text("ENVIRONMENT=test\n")
    else:
        monkeypatch.setenv("ENVIRONMENT", "test")
    assert not nothing_configured(Settings())
    # Production without a DATABASE_URL does not even load its settings.
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        Settings()
    monkeypatch.setenv("DATABASE_URL", URL)
    assert not nothing_configured(Settings())


def test_default_address_probe_sees_a_listener_and_a_closed_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        listening = Settings(database_url=f"postgresql+asyncpg://svc@127.0.0.1:{port}/app")
        assert default_address_answers(listening)
    assert not default_address_answers(Settings(database_url=URL))


async def _query(url: str, statement: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


def test_one_server_is_shared_stopped_by_the_last_user_and_keeps_its_data(
    tmp_path: Path, *, embedded_test_database: bool
) -> None:
    if not embedded_test_database:
        pytest.skip("runs where the tests use the embedded server (nothing configured)")
    pid_file = tmp_path / "pgdata" / "postmaster.pid"
    with embedded_database("kept", tmp_path) as first:
        pid_lines = pid_file.read_text().splitlines()
        asyncio.run(_query(first, "CREATE TABLE marker (id int)"))
        with embedded_database("kept", tmp_path) as second:
            assert second == first
        assert pid_file.exists(), "stopped while still in use"
        assert asyncio.run(_query(first, "SELECT count(*) FROM marker")) == 0
    assert not pid_file.exists(), "still running after the last user left"
    # A pid file left by a crash, whose pid now names another program (this one).
    pid_file.write_text("\n".join([str(os.getpid()), *pid_lines[1:]]) + "\n")
    with embedded_database("kept", tmp_path) as again:
        assert asyncio.run(_query(again, "SELECT to_regclass('marker') IS NOT NULL")) is True
    assert not pid_file.exists()
