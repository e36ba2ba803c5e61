"""No token settings: every ``/api`` route answers any caller who reaches it.

A project generated with ``auth=jwt`` has the settings of bearer-token
verification here (``AUTH_*``).
"""

from pydantic import BaseModel


class AuthSettings(BaseModel):
    """Nothing to configure: the service checks no credentials."""
