"""What every ``/api`` route shares.

Add here the dependencies that every resource route must run: ``routes.py``
mounts each resource router under ``/api`` with them. Nothing checks the
caller: every route answers anyone who reaches the service, so serve it behind
a gateway that does (a project generated with ``auth=jwt`` verifies bearer
tokens here).
"""

from fastapi import params

from {{ cookiecutter.package_name }}.responses import (
    Responses,
)

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = []
# Answers those dependencies may give, for the OpenAPI document.
RESPONSES: Responses = {}
