"""The token claim that names a request's tenant (schema-per-tenant with bearer tokens)."""

from pydantic import BaseModel, Field


class TenantClaimSettings(BaseModel):
    """``AUTH_TENANT_CLAIM``: where the token names its tenant; ``X-Tenant`` is not read."""

    # A top-level string claim, e.g. "tenant" (a custom claim at the identity provider).
    auth_tenant_claim: str = Field(default="tenant", min_length=1)
