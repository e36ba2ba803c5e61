"""Who is calling: what a verified token says about its caller."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from {{ cookiecutter.package_name }}.auth.scopes import (
    granted_scopes,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of a request: the token's subject, its scopes, and every claim."""

    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]


def identity_from_claims(claims: Mapping[str, Any], _settings: Settings) -> Identity:
    """The identity of a verified token's claims."""
    return Identity(subject=claims["sub"], scopes=granted_scopes(claims), claims=claims)
