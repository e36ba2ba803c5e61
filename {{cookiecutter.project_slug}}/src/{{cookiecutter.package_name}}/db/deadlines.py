"""Deadlines: no statement waits forever, whatever the network or the server does.

Two bounds, on two sides:

- The server's ``statement_timeout`` and ``idle_in_transaction_session_timeout``
  cancel a runaway query and end a transaction left idle, even when the client
  is gone. They are connection settings, applied when each connection starts,
  or (behind PgBouncer) when each transaction begins.
- The client's ``command_timeout`` (asyncpg) bounds every statement the app
  sends, the pool's liveness ping included, for when the server cannot answer
  at all (a frozen network sends no reset). A statement that passes it fails
  with ``TimeoutError``; its connection is then invalidated, not returned to
  the pool, because its protocol state is unknown, and closed at once: a
  polite close would wait on the same silent network (2 s more in SQLAlchemy).

The server's bound is the shorter one, so on a healthy server a slow query is
cancelled cleanly by PostgreSQL and its connection stays usable.
"""

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)


def milliseconds(seconds: float) -> str:
    """A PostgreSQL duration setting, e.g. ``4000ms``."""
    return f"{round(seconds * 1000)}ms"


def server_deadlines(statement_timeout: float, idle_in_transaction: float) -> dict[str, str]:
    """The server-side bounds, as connection settings."""
    return {
        "statement_timeout": milliseconds(statement_timeout),
        "idle_in_transaction_session_timeout": milliseconds(idle_in_transaction),
    }


def invalidate_on_timeout(engine: AsyncEngine) -> None:
    """Drop, rather than reuse, a connection whose statement passed the client deadline.

    The error then becomes ``DatabaseUnavailableError`` (a 503), as does a
    connection that broke in the middle of a statement (a raw ``OSError`` from
    the driver): both are the database's trouble, not the caller's.
    """

    @event.listens_for(engine.sync_engine, "handle_error")
    def _timed_out(context: ExceptionContext) -> BaseException | None:
        original = context.original_exception
        if isinstance(original, TimeoutError):
            reason = "a statement passed the client deadline (DATABASE_COMMAND_TIMEOUT)"
            _abort(context)
        elif isinstance(original, OSError):
            reason = f"the connection broke during a statement ({type(original).__name__})"
        else:
            return None
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False
        return DatabaseUnavailableError(reason)


def _abort(context: ExceptionContext) -> None:
    """Close the driver's connection without a goodbye the server cannot answer."""
    connection = context.connection
    if connection is None or connection.invalidated:
        return
    driver = connection.connection.driver_connection
    if driver is not None:
        driver.terminate()  # asyncpg: drop the socket, wait for nothing
