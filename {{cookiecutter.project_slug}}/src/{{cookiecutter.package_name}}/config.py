"""Settings, read from the environment and an optional `.env` file."""

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from {{ cookiecutter.package_name }}.schema import SchemaSettings

DRIVER = "postgresql+asyncpg"
# Passwords that must never reach production.
WELL_KNOWN_PASSWORDS = frozenset({"", "postgres", "password", "changeme", "secret", "PASSWORD"})
DEFAULT_DATABASE_URL = URL.create(
    DRIVER,
    username="postgres",
    host="localhost",
    port=5432,
    database="{{ cookiecutter.package_name }}",
)


class Settings(SchemaSettings, BaseSettings):
    """Everything the service reads from its environment.

    Pool limits are per worker process: ``db/budget.py`` checks at startup that
    ``workers * replicas * (pool_size + max_overflow)`` fits the server.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_name: str = "{{ cookiecutter.project_slug }}"
    environment: Literal["development", "test", "production"] = "development"

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL.render_as_string())
    # Every connection kept open, none opened for a moment: SQLAlchemy closes an
    # overflow connection as soon as it is returned while pool_size sit idle,
    # so under steady load overflow means a new connection every few requests.
    database_pool_size: Annotated[int, Field(ge=1)] = 15
    database_max_overflow: Annotated[int, Field(ge=0)] = 0
    database_pool_timeout: Annotated[float, Field(gt=0)] = 5.0
    database_pool_recycle: Annotated[int, Field(ge=-1)] = 1800
    # Check connections on checkout (db/liveness.py): a connection the driver
    # knows is closed is replaced at once; one that sat idle for at least
    # database_pool_ping_after seconds is pinged first (one round trip; 0: at
    # every checkout). A connection in recent use goes out unchecked.
    database_pool_pre_ping: bool = True
    database_pool_ping_after: Annotated[float, Field(ge=0)] = 1.0
    # Read sessions (DbReadSession) in autocommit: a read is its query alone,
    # without BEGIN and ROLLBACK, and each query its own snapshot (see "The hot
    # path" in the README). Ignored behind PgBouncer, where reads keep BEGIN.
    database_autocommit_reads: bool = True
    database_connect_timeout: Annotated[float, Field(gt=0)] = 5.0
    # Deadlines in seconds (db/deadlines.py): the client's, for every statement;
    # the server's, shorter, for a runaway query or an abandoned transaction;
    # and the longer one of migrations and command-line jobs.
    database_command_timeout: Annotated[float, Field(gt=0)] = 5.0
    database_statement_timeout: Annotated[float, Field(gt=0)] = 4.0
    database_idle_in_transaction_timeout: Annotated[float, Field(gt=0)] = 15.0
    database_job_timeout: Annotated[float, Field(gt=0)] = 900.0
    database_echo: bool = False
    # How long a migration waits for a table lock before it gives up (seconds).
    database_migration_lock_timeout: Annotated[float, Field(gt=0)] = 3.0
    # "pgbouncer": connect through PgBouncer in transaction mode (see db/pooler.py).
    database_pooler: Literal["none", "pgbouncer"] = "none"

    # The deployment's shape, for the connection budget (db/budget.py). uvicorn
    # reads WEB_CONCURRENCY too, as its number of worker processes.
    web_concurrency: Annotated[int, Field(ge=1)] = 1
    replicas: Annotated[int, Field(ge=1)] = 1
    database_reserved_connections: Annotated[int, Field(ge=0)] = 5
    database_budget_strict: bool | None = None

    # Logs (logs.py): "json" lines or readable "console" lines; unset, json in
    # production and console elsewhere.
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A statement slower than this (milliseconds) is logged with its text,
    # never its parameters (db/slow_queries.py); 0 turns the log off.
    database_slow_query_ms: Annotated[float, Field(ge=0)] = 200.0

    @field_validator("database_url")
    @classmethod
    def _require_asyncpg_url(cls, value: SecretStr) -> SecretStr:
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            msg = f"must be a URL such as {DRIVER}://user:password@host:5432/dbname"
            raise ValueError(msg) from None
        if url.drivername != DRIVER:
            msg = f"must use the {DRIVER}:// driver, not {url.drivername}://"
            raise ValueError(msg)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_default_password_in_production(self) -> "Settings":
        password = self.database_url_object.password or ""
        if self.environment == "production" and password in WELL_KNOWN_PASSWORDS:
            msg = "DATABASE_URL needs a real password when ENVIRONMENT=production"
            raise ValueError(msg)
        return self

    @property
    def budget_is_strict(self) -> bool:
        """Refuse to start over budget: ``DATABASE_BUDGET_STRICT``, else only in production."""
        if self.database_budget_strict is None:
            return self.environment == "production"
        return self.database_budget_strict

    @property
    def logs_as_json(self) -> bool:
        """Log JSON lines: ``LOG_FORMAT``, else only in production."""
        if self.log_format is None:
            return self.environment == "production"
        return self.log_format == "json"

    @property
    def database_url_object(self) -> URL:
        """The database URL as SQLAlchemy's URL (its ``repr`` hides the password)."""
        return make_url(self.database_url.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once on first use."""
    return Settings()
