"""The slow-query log: a statement over ``DATABASE_SLOW_QUERY_MS`` is logged.

The line (a warning of this module's logger) holds the duration and the
statement text, cut to ``MAX_STATEMENT_CHARS``, never its parameters: they can
hold personal data or secrets. The time is the driver's round trip, from
``before_cursor_execute`` to ``after_cursor_execute``, kept in the connection's
``info``; a statement that fails is not timed here.
"""

import logging
import time

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MAX_STATEMENT_CHARS = 2000
STARTED_AT = "statement_started_at"


def log_slow_queries(engine: AsyncEngine, threshold_ms: float) -> None:
    """Log every statement on ``engine`` that takes longer than ``threshold_ms``."""
    threshold = threshold_ms / 1000

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start(conn: Connection, *_: object) -> None:
        conn.info[STARTED_AT] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _check(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        elapsed = time.perf_counter() - conn.info.pop(STARTED_AT, time.perf_counter())
        if elapsed < threshold:
            return
        duration_ms = round(elapsed * 1000, 1)
        text = " ".join(statement.split())
        if len(text) > MAX_STATEMENT_CHARS:
            text = text[:MAX_STATEMENT_CHARS] + "..."
        logger.warning(
            "slow query (%.1f ms): %s",
            duration_ms,
            text,
            extra={"duration_ms": duration_ms, "statement": text},
        )
