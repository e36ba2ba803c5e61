"""Settings: validated at load, one line per problem, and the password never shows."""

import secrets
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import (
    Settings,
    SettingsError,
    load_settings,
)

SECRET = secrets.token_urlsafe(12)
URL = f"postgresql+asyncpg://svc:{SECRET}@db.internal:5432/app"


def test_the_password_never_shows() -> None:
    settings = Settings(database_url=URL)
    assert settings.database_url_object.password == SECRET
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert SECRET not in repr(settings.database_url_object)


def refusal(monkeypatch: pytest.MonkeyPatch, **environment: str) -> str:
    """What ``load_settings`` says of these variables alone (each refusal is one line)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the run's own, if any
    monkeypatch.chdir(Path(__file__).parent)  # where no .env is read
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    return str(refused.value)


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"DATABASE_URL": f"postgres://svc:{SECRET}@db/app?sslmod=require"}, "'sslmod'"),
        ({"DATABASE_URL": "postgresql://USER:PASSWORD@localhost:5432/app"}, "placeholders"),
        ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE"),
        (
            {"DATABASE_STATEMENT_TIMEOUT": "10", "DATABASE_COMMAND_TIMEOUT": "5"},
            "DATABASE_STATEMENT_TIMEOUT (10 s) must be below DATABASE_COMMAND_TIMEOUT (5 s)",
        ),
        (
            {"DATABASE_URL": f"postgres://svc:{SECRET}@db/app", "DATABASE_PASSWORD_FILE": "/x"},
            "keep one",
        ),
        (
            {"DATABASE_URL": f"postgres://svc:{SECRET}@db1,db2/app?target_session_attrs=standby"},
            "target_session_attrs=standby cannot be used here",
        ),
        ({"ENVIRONMENT": "production"}, "DATABASE_URL must be set"),
    ],
    ids=[
        "unknown-parameter",
        "placeholders",
        "bounds",
        "deadline-order",
        "two-passwords",
        "primary-on-a-standby",
        "production-without-url",
    ],
)
def test_settings_that_cannot_be_honoured_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], named: str
) -> None:
    said = refusal(monkeypatch, **environment)
    assert named in said
    assert len(said.splitlines()) == 1
    assert SECRET not in said


@pytest.mark.parametrize("password", ["", "postgres", "changeme"])
def test_production_refuses_a_well_known_password(password: str) -> None:
    url = f"postgresql+asyncpg://svc:{password}@db.internal/app?sslmode=require"
    with pytest.raises(ValueError, match="real password"):
        Settings(environment="production", database_url=url)
    assert Settings(environment="development", database_url=url).environment == "development"


def test_production_defaults_to_verify_full_and_refuses_plain_text() -> None:
    production = Settings(environment="production", database_url=URL)
    assert production.sslmode(production.database_url_object) == "verify-full"
    with pytest.raises(ValueError, match="DATABASE_ALLOW_PLAINTEXT"):
        Settings(environment="production", database_url=f"{URL}?sslmode=prefer")
    private = Settings(environment="production", database_url=URL, database_allow_plaintext=True)
    assert private.sslmode(private.database_url_object) == "prefer"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://svc@db.internal/app?sslcert=/c.pem&sslkey=/k.pem",  # a client certificate
        "postgresql://svc@/app?host=/cloudsql/project:region:db",  # a proxy's socket
    ],
)
def test_production_accepts_a_login_without_a_password(url: str) -> None:
    assert Settings(environment="production", database_url=url).environment == "production"


def test_development_defaults_to_libpq_prefer() -> None:
    settings = Settings(environment="development", database_url=URL)
    assert settings.sslmode(settings.database_url_object) == "prefer"


def test_a_password_file_replaces_the_password_in_the_url(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(f"{SECRET}\n")
    settings = Settings(
        environment="production",
        database_url="postgresql://svc@db.internal/app?sslmode=require",
        database_password_file=secret_file,
    )
    assert settings.database_url_object.password is None
    assert settings.database_password_file == secret_file


@pytest.mark.parametrize(
    ("field", "value"),
    [("database_pool_size", 0), ("database_max_overflow", -1), ("database_pool_timeout", 0)],
)
def test_pool_settings_are_bounded(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        Settings.model_validate({field: value})
