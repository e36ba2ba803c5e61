"""Turn failures into clean HTTP answers; no body ever carries SQL or a stack trace.

- The database cannot serve (unreachable, refused, connect timeout, connection
  killed, shutting down, too many connections, a statement past its deadline)
  or the pool stayed exhausted for ``pool_timeout``: 503 with ``Retry-After``.
- A unique or foreign-key constraint refused the write: 409.
- Any other error: 500 whose body holds the request id; the traceback goes to
  the log beside the same id, never into the body (a database error's without
  the values its messages quote).

Every response carries an ``X-Request-ID`` header: the caller's, if it sent a
well-formed one, else a new one.
"""

import logging
import re
import time
import uuid

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.logs import (
    REQUEST_ID,
    log_access,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# SQLSTATE classes of errors that mean "the database cannot serve this now":
# 08 connection exception, 28 invalid authorization, 3D unknown database,
# 40 serialization failure or deadlock, 53 insufficient resources (too many
# connections), 57 operator intervention (shutdown, terminated backend,
# starting up, statement timeout).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "28", "3D", "40", "53", "57"})
# SQLSTATE class 22 (data exception): the message quotes the value refused.
DATA_EXCEPTION_CLASS = "22"


def request_id(request: Request) -> str:
    """The id ``RequestIdMiddleware`` gave this request (a new one without it)."""
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, str) else uuid.uuid4().hex


class RedactedDatabaseError(Exception):
    """A database error as logged: its traceback, and ``_describe``'s line as message."""


def _describe(exc: BaseException) -> str:
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
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return name
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return f"{name} (SQLSTATE {sqlstate})"
    return f"{name}: {exc.orig}".splitlines()[0]


def _loggable(exc: BaseException) -> BaseException:
    """What the log may show of ``exc``: a database error loses its chain and its values."""
    if not isinstance(exc, DBAPIError):
        return exc
    return RedactedDatabaseError(_describe(exc)).with_traceback(exc.__traceback__)


def _unavailable(request: Request, exc: Exception, reason: str) -> JSONResponse:
    logger.warning(
        "%s %s: %s (request_id=%s): %s",
        request.method,
        request.url.path,
        reason,
        request_id(request),
        _describe(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": reason},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _internal_error(request: Request, exc: BaseException) -> JSONResponse:
    rid = request_id(request)
    logger.error(
        "%s %s: unexpected error (request_id=%s)",
        request.method,
        request.url.path,
        rid,
        exc_info=_loggable(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error.", "request_id": rid},
        headers={REQUEST_ID_HEADER: rid},
    )


async def pool_timeout_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every pooled connection stayed busy for ``pool_timeout`` seconds."""
    return _unavailable(request, exc, "Database is busy, try again shortly.")


async def connection_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database could not be reached (refused, unknown host, connect timeout)."""
    return _unavailable(request, exc, "Database is unavailable, try again shortly.")


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A unique or foreign-key constraint refused the write."""
    logger.info(
        "%s %s: constraint violation: %s", request.method, request.url.path, _describe(exc)
    )
    return JSONResponse(
        status_code=status.HTTP_409_CONFLICT,
        content={"detail": "The request conflicts with existing data."},
    )


def is_unavailable(exc: DBAPIError) -> bool:
    """Whether the error means the database cannot serve now, rather than a bug."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return (
        exc.connection_invalidated
        or isinstance(exc, OperationalError)
        or (isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES)
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Any other database error: 503 if the database cannot serve, else 500."""
    if isinstance(exc, DBAPIError) and is_unavailable(exc):
        return await connection_error_handler(request, exc)
    return _internal_error(request, exc)


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


class RequestIdMiddleware:
    """Gives each request an id, logs its access line, turns any unhandled exception into a 500.

    The id is the caller's ``X-Request-ID`` if it is well formed, else a new
    one; it is in ``request.state.request_id``, in every response's
    ``X-Request-ID`` header, in the body of a 500 and in every log line written
    while the request is served (``logs.REQUEST_ID``). An error after the
    response has started cannot become a 500; it is re-raised for the server
    to log and to close the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        rid = offered if _WELL_FORMED_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)
        status_code: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status_code is not None:
                raise
            response = _internal_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            log_access(scope, status_code, time.perf_counter() - started_at)
            REQUEST_ID.reset(token)


def add_error_handlers(app: FastAPI) -> None:
    """Register the error handlers and the request-id middleware on ``app``."""
    app.add_exception_handler(PoolTimeoutError, pool_timeout_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    # Raised by the driver while connecting (refused, unknown host, missing
    # socket, connect timeout) and when a statement passes the client deadline
    # (TimeoutError and ConnectionError are OSErrors).
    app.add_exception_handler(OSError, connection_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_middleware(RequestIdMiddleware)
