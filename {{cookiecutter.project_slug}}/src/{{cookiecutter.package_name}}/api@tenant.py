"""What every ``/api`` route shares: each works in the tenant named by ``X-Tenant``.

``routes.py`` mounts each resource router under ``/api`` with these dependencies.
Add others that every resource route must run, such as authentication.
"""

from typing import Any

from fastapi import Depends, params, status

from {{ cookiecutter.package_name }}.tenancy import use_request_tenant

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = [Depends(use_request_tenant)]
# Answers those dependencies may give, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": "X-Tenant is missing or malformed"},
    status.HTTP_404_NOT_FOUND: {"description": "No such tenant (or no such resource)"},
}
