"""Turn failures into clean HTTP answers; no body ever carries SQL or a stack trace.

- The database cannot serve now: 503 with ``Retry-After``, one WARNING line.
  That is ``DatabaseUnavailableError`` (no connection could be made, a statement
  passed the client deadline), the pool staying busy for
  ``DATABASE_POOL_TIMEOUT``, or a database error whose SQLSTATE means "not now":
  a lost connection, a shutdown, too many connections, ``statement_timeout``,
  a serialization failure or deadlock, a write refused during a failover.
- A write that conflicts with stored data, a unique (23505), foreign-key
  (23503) or exclusion (23P01) violation: 409, logged at INFO. Other integrity
  errors (NOT NULL, CHECK) are bugs in the code, so 500.
- Anything else, an ``OSError`` or ``TimeoutError`` of the code's own
  included: 500 whose body holds the request id; the traceback goes to the log
  beside the same id, every database error in it without the values it quotes.
"""

import logging

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
    loggable,
    sqlstate,
)
from {{ cookiecutter.package_name }}.request_id import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    request_id,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "Database is unavailable, try again shortly."
BUSY = "Database is busy, try again shortly."
# SQLSTATE classes that mean "the database cannot serve this now": 08 connection
# exception, 40 serialization failure or deadlock, 53 insufficient resources,
# 57 operator intervention (shutdown, terminated backend, statement timeout).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
# Integrity errors that are the caller's conflict, not a bug.
CONFLICT_SQLSTATES = frozenset({"23505", "23503", "23P01"})


def _unavailable(request: Request, exc: Exception, detail: str) -> JSONResponse:
    logger.warning(
        "%s %s: %s (request_id=%s): %s",
        request.method,
        request.url.path,
        detail,
        request_id(request),
        str(exc) if isinstance(exc, DatabaseUnavailableError) else describe(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": detail},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """500 with the request id; the traceback, redacted, goes to the log."""
    rid = request_id(request)
    logger.error(
        "%s %s: unexpected error (request_id=%s)",
        request.method,
        request.url.path,
        rid,
        exc_info=loggable(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error.", "request_id": rid},
        headers={REQUEST_ID_HEADER: rid},
    )


async def pool_timeout_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every pooled connection stayed busy for ``pool_timeout`` seconds."""
    return _unavailable(request, exc, BUSY)


async def unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """No connection could be made, or a statement passed the client deadline."""
    return _unavailable(request, exc, UNAVAILABLE)


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A unique, foreign-key or exclusion constraint refused the write: 409; else a bug."""
    if not (isinstance(exc, IntegrityError) and sqlstate(exc) in CONFLICT_SQLSTATES):
        return internal_error(request, exc)
    logger.info("%s %s: constraint violation: %s", request.method, request.url.path, describe(exc))
    return JSONResponse(
        status_code=status.HTTP_409_CONFLICT,
        content={"detail": "The request conflicts with existing data."},
    )


def is_unavailable(exc: DBAPIError) -> bool:
    """Whether the error means the database cannot serve now, rather than a bug."""
    code = sqlstate(exc)
    return exc.connection_invalidated or (
        code is not None and code[:2] in UNAVAILABLE_SQLSTATE_CLASSES
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Any other database error: 503 if the database cannot serve now, else 500."""
    if isinstance(exc, DBAPIError) and is_unavailable(exc):
        return _unavailable(request, exc, UNAVAILABLE)
    return internal_error(request, exc)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, with two fixes.

    A 405 lists in ``Allow`` every method of the path, not only the first
    route's. A body that is not even text (invalid UTF-8) is malformed JSON,
    answered with the same 422 as any other malformed JSON, not a bare 400.
    """
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(request))}
        exc = HTTPException(exc.status_code, exc.detail, headers)
    elif exc.status_code == status.HTTP_400_BAD_REQUEST and isinstance(
        exc.__cause__, UnicodeDecodeError
    ):
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.__cause__.start),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "Body is not valid UTF-8"},
        }
        return await request_validation_exception_handler(request, RequestValidationError([error]))
    return await http_exception_handler(request, exc)


def add_error_handlers(app: FastAPI) -> None:
    """Register the error handlers and the request-id middleware on ``app``."""
    app.add_exception_handler(DatabaseUnavailableError, unavailable_handler)
    app.add_exception_handler(PoolTimeoutError, pool_timeout_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_middleware(RequestIdMiddleware, internal_error=internal_error)
