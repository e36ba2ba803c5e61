"""Liveness and readiness probes."""

import asyncio
import logging

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.db import SessionManager
from {{ cookiecutter.package_name }}.errors import RETRY_AFTER_SECONDS

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


class HealthStatus(BaseModel):
    """Probe answer."""

    status: str
    detail: str | None = None


@router.get("/live")
async def live() -> HealthStatus:
    """The process is up. Never touches the database."""
    return HealthStatus(status="ok")


@router.get(
    "/ready",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthStatus}},
)
async def ready(manager: SessionManager, response: Response) -> HealthStatus:
    """The database answers a query within a short timeout."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), manager.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (TimeoutError, OSError, SQLAlchemyError) as exc:
        logger.warning("readiness check failed: %r", exc)
        timed_out = isinstance(exc, TimeoutError)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return HealthStatus(
            status="unavailable",
            detail="database did not answer in time" if timed_out else "database unreachable",
        )
    return HealthStatus(status="ok")
