"""Keyset pagination: pages that cost the same at any depth, and stay right while rows change.

A page is the rows after a key, in key order: ``WHERE id > :after ORDER BY id
LIMIT :size``. With an index on the key, PostgreSQL reads only the page, at
the millionth row as at the first (``OFFSET`` reads and throws away every row
it skips, so a full walk costs O(n²)). A row inserted or deleted while a
client walks never shifts the pages after it: each row that exists from the
first page to its own is seen exactly once, and none twice.

The client gets the next page's URL (in the body and in an RFC 8288
``Link: <...>; rel="next"`` header) and sends back its ``cursor``, an opaque
token holding the last key it saw. Cursors are validated, not signed: one
names only a position in an order the client may read anyway, so a tampered
cursor can only skip rows it could fetch by walking; signing would add a key
to manage and rotate for nothing. A malformed one is a 422 that says so.
"""

import base64
import binascii
import re
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

VERSION = "k1"
_DECODED = re.compile(VERSION + r":(0|[1-9][0-9]*)")
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
BAD_CURSOR = "not a cursor of this API: send back the `cursor` of a `next` link unchanged"


def encode_cursor(key: int) -> str:
    """The opaque cursor for the page after ``key``."""
    raw = f"{VERSION}:{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, largest: int) -> int:
    """The key a cursor holds; ``ValueError`` for anything this API did not make."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError(BAD_CURSOR) from None
    match = _DECODED.fullmatch(raw.decode("ascii", errors="replace"))
    if match is None or len(match.group(1)) > len(str(largest)) or int(match.group(1)) > largest:
        raise ValueError(BAD_CURSOR)
    return int(match.group(1))


def page_start(largest: int) -> Any:  # what Depends() returns, for Annotated
    """A dependency: the key after which the requested page starts (0 for the first page)."""

    def after(
        cursor: Annotated[
            str | None,
            Query(
                description="Where the page starts: the `cursor` of the previous page's next link",
                pattern=CURSOR_PATTERN,
            ),
        ] = None,
    ) -> int:
        if cursor is None:
            return 0
        try:
            return decode_cursor(cursor, largest)
        except ValueError as exc:
            error = {"type": "value_error", "loc": ("query", "cursor"), "msg": str(exc)}
            raise RequestValidationError([{**error, "input": cursor}]) from None

    return Depends(after)


def link_next(request: Request, response: Response, last_key: int) -> str:
    """The next page's URL, also sent as ``Link: <url>; rel="next"``."""
    url = str(request.url.include_query_params(cursor=encode_cursor(last_key)))
    response.headers["Link"] = f'<{url}>; rel="next"'
    return url
