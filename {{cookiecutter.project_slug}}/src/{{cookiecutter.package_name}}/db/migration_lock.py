"""What keeps migrations safe when several runners start at once.

Every replica of a deployment that migrates on start, a retried Job, a team
member at a terminal: any of them may run ``alembic upgrade head`` while
another does. Each migration transaction therefore first takes a PostgreSQL
advisory lock for its schema (one per database and schema). A second runner
waits for it, up to ``DATABASE_MIGRATION_WAIT_TIMEOUT``, then reads the version
the first one committed and finds nothing left to do.

The lock is transaction-level (``pg_advisory_xact_lock``): the migration's own
transaction holds it and its commit or rollback releases it, so it works
through PgBouncer in transaction mode, where a session-level lock would be
taken on one server connection and released on another.

After the lock, ``lock_timeout`` drops to ``DATABASE_MIGRATION_LOCK_TIMEOUT`` for
the DDL itself: a migration stuck behind a long transaction fails fast
instead of queueing every request behind its ``ALTER TABLE``.
"""

import hashlib

from sqlalchemy import Select, func, select, true

from {{ cookiecutter.package_name }}.db.deadlines import (
    milliseconds,
)

LOCK_NOT_AVAILABLE = "55P03"
LOCK_NAMESPACE = "alembic upgrade"


def set_local_lock_timeout(seconds: float) -> Select[tuple[str]]:
    """``set_config('lock_timeout', ...)`` for the current transaction only."""
    return select(func.set_config("lock_timeout", milliseconds(seconds), true()))


def lock_key(schema: str | None) -> int:
    """The advisory lock's 64-bit key for ``schema`` (``None``: the default schema)."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def take_migration_lock(schema: str | None) -> Select[tuple[object]]:
    """Wait for, then hold until the transaction ends, the migration lock of ``schema``."""
    return select(func.pg_advisory_xact_lock(lock_key(schema)))


def waited_too_long(statement: str | None) -> bool:
    """Whether a lock timeout hit the migration lock, rather than a table's lock."""
    return "pg_advisory_xact_lock" in (statement or "")
