"""The loopback token issuer of the generated projects' own tests, used here too.

``Issuer`` (the generated ``tests/issuer.py``, loaded from the template) serves
discovery and a JWKS over HTTP on loopback and signs tokens with RSA and EC keys
it made; ``bad_tokens`` lists the tokens an app must refuse. ``app_settings`` is
the environment that points a served variant at an issuer.
"""

import importlib.util
import sys

from tests.template import PROJECT_TEMPLATE

_spec = importlib.util.spec_from_file_location(
    "generated_issuer", PROJECT_TEMPLATE / "tests" / "issuer.py"
)
assert _spec is not None
assert _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _module
_spec.loader.exec_module(_module)

Issuer = _module.Issuer
AUDIENCE: str = _module.AUDIENCE
bad_tokens = _module.bad_tokens
running_issuer = _module.running_issuer


def app_settings(issuer_url: str, **extra: str) -> dict[str, str]:
    """The environment of a served variant that accepts the tokens of ``issuer_url``."""
    return {
        "AUTH_ISSUER": issuer_url,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_ALGORITHMS": "RS256,ES256",
        **extra,
    }
