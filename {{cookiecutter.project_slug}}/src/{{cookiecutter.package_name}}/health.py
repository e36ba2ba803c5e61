"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.db import (
    SessionManager,
)
from {{ cookiecutter.package_name }}.errors import (
    RETRY_AFTER_SECONDS,
)

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    """Probe answer."""

    status: str
    detail: str | None = None


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


@router.get("/live")
async def live() -> HealthStatus:
    """The process is up. Never touches the database."""
    return HealthStatus(status="ok")


@router.get(
    "/ready",
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthStatus, "headers": RETRY_AFTER}
    },
)
async def ready(manager: SessionManager, response: Response) -> HealthStatus:
    """The database answers (see ``db/readiness.py``)."""
    problem = await manager.readiness.problem()
    if problem is not None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return HealthStatus(status="unavailable", detail="database unavailable")
    return HealthStatus(status="ok")
