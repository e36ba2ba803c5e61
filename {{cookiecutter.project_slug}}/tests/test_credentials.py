"""Where the password comes from: a file read for every new connection, or a token source."""

from pathlib import Path

import pytest
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.credentials import (
    password_source,
)
from {{ cookiecutter.package_name }}.db.failures import (
    PasswordFileError,
)


async def test_a_token_source_is_asked_for_every_new_connection(settings: Settings) -> None:
    """The extension point for short-lived tokens: each login gets a fresh one."""
    calls = 0

    async def token() -> str:
        nonlocal calls
        calls += 1
        return settings.database_url_object.password or ""  # a stand-in for an IAM token

    two = settings.model_copy(update={"database_pool_size": 2, "database_max_overflow": 0})
    async with DatabaseSessionManager(two, password=token) as manager:
        async with manager.session() as first, manager.session() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
        async with manager.session() as pooled:
            await pooled.execute(text("SELECT 1"))  # a pooled connection logs in no more
    assert calls == 2


def test_the_password_file_is_read_again_each_time(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first\n")
    settings = Settings(
        database_url="postgresql://svc@db.internal/app", database_password_file=secret
    )
    source = password_source(settings, settings.database_url_object)
    assert callable(source)
    assert source() == "first"
    secret.write_text("rotated")
    assert source() == "rotated"
    secret.write_text("")
    with pytest.raises(PasswordFileError, match="is empty"):
        source()
    secret.unlink()
    with pytest.raises(PasswordFileError, match="cannot be read"):
        source()
