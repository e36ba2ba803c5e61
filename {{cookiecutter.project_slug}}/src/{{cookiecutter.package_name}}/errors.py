"""Turn database failures into clean HTTP answers.

Unreachable database or exhausted pool: 503 with ``Retry-After``. Constraint
violation: 409. Any other database error: 500 with an error id that is also
logged beside the traceback; the body never carries SQL or a stack trace.
"""

import logging
import uuid

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def _unavailable(request: Request, exc: Exception, reason: str) -> JSONResponse:
    logger.warning("%s %s: %s: %r", request.method, request.url.path, reason, exc)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": reason},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def pool_timeout_handler(request: Request, exc: Exception) -> JSONResponse:
    """Every pooled connection stayed busy for ``pool_timeout`` seconds."""
    return _unavailable(request, exc, "Database is busy, try again shortly.")


async def connection_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database could not be reached."""
    return _unavailable(request, exc, "Database is unavailable, try again shortly.")


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A unique or foreign-key constraint refused the write."""
    logger.info("%s %s: constraint violation: %s", request.method, request.url.path, exc.args)
    return JSONResponse(
        status_code=status.HTTP_409_CONFLICT,
        content={"detail": "The request conflicts with existing data."},
    )


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Any other database error: 503 if the connection broke, else 500."""
    if isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return await connection_error_handler(request, exc)
    error_id = uuid.uuid4().hex
    logger.error(
        "%s %s: database error %s", request.method, request.url.path, error_id, exc_info=exc
    )
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error.", "error_id": error_id},
    )


def add_error_handlers(app: FastAPI) -> None:
    """Register the database error handlers on ``app``."""
    app.add_exception_handler(PoolTimeoutError, pool_timeout_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(ConnectionError, connection_error_handler)
    app.add_exception_handler(TimeoutError, connection_error_handler)
