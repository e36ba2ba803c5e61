"""What every ``/api`` route shares: a verified bearer token (``auth``).

``routes.py`` mounts each resource router under ``/api`` with these
dependencies. A route that needs its caller takes ``identity: CurrentIdentity``
(the token is verified once per request, however many ask for it).
"""

from fastapi import Depends, params

from {{ cookiecutter.package_name }}.auth import (
    authenticate,
)
from {{ cookiecutter.package_name }}.auth.bearer import (
    RESPONSES as TOKEN_RESPONSES,
)
from {{ cookiecutter.package_name }}.responses import (
    Responses,
)

PREFIX = "/api"
DEPENDENCIES: list[params.Depends] = [Depends(authenticate)]
# Answers those dependencies may give, for the OpenAPI document.
RESPONSES: Responses = TOKEN_RESPONSES
