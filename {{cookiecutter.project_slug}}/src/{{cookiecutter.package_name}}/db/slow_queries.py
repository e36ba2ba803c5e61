"""The slow-query log: a statement over ``DATABASE_SLOW_QUERY_MS`` is logged.

The line (a warning of this module's logger) holds the duration and the
statement text, cut to ``MAX_STATEMENT_CHARS``, never its parameters: they can
hold personal data or secrets. The time is the driver's round trip, from
``before_cursor_execute`` to ``after_cursor_execute``, kept in the connection's
``info``. A statement that fails after the threshold is logged too, with its
error's class: the ones cancelled by ``statement_timeout`` are the slowest of all.
"""

import logging
import time

from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db.failures import (
    root_cause,
)

logger = logging.getLogger(__name__)

MAX_STATEMENT_CHARS = 2000
STARTED_AT = "statement_started_at"


def _one_line(statement: str) -> str:
    text = " ".join(statement.split())
    return text[:MAX_STATEMENT_CHARS] + "..." if len(text) > MAX_STATEMENT_CHARS else text


def log_slow_queries(engine: AsyncEngine, threshold_ms: float) -> None:
    """Log every statement on ``engine`` that takes longer than ``threshold_ms``."""
    threshold = threshold_ms / 1000

    def elapsed(conn: Connection | None) -> float:
        started = conn.info.pop(STARTED_AT, None) if conn is not None else None
        return 0.0 if started is None else time.perf_counter() - started

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(conn: Connection, *_: object) -> None:
        conn.info[STARTED_AT] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _check(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        seconds = elapsed(conn)
        if seconds >= threshold:
            duration_ms = round(seconds * 1000, 1)
            text = _one_line(statement)
            logger.warning(
                "slow query (%.1f ms): %s",
                duration_ms,
                text,
                extra={"duration_ms": duration_ms, "statement": text},
            )

    @event.listens_for(engine.sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        seconds = elapsed(context.connection)
        if seconds >= threshold and context.statement:
            duration_ms = round(seconds * 1000, 1)
            text = _one_line(context.statement)
            error = type(root_cause(context.original_exception)).__name__
            logger.warning(
                "slow query failed (%.1f ms, %s): %s",
                duration_ms,
                error,
                text,
                extra={"duration_ms": duration_ms, "statement": text, "error": error},
            )
