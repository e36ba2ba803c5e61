"""The database settings: where the database is, how to reach it, how much to use it."""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy.engine import URL

from {{ cookiecutter.package_name }}.config.database_url import (
    DRIVER,
    TLS_PARAMETERS,
    parse_database_url,
    target_attrs_allowed,
)

DEFAULT_DATABASE_URL = URL.create(
    DRIVER,
    username="postgres",
    host="localhost",
    port=5432,
    database="{{ cookiecutter.package_name }}",
)


class DatabaseSettings(BaseModel):
    """``DATABASE_*``: the primary, its optional read replicas, pools and deadlines.

    Pool limits are per worker process: ``db/budget.py`` checks at startup that
    ``workers * replicas * (pool_size + max_overflow)`` fits each server.
    """

    # Any of postgres://, postgresql:// or postgresql+asyncpg://, one host or
    # several (config/database_url.py); stored as given, used in canonical form.
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL.render_as_string())
    # A file holding the password (a Docker or Kubernetes secret), read again for
    # every new connection, so a rotated password needs no restart (db/credentials.py).
    database_password_file: Path | None = None
    # In production a connection without TLS is refused unless this is true
    # (a private network such as compose's); see db/tls.py.
    database_allow_plaintext: bool = False

    # Standbys that serve DbReadSession (db/replicas.py): a URL whose hosts are
    # each a standby, with the primary's user and password unless it names others.
    database_replica_url: SecretStr | None = None
    # Seconds a standby may trail the primary and still serve reads.
    database_replica_max_lag: Annotated[float, Field(gt=0)] = 1.0

    # Every connection kept open, none opened for a moment: SQLAlchemy closes an
    # overflow connection as soon as it is returned while pool_size sit idle,
    # so under steady load overflow means a new connection every few requests.
    # Each server (the primary, every standby) gets a pool of this size.
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
    # without BEGIN and ROLLBACK, and each query its own snapshot (see
    # docs/hot-path.md). Ignored behind PgBouncer, where reads keep BEGIN.
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
    # How long a migration waits for a table lock before it gives up (seconds),
    # and how long it waits for another runner's migration to finish.
    database_migration_lock_timeout: Annotated[float, Field(gt=0)] = 3.0
    database_migration_wait_timeout: Annotated[float, Field(gt=0)] = 300.0
    # "pgbouncer": connect through PgBouncer in transaction mode (see db/pooler.py).
    database_pooler: Literal["none", "pgbouncer"] = "none"
    database_reserved_connections: Annotated[int, Field(ge=0)] = 5
    database_budget_strict: bool | None = None
    # A statement slower than this (milliseconds) is logged with its text,
    # never its parameters (db/slow_queries.py); 0 turns the log off.
    database_slow_query_ms: Annotated[float, Field(ge=0)] = 200.0

    @field_validator("database_url")
    @classmethod
    def _canonical_url(cls, value: SecretStr) -> SecretStr:
        url = parse_database_url(value.get_secret_value())
        # The primary's pool must be able to write (db/failover.py).
        target_attrs_allowed(url, ("read-write", "primary", "any"), "DATABASE_URL")
        return SecretStr(url.render_as_string(hide_password=False))

    @field_validator("database_replica_url")
    @classmethod
    def _canonical_replica_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # DATABASE_REPLICA_URL= (empty) means no replicas
        url = parse_database_url(value.get_secret_value())
        # Each standby has a pool of its own: "prefer" has nothing to choose between.
        target_attrs_allowed(url, ("any", "standby", "read-only"), "DATABASE_REPLICA_URL")
        return SecretStr(url.render_as_string(hide_password=False))

    @property
    def database_url_object(self) -> URL:
        """The primary's URL in canonical form (its ``repr`` hides the password)."""
        return parse_database_url(self.database_url.get_secret_value())

    @property
    def replica_url_object(self) -> URL | None:
        """The standbys' URL, with the primary's credentials where it names none."""
        if self.database_replica_url is None:
            return None
        url = parse_database_url(self.database_replica_url.get_secret_value())
        primary = self.database_url_object
        # TLS as for the primary, unless the standbys' URL says otherwise.
        inherited = {k: v for k, v in primary.query.items() if k in TLS_PARAMETERS}
        return url.set(
            username=url.username or primary.username,
            password=url.password if url.username else primary.password,
            database=url.database or primary.database,
            query={**inherited, **url.query},
        )
