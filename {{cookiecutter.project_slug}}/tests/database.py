"""The test database: settings that point at it, and its creation and migration."""

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.provision import (
    create_database_if_missing,
)

PROJECT_ROOT = Path(__file__).parent.parent


def make_test_settings(**overrides: Any) -> Settings:
    """Settings for the test database (``TEST_DATABASE_URL`` or ``<database>_test``)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url is None:
        configured = Settings().database_url_object
        test_url = configured.set(database=f"{configured.database}_test")
        url = test_url.render_as_string(hide_password=False)
    return Settings(**overrides, environment="test", database_url=url)


def alembic_config(settings: Settings) -> Config:
    """The project's Alembic configuration, working with these settings."""
    config = Config(PROJECT_ROOT / "alembic.ini")
    config.attributes["settings"] = settings
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Run ``alembic upgrade`` with these settings."""
    command.upgrade(alembic_config(settings), revision)


async def prepare_database(settings: Settings) -> Settings:
    """Create the test database if needed and migrate it to the latest revision."""
    await create_database_if_missing(settings)
    await asyncio.to_thread(migrate, settings)
    return settings
