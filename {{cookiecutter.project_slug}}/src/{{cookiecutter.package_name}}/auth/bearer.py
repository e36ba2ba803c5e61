"""The bearer token of an ``/api`` request (RFC 6750): who calls, or a 401, 403 or 503.

- No ``Authorization: Bearer`` header: 401 with ``WWW-Authenticate: Bearer``
  (RFC 6750 3.1: a request without credentials gets no error code).
- A token that fails any check: 401 with ``WWW-Authenticate: Bearer
  error="invalid_token"``, the same answer whatever failed; the log says
  which check, never the token.
- A valid token without a scope of ``AUTH_REQUIRED_SCOPES``: 403 with
  ``error="insufficient_scope"`` and the scopes needed.
- No key set could be fetched yet: 503 with ``Retry-After``; the token is not
  at fault, so it is not a 401.

The identity reaches routes as ``CurrentIdentity``; the request's log lines
carry its ``sub``.
"""

import logging
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from {{ cookiecutter.package_name }}.auth.identity import (
    Identity,
    identity_from_claims,
)
from {{ cookiecutter.package_name }}.auth.keys import (
    KeysUnavailableError,
)
from {{ cookiecutter.package_name }}.auth.tokens import (
    Authentication,
    InvalidTokenError,
)
from {{ cookiecutter.package_name }}.errors import (
    RETRY_AFTER_SECONDS,
)
from {{ cookiecutter.package_name }}.logs import (
    add_request_field,
)
from {{ cookiecutter.package_name }}.responses import (
    RETRY_AFTER_HEADER,
    ErrorDetail,
    Responses,
)

logger = logging.getLogger(__name__)

# The OpenAPI security scheme: /docs offers to send a token with every /api call.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token from the identity provider (AUTH_ISSUER)",
)
CHALLENGE_HEADER = {
    "WWW-Authenticate": {
        "description": 'The scheme, and the error where there is one: Bearer error="..."',
        "schema": {"type": "string"},
    }
}
# Answers of an /api route that needs a token, for the OpenAPI document.
RESPONSES: Responses = {
    status.HTTP_401_UNAUTHORIZED: {
        "description": "No bearer token, or one that is not valid",
        "model": ErrorDetail,
        "headers": CHALLENGE_HEADER,
    },
    status.HTTP_403_FORBIDDEN: {
        "description": "The token does not grant this",
        "model": ErrorDetail,
        "headers": CHALLENGE_HEADER,
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "description": "The token issuer's keys cannot be fetched: try again later",
        "model": ErrorDetail,
        "headers": RETRY_AFTER_HEADER,
    },
}


def insufficient_scope(detail: str, scopes: Iterable[str] = ()) -> HTTPException:
    """403: the token is valid but does not grant this (RFC 6750 ``insufficient_scope``)."""
    needed = " ".join(scopes)
    challenge = 'Bearer error="insufficient_scope"' + (f', scope="{needed}"' if needed else "")
    return HTTPException(status.HTTP_403_FORBIDDEN, detail, {"WWW-Authenticate": challenge})


async def get_authentication(request: Request) -> Authentication:
    """The token verification the app's lifespan set up."""
    authentication = getattr(request.state, "authentication", None)
    if not isinstance(authentication, Authentication):
        msg = "No Authentication in the lifespan state: did the app's lifespan run?"
        raise RuntimeError(msg)  # noqa: TRY004 - a wiring error, not bad input
    return authentication


Authenticator = Annotated[Authentication, Depends(get_authentication)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authenticate(request: Request, credentials: Credentials) -> Identity:
    """The caller of this request, from its verified bearer token."""
    authentication = await get_authentication(request)  # a call: cheaper than a dependency
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Bearer token required", {"WWW-Authenticate": "Bearer"}
        )
    settings = authentication.settings
    try:
        claims = await authentication.verify(credentials.credentials)
        identity = identity_from_claims(claims, settings)
    except InvalidTokenError as exc:
        logger.info("bearer token refused: %s", exc)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid bearer token",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    except KeysUnavailableError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Token issuer unavailable, try again shortly.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    add_request_field("sub", identity.subject)
    if not identity.scopes.issuperset(settings.auth_required_scopes):
        msg = "The token lacks a required scope"
        raise insufficient_scope(msg, settings.auth_required_scopes)
    return identity


# The caller of an /api route: ``async def route(identity: CurrentIdentity)``.
CurrentIdentity = Annotated[Identity, Depends(authenticate)]
