"""``AUTH_*``: where the bearer tokens of ``/api`` come from and how they are checked.

The service is an OAuth 2.0 resource server: it verifies the access tokens of
an identity provider (Keycloak, Auth0, Entra ID, Okta, Cognito, Google) and
never issues any. See ``auth/`` and docs/auth.md.
"""

from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from {{ cookiecutter.package_name }}.config.tenant_claim import (
    TenantClaimSettings,
)

# Signature algorithms with a public key. HS256 and its kin are left out on
# purpose: with them, a public key could act as the shared secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _words(value: object) -> object:
    """A comma- or space-separated string as a list."""
    if isinstance(value, str):
        return value.replace(",", " ").split()
    return value


class AuthSettings(TenantClaimSettings, BaseModel):
    """The issuer whose tokens are accepted, and the rules a token must pass."""

    # The token's "iss", exactly (e.g. https://id.example.com/realms/main), and
    # what its "aud" must include (the API's identifier at the provider). The
    # app refuses to start without them (auth/tokens.py); commands and
    # migrations do not need them.
    auth_issuer: str = ""
    auth_audience: str = ""
    # The issuer's key set; unset, it is found through the issuer's
    # /.well-known/openid-configuration (its jwks_uri).
    auth_jwks_url: str | None = None
    # Accepted signature algorithms, asymmetric only.
    auth_algorithms: Annotated[list[str], NoDecode] = ["RS256"]
    # Seconds of clock difference allowed on "exp" and "nbf".
    auth_leeway: Annotated[float, Field(ge=0, le=300)] = 30.0
    # Deadline of one fetch of the key set (discovery included), in seconds.
    auth_jwks_timeout: Annotated[float, Field(gt=0, le=60)] = 3.0
    # Seconds a fetched key set is used before it is fetched again (in the background).
    auth_jwks_max_age: Annotated[float, Field(gt=0)] = 900.0
    # The fewest seconds between two fetches: a token whose key is unknown
    # (a rotated key) fetches the set again at most this often.
    auth_jwks_refresh_interval: Annotated[float, Field(ge=0)] = 10.0
    # Scopes every /api request's token must hold ("scope" or "scp" claim).
    auth_required_scopes: Annotated[list[str], NoDecode] = []

    @field_validator("auth_algorithms", "auth_required_scopes", mode="before")
    @classmethod
    def _split_words(cls, value: object) -> object:
        return _words(value)

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [name for name in value if name not in ASYMMETRIC_ALGORITHMS]
        if refused or not value:
            allowed = ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            msg = f"{', '.join(refused) or 'none given'}: accepted algorithms are {allowed}"
            raise ValueError(msg)
        return value

    @field_validator("auth_issuer", "auth_jwks_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                msg = f"{value!r} is not an absolute https:// URL"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _https_away_from_loopback(self) -> Self:
        """Keys fetched over plain HTTP could be swapped on the way."""
        for name, url in (
            ("AUTH_ISSUER", self.auth_issuer),
            ("AUTH_JWKS_URL", self.auth_jwks_url),
        ):
            parts = urlsplit(url or "https://unset")
            if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
                msg = f"{name} must use https:// (plain http only on loopback, for tests)"
                raise ValueError(msg)
        return self
