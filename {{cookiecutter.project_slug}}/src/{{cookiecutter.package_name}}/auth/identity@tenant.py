"""Who is calling, and for which tenant: what a verified token says about its caller.

The tenant is the token's ``AUTH_TENANT_CLAIM`` claim, set by the identity
provider; a client cannot choose it. A token without it, or with a value that
is not a tenant id, is refused as invalid; whether the service serves that
tenant is checked where the request enters it (``api.py``).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from {{ cookiecutter.package_name }}.auth.scopes import (
    granted_scopes,
)
from {{ cookiecutter.package_name }}.auth.tokens import (
    InvalidTokenError,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.schema import (
    TENANT_ID_PATTERN,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of a request: the token's subject, tenant and scopes, and every claim."""

    subject: str
    tenant: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]


def identity_from_claims(claims: Mapping[str, Any], settings: Settings) -> Identity:
    """The identity of a verified token's claims; ``InvalidTokenError`` without a tenant."""
    tenant = claims.get(settings.auth_tenant_claim)
    if not (isinstance(tenant, str) and re.fullmatch(TENANT_ID_PATTERN, tenant)):
        msg = "the tenant claim is missing or not a tenant id"
        raise InvalidTokenError(msg)
    return Identity(
        subject=claims["sub"], tenant=tenant, scopes=granted_scopes(claims), claims=claims
    )
