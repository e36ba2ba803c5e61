"""What every ``/api`` route shares.

Add here the dependencies that every resource route must run, such as
authentication: ``routes.py`` mounts each resource router under ``/api`` with them.
"""

from fastapi import params

from {{ cookiecutter.package_name }}.responses import (
    Responses,
)

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = []
# Answers those dependencies may give, for the OpenAPI document.
RESPONSES: Responses = {}
