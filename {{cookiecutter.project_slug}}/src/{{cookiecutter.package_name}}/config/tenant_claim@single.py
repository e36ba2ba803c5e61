"""No tenant claim: this service has one set of tables, so tokens name no tenant."""

from pydantic import BaseModel


class TenantClaimSettings(BaseModel):
    """Nothing to configure."""
