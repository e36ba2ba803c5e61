"""Who may call: bearer tokens of the identity provider, verified on every ``/api`` request.

The service is an OAuth 2.0 resource server: it checks access tokens, it
never issues them. ``api.py`` puts ``authenticate`` in front of every ``/api``
route; a route that needs the caller takes ``identity: CurrentIdentity``.

- ``keys.py``: the issuer's key set, fetched without blocking, cached, fetched
  again for an unknown ``kid`` at most every ``AUTH_JWKS_REFRESH_INTERVAL``.
- ``tokens.py``: the checks of a token (PyJWT), and ``Authentication``, which
  the lifespan opens and ``/health/ready`` asks.
- ``identity.py``, ``scopes.py``: what a verified token says about its caller.
- ``bearer.py``: the ``Authorization`` header in, the caller or a 401/403/503 out.
"""

from .bearer import (
    Authenticator,
    CurrentIdentity,
    authenticate,
    get_authentication,
    insufficient_scope,
)
from .identity import Identity
from .tokens import Authentication

__all__ = [
    "Authentication",
    "Authenticator",
    "CurrentIdentity",
    "Identity",
    "authenticate",
    "get_authentication",
    "insufficient_scope",
]
