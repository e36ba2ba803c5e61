"""How the service stops: the drain that lets load balancers move away first (serve.py)."""

from typing import Annotated

from pydantic import BaseModel, Field

# Readiness probe period (2 s) x failure threshold (2) + 2 s for the load
# balancer to act on it: see docs/kubernetes.md.
DEFAULT_DRAIN_DELAY = 6.0


class DrainSettings(BaseModel):
    """``DRAIN_DELAY`` and ``SHUTDOWN_TIMEOUT``, in seconds.

    On SIGTERM the server answers ``/health/ready`` with 503 and serves everything
    else for ``drain_delay``; then it stops accepting connections and gives the
    requests in flight ``shutdown_timeout`` (unset: the pool timeout plus one
    statement's deadline, the longest a request waits for the database) before
    it cancels them and closes the pools.
    """

    drain_delay: Annotated[float, Field(ge=0)] = DEFAULT_DRAIN_DELAY
    shutdown_timeout: Annotated[float, Field(gt=0)] | None = None
