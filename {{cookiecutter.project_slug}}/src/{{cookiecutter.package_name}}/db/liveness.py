"""Is a pooled connection still alive? Checked on checkout, a round trip only when idle.

SQLAlchemy's ``pool_pre_ping`` pings with ``BEGIN``, ``;``, ``ROLLBACK`` on
every checkout: three round trips per request. Here:

- a connection the driver already knows is closed (the server restarted, a
  backend was terminated and its goodbye has arrived) is replaced at once,
  without a round trip;
- a connection that sat idle at least ``DATABASE_POOL_PING_AFTER`` seconds
  (1 by default) is pinged with ``SELECT 1`` in autocommit through the pool's
  DBAPI connection: one round trip. Long-idle connections are the ones a
  firewall or a failover drops without a word, which no closed state shows.
  Behind PgBouncer the ping is SQLAlchemy's own, in a transaction, which
  PgBouncer needs;
- a connection in use within the last second goes out unchecked: under load
  that is every checkout, so the hot path has no ping. One killed in that
  second, before its goodbye arrived, fails its first statement (a 503 within
  the client deadline) and is dropped. ``0`` pings at every checkout.

Raising ``DisconnectionError`` from the pool's ``checkout`` event makes the
pool discard the connection and check out another.
"""

import time

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)

CHECKED_IN_AT = "checked_in_at"
PING = "SELECT 1"


class DeadConnectionError(DisconnectionError):
    """The pooled connection is gone; the pool replaces it."""


def check_liveness_on_checkout(
    engine: AsyncEngine, ping_after: float, *, ping_in_transaction: bool
) -> None:
    """Install the checks above on ``engine``'s pool."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def ping(dbapi_connection: DBAPIConnection) -> None:
        if ping_in_transaction:
            dialect.do_ping(dbapi_connection)
            return
        dbapi_connection.autocommit = True  # one statement, no BEGIN/ROLLBACK
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(PING)
        finally:
            cursor.close()
            dbapi_connection.autocommit = False

    @event.listens_for(pool, "checkin")
    def _note_idle_since(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info[CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(
        dbapi_connection: DBAPIConnection,
        record: ConnectionPoolEntry,
        _proxy: PoolProxiedConnection,
    ) -> None:
        driver = record.driver_connection
        if driver is not None and driver.is_closed():
            raise DeadConnectionError
        idle_since = record.info.get(CHECKED_IN_AT)
        if idle_since is not None and time.monotonic() - idle_since >= ping_after:
            try:
                ping(dbapi_connection)
            except TimeoutError as exc:
                # The server does not answer at all: another connection would
                # wait as long. Fail now (503); the pool drops this one.
                msg = "the database did not answer the liveness ping (DATABASE_COMMAND_TIMEOUT)"
                raise DatabaseUnavailableError(msg) from exc
            except Exception as exc:
                raise DeadConnectionError from exc
