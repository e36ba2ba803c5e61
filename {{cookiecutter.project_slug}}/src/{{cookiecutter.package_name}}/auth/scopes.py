"""The scopes a token grants: ``scope`` (RFC 8693, space-separated) or ``scp`` (a list)."""

from collections.abc import Mapping
from typing import Any


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Every scope the claims grant; none when neither claim is there (or is malformed)."""
    granted: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(value.split())
        elif isinstance(value, list):
            granted.update(item for item in value if isinstance(item, str))
    return frozenset(granted)
