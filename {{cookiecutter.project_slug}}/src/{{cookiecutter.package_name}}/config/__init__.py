"""Settings, read from the environment and an optional `.env` file.

``get_settings()`` loads them once per process. A setting the service cannot
honour stops it with one line per problem, naming the setting (``SettingsError``),
and never echoes a password.
"""

from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from {{ cookiecutter.package_name }}.config.auth import (
    AuthSettings,
)
from {{ cookiecutter.package_name }}.config.database import (
    DatabaseSettings,
)
from {{ cookiecutter.package_name }}.config.database_url import (
    DRIVER,
)
from {{ cookiecutter.package_name }}.config.drain import (
    DrainSettings,
)
from {{ cookiecutter.package_name }}.schema import (
    SchemaSettings,
)

__all__ = [
    "DRIVER",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
    "settings_or_exit",
]

# Passwords that must never reach production.
WELL_KNOWN_PASSWORDS = frozenset({"", "postgres", "password", "changeme", "secret", "PASSWORD"})
# What .env.example holds until someone edits it.
PLACEHOLDER_CREDENTIALS = ("USER", "PASSWORD")
# libpq's modes that may end up without TLS.
PLAINTEXT_MODES = frozenset({"disable", "allow", "prefer"})


class SettingsError(ValueError):
    """Settings that cannot be honoured; the message has one line per problem."""


class Settings(SchemaSettings, DatabaseSettings, DrainSettings, AuthSettings, BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_name: str = "{{ cookiecutter.project_slug }}"
    environment: Literal["development", "test", "production"] = "development"

    # The deployment's shape, for the connection budget (db/budget.py). uvicorn
    # reads WEB_CONCURRENCY too, as its number of worker processes.
    web_concurrency: Annotated[int, Field(ge=1)] = 1
    replicas: Annotated[int, Field(ge=1)] = 1
    # With several workers (serve.py), seconds a worker may leave the supervisor's
    # ping unanswered, from its start on, before it is killed and replaced.
    # uvicorn's 5 s kills every worker of a CPU-starved container at start-up,
    # again and again; this leaves room for a slow start within the startup probe.
    worker_healthcheck_timeout: Annotated[int, Field(ge=1)] = 30

    # Logs (logs.py): "json" lines or readable "console" lines; unset, json in
    # production and console elsewhere.
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Self:
        url = self.database_url_object
        if url.username in PLACEHOLDER_CREDENTIALS or url.password in PLACEHOLDER_CREDENTIALS:
            msg = (
                "DATABASE_URL still holds the USER:PASSWORD placeholders of .env.example:"
                " put your database's user and password there"
                " (in development, delete the line to use the embedded PostgreSQL)"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _one_password_source(self) -> Self:
        if self.database_password_file is not None and self.database_url_object.password:
            msg = "DATABASE_URL carries a password and DATABASE_PASSWORD_FILE names one: keep one"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _refuse_default_password_in_production(self) -> Self:
        if self.environment != "production":
            return self
        if "database_url" not in self.model_fields_set:
            msg = "DATABASE_URL must be set when ENVIRONMENT=production"
            raise ValueError(msg)
        if self.database_password_file is not None:
            return self  # a password file is checked when it is read (db/credentials.py)
        # No password at all is a login of another kind (a client certificate, a
        # socket, a token source, .pgpass); a well-known one is a mistake.
        if self.database_url_object.password in WELL_KNOWN_PASSWORDS:
            msg = "DATABASE_URL needs a real password when ENVIRONMENT=production"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _server_deadline_first(self) -> Self:
        if self.database_statement_timeout >= self.database_command_timeout:
            msg = (
                f"DATABASE_STATEMENT_TIMEOUT ({self.database_statement_timeout:g} s) must be"
                f" below DATABASE_COMMAND_TIMEOUT ({self.database_command_timeout:g} s):"
                " the server must cancel a slow statement before the client gives up on"
                " its connection"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _tls_in_production(self) -> Self:
        for name, url in (
            ("DATABASE_URL", self.database_url_object),
            ("DATABASE_REPLICA_URL", self.replica_url_object),
        ):
            if url is None or _local_socket(url) or self.sslmode(url) not in PLAINTEXT_MODES:
                continue
            if self.environment == "production" and not self.database_allow_plaintext:
                msg = (
                    f"{name}: sslmode={self.sslmode(url)} may connect without TLS, which"
                    " ENVIRONMENT=production refuses: use sslmode=require, verify-ca or"
                    " verify-full, or set DATABASE_ALLOW_PLAINTEXT=true on a private network"
                )
                raise ValueError(msg)
        return self

    def sslmode(self, url: URL) -> str:
        """The URL's ``sslmode``; unset: ``verify-full`` in production, else libpq's ``prefer``.

        Production defaults to the strictest mode so that a URL without ``sslmode``
        never talks to the database in plain text or to an impostor; a team that
        runs its database on a private network says so with DATABASE_ALLOW_PLAINTEXT.
        """
        mode = url.query.get("sslmode")
        if isinstance(mode, str):
            return mode
        if self.environment == "production" and not self.database_allow_plaintext:
            return "verify-full"
        return "prefer"

    @property
    def budget_is_strict(self) -> bool:
        """Refuse to start over budget: ``DATABASE_BUDGET_STRICT``, else only in production."""
        if self.database_budget_strict is None:
            return self.environment == "production"
        return self.database_budget_strict

    @property
    def in_flight_timeout(self) -> float:
        """Seconds requests in flight get at shutdown: ``SHUTDOWN_TIMEOUT``, else the
        pool timeout plus one statement's deadline."""
        if self.shutdown_timeout is not None:
            return self.shutdown_timeout
        return self.database_pool_timeout + self.database_command_timeout

    @property
    def logs_as_json(self) -> bool:
        """Log JSON lines: ``LOG_FORMAT``, else only in production."""
        if self.log_format is None:
            return self.environment == "production"
        return self.log_format == "json"


def _local_socket(url: URL) -> bool:
    """Whether the URL reaches its server through a Unix socket (TLS does not apply)."""
    host = url.query.get("host")
    return isinstance(host, str) and host.startswith("/")


def problems(error: ValidationError) -> str:
    """One line per problem: the setting's variable name and what is wrong, no value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"]).upper()
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def load_settings() -> Settings:
    """Read the settings now; ``SettingsError`` says what is wrong with them."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(problems(exc)) from None


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once on first use."""
    return load_settings()


def settings_or_exit() -> Settings:
    """``get_settings()`` for an entry point: bad settings end the program with their lines."""
    try:
        return get_settings()
    except SettingsError as exc:
        msg = f"configuration error:\n{exc}"
        raise SystemExit(msg) from None
