"""Making a connection: asyncpg's arguments from the canonical URL and the settings.

SQLAlchemy's ``do_connect`` hook replaces what SQLAlchemy derived from the URL:

- The hosts are tried one at a time, in order, each within the connect
  timeout (``connect_timeout`` in the URL, else ``DATABASE_CONNECT_TIMEOUT``),
  as libpq does. A host that refuses, does not answer, fails TLS, is starting
  up or has the wrong role (``target_session_attrs``) gives way to the next; a
  login that fails (password, database) stops the search.
- TLS as ``sslmode`` says (``db/tls.py``); never on a Unix socket.
- The password from ``db/credentials.py``, fetched for each attempt.

If no host will do, ``DatabaseUnavailableError`` says why, host by host.
"""

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.config.database_hosts import (
    hosts_of,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
    PasswordFileError,
    explain,
    root_cause,
)
from {{ cookiecutter.package_name }}.db.tls import (
    ssl_argument,
)

# Arguments set through ``connect_args`` (db/pooler.py), kept from what SQLAlchemy derived.
KEPT_ARGUMENTS = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "statement_cache_size"}
)
# Failures after which the next host is tried (libpq stops at a failed login).
NEXT_HOST = (OSError, asyncpg.TargetServerAttributeNotMatched, asyncpg.CannotConnectNowError)
# What a connection attempt raises when the server cannot be used.
CONNECT_FAILURES = (*NEXT_HOST, asyncpg.PostgresError, asyncpg.InterfaceError)


def connect_through(
    engine: AsyncEngine,
    url: URL,
    settings: Settings,
    *,
    session_attrs: str,
    driver_arguments: dict[str, object],
) -> None:
    """Make ``engine``'s connections to ``url`` as this module describes.

    ``driver_arguments`` are asyncpg's for every host: the password (a string or
    a ``PasswordSource``), deadlines and server settings.
    """
    query = url.query
    hosts = hosts_of(url)
    mode = settings.sslmode(url)
    arguments = {
        **driver_arguments,
        "user": url.username,
        "database": url.database,
        "timeout": float(str(query.get("connect_timeout", settings.database_connect_timeout))),
        "target_session_attrs": query.get("target_session_attrs", session_attrs),
    }
    tls_files = {name: query.get(f"ssl{name}") for name in ("rootcert", "cert", "key")}

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(
        dialect: Dialect,
        _record: ConnectionPoolEntry,
        cargs: tuple[object, ...],
        cparams: dict[str, object],
    ) -> DBAPIConnection:
        kept = {name: value for name, value in cparams.items() if name in KEPT_ARGUMENTS}
        reasons = []
        last: BaseException | None = None
        for host, port in hosts:
            tls = False if host.startswith("/") else ssl_argument(mode, **tls_files)  # type: ignore[arg-type]
            try:
                return dialect.connect(*cargs, **kept, **arguments, host=host, port=port, ssl=tls)
            except Exception as exc:
                cause = root_cause(exc)
                if not isinstance(cause, CONNECT_FAILURES):
                    raise
                last = exc
                reasons.append(explain(cause, url, f"{host}:{port}"))
                if isinstance(cause, PasswordFileError) or not isinstance(cause, NEXT_HOST):
                    break  # the next host would get the same password, or refuse the same login
        raise DatabaseUnavailableError("; ".join(reasons)) from last
