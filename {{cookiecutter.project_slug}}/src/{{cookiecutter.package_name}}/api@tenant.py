"""What every ``/api`` route shares: each works in the tenant named by ``X-Tenant``.

``routes.py`` mounts each resource router under ``/api`` with these dependencies.
Add others that every resource route must run, such as authentication.
"""

from fastapi import Depends, params, status

from {{ cookiecutter.package_name }}.responses import (
    ErrorDetail,
    Responses,
)
from {{ cookiecutter.package_name }}.tenancy import (
    use_request_tenant,
)

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
