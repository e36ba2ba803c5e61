"""Every request gets an id, an access line, and a 500 for anything unhandled.

The id is the caller's ``X-Request-ID`` if it is well formed, else a new one;
it is in ``request.state.request_id``, in every response's ``X-Request-ID``
header, in the body of a 500, and in every log line written while the request
is served (``logs.REQUEST_ID``).
"""

import re
import time
import uuid
from collections.abc import Callable

from fastapi import Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from {{ cookiecutter.package_name }}.logs import (
    REQUEST_FIELDS,
    REQUEST_ID,
    log_access,
)

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Builds the 500 answer for an exception nothing else handled.
InternalError = Callable[[Request, Exception], Response]


def request_id(request: Request) -> str:
    """The id ``RequestIdMiddleware`` gave this request (a new one without it)."""
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, str) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request its id, logs its access line, turns what escapes into a 500.

    An error after the response has started cannot become a 500; it is
    re-raised for the server to log and to close the connection.
    """

    def __init__(self, app: ASGIApp, internal_error: InternalError) -> None:
        """Wrap ``app``; ``internal_error`` answers what escapes it."""
        self.app = app
        self.internal_error = internal_error

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
        fields_token = REQUEST_FIELDS.set({})
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
            response = self.internal_error(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            log_access(scope, status_code, time.perf_counter() - started_at)
            REQUEST_FIELDS.reset(fields_token)
            REQUEST_ID.reset(token)
