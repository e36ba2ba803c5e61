"""What every ``/api`` route shares: a verified bearer token, and the tenant it names.

The tenant is the token's ``AUTH_TENANT_CLAIM`` claim, which the identity
provider sets and the client cannot change. ``X-Tenant`` is not read at all:
a second source would only add a way to disagree, and a header could never
widen what the token grants. A token without the claim is refused (401); a
tenant not on ``TENANTS`` is a 403.

``routes.py`` mounts each resource router under ``/api`` with these
dependencies. A route that needs its caller takes ``identity: CurrentIdentity``.
"""

from collections.abc import AsyncIterator

from fastapi import Depends, params

from {{ cookiecutter.package_name }}.auth import (
    CurrentIdentity,
    insufficient_scope,
)
from {{ cookiecutter.package_name }}.auth.bearer import (
    RESPONSES as TOKEN_RESPONSES,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    SessionManager,
)
from {{ cookiecutter.package_name }}.responses import (
    Responses,
)
from {{ cookiecutter.package_name }}.tenancy import (
    tenant_context,
)


async def use_token_tenant(
    identity: CurrentIdentity, manager: SessionManager
) -> AsyncIterator[str]:
    """Run the request in the tenant its token names."""
    if identity.tenant not in manager.settings.tenants:
        msg = "The token's tenant is not served here"
        raise insufficient_scope(msg)
    with tenant_context(identity.tenant):
        yield identity.tenant


PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = [Depends(use_token_tenant)]
# Answers those dependencies may give, for the OpenAPI document.
RESPONSES: Responses = TOKEN_RESPONSES
