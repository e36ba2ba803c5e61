"""The issuer's signing keys (its JWKS), fetched without blocking and kept in memory.

- Fetched once at startup, within ``AUTH_JWKS_TIMEOUT`` (discovery included),
  and again after ``AUTH_JWKS_MAX_AGE`` in the background, while the keys
  already held keep verifying.
- A token whose ``kid`` is not held fetches the set again at once: a key the
  issuer has just rotated in is accepted without a restart. Fetches are at
  least ``AUTH_JWKS_REFRESH_INTERVAL`` apart, so a flood of made-up ``kid``
  values costs the issuer one request per interval, and a down issuer is not
  hammered either.
- A failed fetch keeps the keys already held. Only while none was ever fetched
  do tokens go unchecked: ``KeysUnavailableError`` (503, and not ready).
- Only signing keys of public-key types are kept (``kty`` RSA, EC or OKP,
  ``use`` absent or ``sig``, ``alg`` absent or accepted): a symmetric key in
  the set can never verify anything.

The fetches use ``httpx.AsyncClient``: PyJWT's own ``PyJWKClient`` uses
``urllib``, which would block the event loop for as long as the issuer takes.
"""

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import InvalidAlgorithmError, InvalidKeyError

from {{ cookiecutter.package_name }}.config.auth import (
    AuthSettings,
)

logger = logging.getLogger(__name__)

PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
DISCOVERY_PATH = "/.well-known/openid-configuration"

JWK = dict[str, Any]


class KeysUnavailableError(Exception):
    """No key set was ever fetched, and none can be fetched now."""


class UnknownKeyError(InvalidKeyError):
    """The issuer's key set has no key with the token's ``kid``, even fetched again."""


class IssuerKeys:
    """The issuer's public keys by ``kid``, fetched when needed and at most so often."""

    def __init__(self, client: httpx.AsyncClient, settings: AuthSettings) -> None:
        """Fetch from ``AUTH_JWKS_URL``, or from the URL the issuer's discovery names."""
        self._client = client
        self._issuer = settings.auth_issuer
        self._jwks_url = settings.auth_jwks_url
        self._algorithms = frozenset(settings.auth_algorithms)
        self._timeout = settings.auth_jwks_timeout
        self._max_age = settings.auth_jwks_max_age
        self._refresh_interval = settings.auth_jwks_refresh_interval
        self._keys: dict[str, JWK] = {}
        self._prepared: dict[tuple[str, str], PyJWK] = {}
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._problem: str | None = "the key set has not been fetched yet"
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def problem(self) -> str | None:
        """Why no key can be used, while none was ever fetched; else ``None``."""
        return None if self._keys else self._problem

    async def get(self, kid: str, algorithm: str) -> PyJWK:
        """The key with this ``kid``, for ``algorithm``; fetches the set again if it is unknown.

        Raises ``UnknownKeyError`` (or another ``InvalidKeyError``) when no such key
        exists, or when it is not a key for ``algorithm``.
        """
        jwk = self._keys.get(kid)
        if jwk is None:
            await self.refresh()
            jwk = self._keys.get(kid)
            if jwk is None:
                msg = "no key with this kid"
                raise UnknownKeyError(msg)
        elif time.monotonic() - self._fetched_at > self._max_age:
            self._refresh_in_background()
        return self._prepare(kid, jwk, algorithm)

    def _prepare(self, kid: str, jwk: JWK, algorithm: str) -> PyJWK:
        """The key parsed for ``algorithm`` once (a key of another type raises)."""
        prepared = self._prepared.get((kid, algorithm))
        if prepared is None:
            if jwk.get("alg", algorithm) != algorithm:
                msg = "the key is for another algorithm"
                raise InvalidAlgorithmError(msg)
            prepared = self._prepared[kid, algorithm] = PyJWK(jwk, algorithm)
        return prepared

    async def refresh(self) -> None:
        """Fetch the set unless a fetch was tried within the refresh interval.

        Raises ``KeysUnavailableError`` when no key set is held afterwards.
        """
        async with self._lock:
            if time.monotonic() - self._tried_at >= self._refresh_interval:
                self._tried_at = time.monotonic()
                await self._fetch_and_keep()
        if not self._keys:
            raise KeysUnavailableError(self._problem)

    async def close(self) -> None:
        """Stop a background fetch, if one runs."""
        if self._background is not None:
            self._background.cancel()
            await asyncio.gather(self._background, return_exceptions=True)

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with suppress(KeysUnavailableError):  # logged; the keys held are still used
            await self.refresh()

    async def _fetch_and_keep(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                keys = await self._fetch()
        except TimeoutError:
            self._report(f"the issuer did not answer within {self._timeout:g} s")
        except httpx.HTTPStatusError as exc:
            self._report(f"HTTP {exc.response.status_code} from {exc.request.url}")
        except httpx.HTTPError as exc:
            self._report(f"{type(exc).__name__} from {exc.request.url}: {exc}")
        except ValueError as exc:  # a document that is not what it should be
            self._report(str(exc))
        else:
            self._keys, self._prepared, self._fetched_at = keys, {}, time.monotonic()
            self._report(None)

    async def _fetch(self) -> dict[str, JWK]:
        if self._jwks_url is None:
            self._jwks_url = await self._discover()
        document = await self._get_json(self._jwks_url)
        found = document.get("keys")
        if not isinstance(found, list):
            msg = f"{self._jwks_url} is not a JWK set (no keys list)"
            raise ValueError(msg)  # noqa: TRY004 - reported as a problem, never raised further
        keys = {key["kid"]: key for key in found if self._usable(key)}
        if not keys:
            msg = f"{self._jwks_url} holds no usable signing key"
            raise ValueError(msg)
        return keys

    async def _discover(self) -> str:
        """The ``jwks_uri`` of the issuer's discovery document (OpenID Connect Discovery)."""
        document = await self._get_json(self._issuer.rstrip("/") + DISCOVERY_PATH)
        if document.get("issuer") != self._issuer:
            msg = (
                f"the discovery document names issuer {document.get('issuer')!r}, not AUTH_ISSUER"
            )
            raise ValueError(msg)
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            msg = "the discovery document has no jwks_uri"
            raise ValueError(msg)  # noqa: TRY004
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            msg = f"{url} did not answer a JSON object"
            raise ValueError(msg)  # noqa: TRY004
        return document

    def _usable(self, key: object) -> bool:
        return (
            isinstance(key, dict)
            and isinstance(key.get("kid"), str)
            and key.get("kty") in PUBLIC_KEY_TYPES
            and key.get("use", "sig") == "sig"
            and ("alg" not in key or key["alg"] in self._algorithms)
        )

    def _report(self, problem: str | None) -> None:
        if problem is None:
            if self._problem is not None:
                logger.info("token issuer: %d signing keys fetched", len(self._keys))
        else:
            logger.warning("token issuer: the key set could not be fetched: %s", problem)
        self._problem = problem
