"""Whether this process is draining: it got SIGTERM and is leaving its load balancer.

A load balancer (kube-proxy, an ingress, a cloud load balancer) keeps sending
requests for a few seconds after SIGTERM, until its own health checks fail or
the endpoint's removal reaches it. So the server (``serve.py``) does not stop at
once: it marks the process as draining, and only stops accepting connections
once ``DRAIN_DELAY`` has passed. Meanwhile:

- ``/health/ready`` answers 503, which takes the instance out of rotation;
- every other request is served as usual, and ``CloseWhileDraining`` ends its
  keep-alive connection after the response, so the client's next request opens
  a new connection, which the load balancer sends to another instance.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DrainState:
    """This process's drain state (each worker process has its own)."""

    def __init__(self) -> None:
        """Not draining."""
        self.started = False


DRAIN = DrainState()


def is_draining() -> bool:
    """Whether SIGTERM has started the drain in this process."""
    return DRAIN.started


def start_draining() -> None:
    """Mark the process as draining; called by the server on SIGTERM."""
    DRAIN.started = True


class CloseWhileDraining:
    """While draining, answer with ``Connection: close``: keep-alive clients move on."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; checked once, as it starts (one attribute read)."""
        if scope["type"] != "http" or not DRAIN.started:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, receive, send_closing)
