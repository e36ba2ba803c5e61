"""Database errors as the log may show them: the statement and values left out.

A database error's message can quote the values of the row it refused (a
constraint violation's DETAIL) or the value it could not store (a data
exception). ``loggable`` gives an exception to log in place of another: the
same chain and tracebacks, with every database error in it, however deep
(``raise X from db_error``), replaced by one line naming it.
"""

import copy
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE the server gave, if any."""
    code = getattr(exc.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


# SQLSTATE class 22 (data exception): the message quotes the value refused.
DATA_EXCEPTION_CLASS = "22"


class RedactedDatabaseError(Exception):
    """A database error as logged: its traceback, and ``describe``'s line as message."""


def describe(exc: BaseException) -> str:
    """The error in one line, without the SQL statement or any value sent.

    A database error keeps its message's first line (a constraint violation's
    DETAIL, which quotes the row, is on the next ones), unless the message
    quotes a value: a data exception (SQLSTATE class 22), or an error the
    driver raised before sending (no SQLSTATE; asyncpg quotes the parameter it
    could not encode). Those are named by class and SQLSTATE only.
    """
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    name = type(exc.orig).__name__
    code = sqlstate(exc)
    if code is None:
        return name
    if code.startswith(DATA_EXCEPTION_CLASS):
        return f"{name} (SQLSTATE {code})"
    return f"{name}: {exc.orig}".splitlines()[0]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    found: BaseException | None = exc
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        yield found
        found = found.__cause__ or found.__context__


def _redacted(exc: BaseException) -> BaseException:
    """A copy of ``exc``'s chain with each database error replaced by its one line."""
    if isinstance(exc, DBAPIError):
        return RedactedDatabaseError(describe(exc)).with_traceback(exc.__traceback__)
    try:
        clone = copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied is named instead
        clone = RuntimeError(f"{type(exc).__qualname__}: {exc}")
    clone.__cause__ = _redacted(exc.__cause__) if exc.__cause__ is not None else None
    clone.__context__ = _redacted(exc.__context__) if exc.__context__ is not None else None
    clone.__suppress_context__ = exc.__suppress_context__
    return clone.with_traceback(exc.__traceback__)


def loggable(exc: BaseException) -> BaseException:
    """What the log may show of ``exc``: database errors anywhere in its chain, redacted."""
    if any(isinstance(link, DBAPIError) for link in _chain(exc)):
        return _redacted(exc)
    return exc
