"""Settings: validated at load, and the database password never shows."""

import secrets

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.config import Settings

SECRET = secrets.token_urlsafe(12)
URL = f"postgresql+asyncpg://svc:{SECRET}@db.internal:5432/app"


def test_the_password_never_shows() -> None:
    settings = Settings(database_url=URL)
    assert settings.database_url_object.password == SECRET
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert SECRET not in repr(settings.database_url_object)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://svc@db/app",
        "postgresql+psycopg://svc@db/app",
        "mysql+aiomysql://svc@db/app",
        "not a url",
    ],
)
def test_only_asyncpg_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        Settings(database_url=url)


@pytest.mark.parametrize("password", ["", "postgres", "changeme"])
def test_production_refuses_a_well_known_password(password: str) -> None:
    url = f"postgresql+asyncpg://svc:{password}@db.internal/app"
    with pytest.raises(ValidationError, match="real password"):
        Settings(environment="production", database_url=url)
    assert Settings(environment="development", database_url=url).environment == "development"


def test_production_accepts_a_real_password() -> None:
    assert Settings(environment="production", database_url=URL).environment == "production"


@pytest.mark.parametrize(
    ("field", "value"),
    [("database_pool_size", 0), ("database_max_overflow", -1), ("database_pool_timeout", 0)],
)
def test_pool_settings_are_bounded(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings.model_validate({field: value})
