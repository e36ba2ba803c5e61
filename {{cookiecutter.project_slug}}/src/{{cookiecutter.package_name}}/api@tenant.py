"""What every ``/api`` route shares: each works in the tenant named by ``X-Tenant``.

``routes.py`` mounts each resource router under ``/api`` with these dependencies.
Add others that every resource route must run.

The header is trusted as sent: anyone who reaches the service reads any
tenant's rows by changing it. Serve only behind a gateway the team controls
that authenticates the caller and sets ``X-Tenant`` itself, replacing any
the client sent (a project generated with ``auth=jwt`` takes the tenant from
a verified bearer token instead).
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, params, status

from {{ cookiecutter.package_name }}.db.dependencies import (
    SessionManager,
)
from {{ cookiecutter.package_name }}.responses import (
    ErrorDetail,
    Responses,
)
from {{ cookiecutter.package_name }}.schema import (
    TENANT_ID_PATTERN,
)
from {{ cookiecutter.package_name }}.tenancy import (
    tenant_context,
)

TenantHeader = Annotated[
    str,
    Header(
        alias="X-Tenant",
        description="The tenant to work in (one of the service's TENANTS)",
        pattern=TENANT_ID_PATTERN,
    ),
]


async def use_request_tenant(
    manager: SessionManager, x_tenant: TenantHeader
) -> AsyncIterator[str]:
    """Run the request in the tenant named by ``X-Tenant`` (a missing or bad one: 422)."""
    if x_tenant not in manager.settings.tenants:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Unknown tenant")
    with tenant_context(x_tenant):
        yield x_tenant


PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = [Depends(use_request_tenant)]
# Answers those dependencies may give, for the OpenAPI document (a missing or
# malformed X-Tenant is FastAPI's 422, declared already).
RESPONSES: Responses = {
    status.HTTP_404_NOT_FOUND: {
        "description": "X-Tenant names no tenant of this service",
        "model": ErrorDetail,
    },
}
