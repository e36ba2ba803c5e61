"""Access tokens verified as RFC 8725 asks, with PyJWT.

The header's ``alg`` must be on ``AUTH_ALGORITHMS`` (public-key algorithms
only, so never ``none``, and never HS256 keyed with a public key), and its
``kid`` must name one of the issuer's keys, of that algorithm's type. The
signature is checked with that key; then ``iss`` must be ``AUTH_ISSUER``,
``aud`` must include ``AUTH_AUDIENCE``, ``exp`` and ``nbf`` must hold (with
``AUTH_LEEWAY`` seconds of clock difference), and ``exp``, ``iss``, ``aud``
and ``sub`` must be present.

Every refusal is ``InvalidTokenError``; its message is for the log and never
holds the token.
"""

import base64
import functools
import json
import ssl
from contextlib import suppress
from types import TracebackType
from typing import Any, Self

import httpx
import jwt
from jwt.exceptions import PyJWTError

from {{ cookiecutter.package_name }}.auth.keys import (
    IssuerKeys,
    KeysUnavailableError,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
    SettingsError,
)

REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default trust store, loaded once per process.

    Each ``httpx.AsyncClient`` otherwise loads it again: about 50 ms of CPU per
    app started (tests start dozens).
    """
    return httpx.create_ssl_context()


class InvalidTokenError(Exception):
    """The token is refused; the message names the check it failed, for the log."""


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, to choose the key; ``jwt.decode`` checks it again, strictly.

    Read here rather than with ``jwt.get_unverified_header``, which decodes and
    checks every segment, and ``jwt.decode`` does that again (measured: a
    quarter of the verification's CPU).
    """
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:  # not base64, not UTF-8, not JSON
        header = None
    if not isinstance(header, dict):
        msg = "the header is not a JSON object"
        raise InvalidTokenError(msg)
    return header


class Authentication:
    """Verifies the issuer's access tokens; owns the client that fetches its keys.

    Entering it (the app's lifespan) fetches the keys once, within
    ``AUTH_JWKS_TIMEOUT``; an issuer that is down then is logged and reported
    by ``problem()`` (readiness), and the app serves anyway.
    """

    def __init__(self, settings: Settings) -> None:
        """Prepare the key fetches; nothing is fetched until the block is entered.

        Raises ``SettingsError`` without ``AUTH_ISSUER`` or ``AUTH_AUDIENCE``:
        the app does not start without knowing whose tokens to accept.
        """
        missing = [
            name
            for name, value in (
                ("AUTH_ISSUER", settings.auth_issuer),
                ("AUTH_AUDIENCE", settings.auth_audience),
            )
            if not value
        ]
        if missing:
            msg = f"{' and '.join(missing)} must be set: the tokens of which issuer, for which API"
            raise SettingsError(msg)
        self.settings = settings
        self._client = httpx.AsyncClient(timeout=settings.auth_jwks_timeout, verify=tls_context())
        self.keys = IssuerKeys(self._client, settings)

    async def __aenter__(self) -> Self:
        """Fetch the issuer's keys once, without waiting past the deadline."""
        with suppress(KeysUnavailableError):  # logged; readiness reports it until a fetch works
            await self.keys.refresh()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the key fetches' connections."""
        await self.keys.close()
        await self._client.aclose()

    async def problem(self) -> str | None:
        """Why tokens cannot be verified now (no key set yet), in one line; else ``None``."""
        if self.keys.problem is None:
            return None
        try:
            await self.keys.refresh()
        except KeysUnavailableError as exc:
            return str(exc)
        return None

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, once every check passed.

        Raises ``InvalidTokenError``, or ``KeysUnavailableError`` while no key
        set could ever be fetched.
        """
        settings = self.settings
        header = unverified_header(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in settings.auth_algorithms:
            msg = "algorithm not accepted"
            raise InvalidTokenError(msg)
        if not isinstance(kid, str):
            msg = "no kid in the header"
            raise InvalidTokenError(msg)
        try:
            key = await self.keys.get(kid, algorithm)
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.auth_audience,
                issuer=settings.auth_issuer,
                leeway=settings.auth_leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except PyJWTError as exc:
            raise InvalidTokenError(type(exc).__name__) from None
