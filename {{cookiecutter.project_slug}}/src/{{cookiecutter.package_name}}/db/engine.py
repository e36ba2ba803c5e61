"""One engine per server, the primary's and each standby's, built the same way.

Pool size, deadlines, the liveness check, the slow-query log, PgBouncer and
how connections are made (``db/connect.py``) come from the settings alike; the
primary's pool also follows failovers (``db/failover.py``).
"""

from typing import Literal

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.config.database_url import (
    engine_url,
)
from {{ cookiecutter.package_name }}.db.connect import (
    connect_through,
)
from {{ cookiecutter.package_name }}.db.credentials import (
    PasswordSource,
    password_source,
)
from {{ cookiecutter.package_name }}.db.deadlines import (
    invalidate_on_timeout,
    server_deadlines,
)
from {{ cookiecutter.package_name }}.db.failover import (
    PRIMARY_SESSION_ATTRS,
    follow_the_primary,
)
from {{ cookiecutter.package_name }}.db.liveness import (
    check_liveness_on_checkout,
)
from {{ cookiecutter.package_name }}.db.pooler import (
    TRANSACTION_POOLER_CONNECT_ARGS,
    apply_per_transaction,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    refuse_writes,
)
from {{ cookiecutter.package_name }}.db.slow_queries import (
    log_slow_queries,
)

# A job's client deadline trails the server's, so the server cancels first.
JOB_CLIENT_MARGIN_SECONDS = 5.0
Role = Literal["primary", "replica"]


def create_engine_for(
    url: URL,
    settings: Settings,
    *,
    role: Role = "primary",
    job: bool = False,
    password: str | PasswordSource | None = None,
) -> AsyncEngine:
    """An engine whose pool connects to ``url`` (the primary, or one standby).

    ``job=True`` gives the longer deadline of migrations and command-line jobs
    (``DATABASE_JOB_TIMEOUT``) instead of a request's. ``password`` replaces
    the one ``db/credentials.py`` finds (a token source, for instance).
    """
    if job:
        server_timeout = settings.database_job_timeout
        client_timeout = server_timeout + JOB_CLIENT_MARGIN_SECONDS
    else:
        server_timeout = settings.database_statement_timeout
        client_timeout = settings.database_command_timeout
    connection_settings = {
        **settings.schema_server_settings(),
        **server_deadlines(server_timeout, settings.database_idle_in_transaction_timeout),
    }
    behind_pgbouncer = settings.database_pooler == "pgbouncer"
    engine = create_async_engine(
        engine_url(url),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        # The connection returned last goes out first: under light load a
        # few connections stay busy and skip the idle ping (db/liveness.py)
        # while the rest sit idle, instead of every one idling in turn.
        pool_use_lifo=True,
        pool_timeout=settings.database_pool_timeout,
        pool_recycle=settings.database_pool_recycle,
        echo=settings.database_echo,
        # Errors and echoed SQL show the statement, never its parameters.
        hide_parameters=True,
        connect_args=TRANSACTION_POOLER_CONNECT_ARGS if behind_pgbouncer else {},
    )
    name = url.query.get("application_name", settings.app_name)
    connect_through(
        engine,
        url,
        settings,
        session_attrs=PRIMARY_SESSION_ATTRS if role == "primary" else "any",
        driver_arguments={
            "password": password if password is not None else password_source(settings, url),
            "command_timeout": client_timeout,
            "server_settings": {
                "application_name": str(name),
                **({} if behind_pgbouncer else connection_settings),
            },
        },
    )
    invalidate_on_timeout(engine)
    if settings.database_pool_pre_ping:
        check_liveness_on_checkout(
            engine, settings.database_pool_ping_after, ping_in_transaction=behind_pgbouncer
        )
    if role == "primary":
        follow_the_primary(engine)
    if settings.database_slow_query_ms:
        log_slow_queries(engine, settings.database_slow_query_ms)
    if behind_pgbouncer:
        apply_per_transaction(engine, connection_settings)
    refuse_writes(engine)
    return engine
