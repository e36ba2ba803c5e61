"""Read sessions refuse to write, before anything reaches the server.

``DbReadSession`` (``DatabaseSessionManager.read_session()``) runs in autocommit
by default, or on a standby: a write there would be committed at once, or fail
as a read-only transaction, far from the code that made it. So a read session
refuses, with ``ReadOnlySessionError`` naming the session to use instead:

- every flush (``add``, changes to loaded objects, ``delete``);
- every statement that is not a plain read: ``INSERT``, ``UPDATE``, ``DELETE``,
  ``MERGE``, DDL, ``SELECT ... INTO``, ``SELECT ... FOR UPDATE``/``FOR SHARE``,
  a ``WITH`` holding any of them, ``SET``, ``COPY``, ``CALL`` and the like,
  whether built with SQLAlchemy or written with ``text()``.

The statement check reads the SQL text as sent (literals and quoted names
aside), once per distinct statement. It cannot see inside a function: a
``SELECT`` of a function that writes (``nextval``, your own) passes it. In a
transaction (``DATABASE_AUTOCOMMIT_READS=false``, PgBouncer) the transaction
is also ``READ ONLY`` on the server, which refuses those too; so does a standby.
"""

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, ExecutionContext
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

# The execution option that marks a read session's statements.
READ_ONLY = "read_only_session"
# Statements that read, by their first keyword, and those that only mark a
# transaction (a read session may nest one with ``begin_nested``).
READ_KEYWORDS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN"})
TRANSACTION_KEYWORDS = frozenset({"SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"})
# What makes one of those write or lock: a data-modifying clause (a column that
# happens to be named ``update`` or ``delete`` is written ``t.update`` and does
# not match), ``SELECT ... INTO``, or a locking clause.
WRITE_CLAUSES = re.compile(
    r"(?<![.\w])(?:INSERT\s+INTO|DELETE\s+FROM|MERGE\s+INTO|UPDATE\s+(?:ONLY\s+)?\S+\s+(?:AS\s+)?(?:\S+\s+)?SET)\b"
    r"|(?<![.\w])INTO\b"
    r"|\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b",
    re.IGNORECASE,
)
# Comments, then string literals, quoted names and dollar-quoted bodies: none
# of them holds a keyword (each of the latter becomes one neutral word).
COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$\w*\$).*?\1", re.DOTALL)
USE_INSTEAD = "write through DbSession (DatabaseSessionManager.session()) instead"


class ReadOnlySessionError(InvalidRequestError):
    """A read session was asked to write."""


@lru_cache(maxsize=1024)
def is_read(statement: str) -> bool:
    """Whether ``statement`` only reads (see the module's docstring for the limits)."""
    words = QUOTED.sub(" _ ", COMMENTS.sub(" ", statement)).lstrip(" \t\r\n(")
    first = words.split(None, 1)[0].upper() if words else ""
    if first in TRANSACTION_KEYWORDS:
        return True
    return first in READ_KEYWORDS and WRITE_CLAUSES.search(words) is None


class ReadOnlySession(Session):
    """The synchronous session behind every read session (``sync_session_class``)."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    changes = len(session.new) + len(session.dirty) + len(session.deleted)
    msg = f"a read session cannot flush ({changes} pending change(s)): {USE_INSTEAD}"
    raise ReadOnlySessionError(msg)


@event.listens_for(ReadOnlySession, "do_orm_execute")
def _mark_statement(state: ORMExecuteState) -> None:
    # The statement check below then applies, whatever the session is bound to.
    state.update_execution_options(**{READ_ONLY: True})


def refuse_writes(engine: AsyncEngine) -> None:
    """Refuse, on ``engine``, every statement of a read session that does not only read."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(
        _conn: Connection,
        _cursor: object,
        statement: str,
        _parameters: Any,
        context: ExecutionContext | None,
        *_: object,
    ) -> None:
        if (
            context is not None
            and context.execution_options.get(READ_ONLY)
            and not is_read(statement)
        ):
            keyword = statement.split(None, 1)[0].upper() if statement.strip() else "?"
            msg = f"a read session cannot run {keyword} ...: {USE_INSTEAD}"
            raise ReadOnlySessionError(msg)
