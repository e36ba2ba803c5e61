"""Who may call: anyone who reaches the service; these hooks do nothing.

Every ``/api`` route answers any caller, so the service must sit behind a
gateway that checks them (and, with tenants, sets ``X-Tenant`` itself). A
project generated with ``auth=jwt`` has an ``auth`` package here that
verifies the bearer tokens of an identity provider; ``main.py`` and
``health.py`` call the same hooks.
"""

from types import TracebackType
from typing import Annotated, Self

from fastapi import Depends, Request

from {{ cookiecutter.package_name }}.config import (
    Settings,
)


class Authentication:
    """Token verification that is not there."""

    def __init__(self, settings: Settings) -> None:
        """Nothing to set up (the token version fetches the issuer's keys)."""
        self.settings = settings

    async def __aenter__(self) -> Self:
        """Nothing to fetch."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing to close."""

    async def problem(self) -> str | None:
        """Nothing can keep callers from being served."""
        return None


async def get_authentication(request: Request) -> Authentication:
    """The hooks the app's lifespan set up."""
    authentication = getattr(request.state, "authentication", None)
    if not isinstance(authentication, Authentication):
        msg = "No Authentication in the lifespan state: did the app's lifespan run?"
        raise RuntimeError(msg)  # noqa: TRY004 - a wiring error, not bad input
    return authentication


Authenticator = Annotated[Authentication, Depends(get_authentication)]
