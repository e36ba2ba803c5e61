"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.auth import (
    Authenticator,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    SessionManager,
)
from {{ cookiecutter.package_name }}.draining import (
    is_draining,
)
from {{ cookiecutter.package_name }}.errors import (
    RETRY_AFTER_SECONDS,
)

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    """Probe answer; ``replicas`` gives each read replica's state, when there are any."""

    status: str
    detail: str | None = None
    replicas: dict[str, str] | None = None


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait",
        "required": True,
        "schema": {"type": "integer"},
    }
}


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
async def ready(
    manager: SessionManager, authentication: Authenticator, response: Response
) -> HealthStatus:
    """The primary answers (see ``db/readiness.py``), and tokens can be checked (``auth``).

    Read replicas are reported, never waited for: while the primary serves,
    reads fall back to it, so a standby that is down or behind never makes
    the service unready. From SIGTERM on, 503 (``draining.py``).
    """
    if is_draining():
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthStatus(status="draining", detail="shutting down")
    replicas = manager.replicas.states() if manager.replicas is not None else None
    detail = None
    if await manager.readiness.problem() is not None:
        detail = "database unavailable"
    elif await authentication.problem() is not None:
        detail = "token issuer unavailable"  # no key set fetched yet: no token can be checked
    if detail is not None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return HealthStatus(status="unavailable", detail=detail, replicas=replicas)
    return HealthStatus(status="ok", replicas=replicas)
