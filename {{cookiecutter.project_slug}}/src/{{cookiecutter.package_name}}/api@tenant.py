"""What every ``/api`` route shares: each works in the tenant named by ``X-Tenant``.

``routes.py`` mounts each resource router under ``/api`` with these dependencies.
Add others that every resource route must run, such as authentication.
"""

from fastapi import Depends, params

from {{ cookiecutter.package_name }}.tenancy import use_request_tenant

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = [Depends(use_request_tenant)]
