"""Is a pooled connection still alive? Checked on checkout, without a round trip when it can be.

SQLAlchemy's ``pool_pre_ping`` sends a ping (``BEGIN``, ``;``, ``ROLLBACK``
with asyncpg) on every checkout: three round trips per request. Here a
checkout costs none when the connection was in use moments ago:

- a connection the driver already knows is closed (the server restarted, a
  backend was terminated, the network reset it) is replaced at once;
- a connection that sat idle longer than ``DATABASE_POOL_PING_AFTER`` is
  pinged first, since a quiet link may have been dropped silently (a NAT or
  firewall timeout sends nothing);
- anything else is used as is. If it died silently in the meantime, its
  first statement fails within the client deadline (``command_timeout``),
  the connection is dropped and the request gets a 503.

Raising ``DisconnectionError`` from the pool's ``checkout`` event makes the
pool discard the connection and check out another.
"""

import time

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

CHECKED_IN_AT = "checked_in_at"


class DeadConnectionError(DisconnectionError):
    """The pooled connection is gone; the pool replaces it."""


def check_liveness_on_checkout(engine: AsyncEngine, ping_after: float) -> None:
    """Install the checks above on ``engine``'s pool."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

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
        if idle_since is not None and time.monotonic() - idle_since > ping_after:
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise DeadConnectionError from exc
