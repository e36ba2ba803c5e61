"""The read-your-writes cookie: a client's last write position, carried both ways.

A committing request answers with ``Set-Cookie`` holding the primary's WAL
position after its commit; the client's next requests bring it back, and
``db/read_your_writes.py`` routes their reads by it.
"""

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.db.read_your_writes import (
    REQUEST_WRITES,
    Writes,
)

COOKIE = "db_written_lsn"
COOKIE_MAX_AGE_SECONDS = 300


class ReadYourWritesMiddleware:
    """Carries each client's last write position in a cookie, both ways."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with its client's position at hand."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        writes = Writes(seen=HTTPConnection(scope).cookies.get(COOKIE))
        token = REQUEST_WRITES.set(writes)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and writes.made is not None:
                secure = "; Secure" if scope.get("scheme") == "https" else ""
                MutableHeaders(scope=message).append(
                    "Set-Cookie",
                    f"{COOKIE}={writes.made}; Max-Age={COOKIE_MAX_AGE_SECONDS};"
                    f" Path=/; HttpOnly; SameSite=Lax{secure}",
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            REQUEST_WRITES.reset(token)
