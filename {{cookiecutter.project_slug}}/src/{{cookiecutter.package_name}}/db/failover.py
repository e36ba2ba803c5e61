"""Failover: the primary's pool never stays on a server that can no longer write.

When a managed failover promotes a standby, the old primary is stopped, or
kept running but fenced read-only (``default_transaction_read_only = on``).
Pooled connections to a fenced primary stay open, and SQLAlchemy's liveness
checks cannot see a role change: left alone, every write fails until restart.
So, on the primary's pool:

- New connections ask for ``target_session_attrs=read-write`` unless
  ``DATABASE_URL`` says otherwise: of several hosts, the first writable one.
- At checkout, a connection whose server has reported itself read-only or in
  recovery (PostgreSQL 14+ reports both with every change; asyncpg keeps the
  last values) is dropped, without a round trip.
- A statement refused because the transaction is read-only (SQLSTATE 25006)
  marks the whole pool stale: that request answers 503, and every connection
  opened before is replaced at its next checkout, so the next request connects
  to the host that took over.
"""

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from {{ cookiecutter.package_name }}.db.liveness import (
    DeadConnectionError,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    READ_ONLY,
)

READ_ONLY_TRANSACTION = "25006"
PRIMARY_SESSION_ATTRS = "read-write"


class ReadOnlyServerError(DeadConnectionError):
    """The connection's server no longer takes writes; the pool replaces it."""


def server_is_read_only(record: ConnectionPoolEntry) -> bool:
    """What the server last reported: read-only by default, or a hot standby."""
    driver = record.driver_connection
    if driver is None:
        return False
    reported = driver.get_settings()
    return "on" in (
        getattr(reported, "default_transaction_read_only", None),
        getattr(reported, "in_hot_standby", None),
    )


def follow_the_primary(engine: AsyncEngine) -> None:
    """Install the checks above on the primary's ``engine``."""

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _writable(
        _dbapi_connection: DBAPIConnection,
        record: ConnectionPoolEntry,
        _proxy: PoolProxiedConnection,
    ) -> None:
        if server_is_read_only(record):
            raise ReadOnlyServerError

    @event.listens_for(engine.sync_engine, "handle_error")
    def _read_only_transaction(context: ExceptionContext) -> None:
        sqlstate = getattr(
            context.sqlalchemy_exception and context.sqlalchemy_exception.orig, "sqlstate", None
        )
        read = context.execution_context is not None and bool(
            context.execution_context.execution_options.get(READ_ONLY)
        )
        # In a read session, 25006 is the code's own write (a function that writes,
        # in a READ ONLY transaction): a bug to report, not a failover.
        if sqlstate == READ_ONLY_TRANSACTION and not read:
            context.is_disconnect = True
            context.invalidate_pool_on_disconnect = True
