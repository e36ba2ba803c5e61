"""Where the tables live: one schema per tenant, ``tenant_<id>``.

Requests name their tenant (see ``tenancy.py``), jobs take ``--tenant``, and
migrations run once per tenant schema. Connections start with an empty
``search_path``, so outside a tenant an unqualified table name fails instead
of reaching another tenant's tables.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, field_validator
from pydantic_settings import NoDecode

_TENANT_ID = re.compile(r"[a-z][a-z0-9_]{0,48}")
# The same rule for the OpenAPI document (X-Tenant).
TENANT_ID_PATTERN = f"^{_TENANT_ID.pattern}$"


def validate_tenant_id(tenant: str) -> str:
    """Accept a tenant id: lowercase letters, digits and ``_``, starting with a letter."""
    if not _TENANT_ID.fullmatch(tenant):
        msg = "a tenant id is 1-49 lowercase letters, digits or '_', starting with a letter"
        raise ValueError(msg)
    return tenant


def tenant_schema(tenant: str) -> str:
    """The schema that holds a tenant's tables."""
    return f"tenant_{validate_tenant_id(tenant)}"


TenantId = Annotated[str, AfterValidator(validate_tenant_id)]


class SchemaSettings(BaseModel):
    """The tenants this service serves (``TENANTS=acme,globex``)."""

    tenants: Annotated[list[TenantId], NoDecode] = []

    @field_validator("tenants", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def migration_schemas(self, tenant: str | None = None) -> list[str | None]:
        """Where ``alembic upgrade`` works: one tenant's schema, or every tenant's."""
        tenants = [tenant] if tenant is not None else self.tenants
        return [tenant_schema(name) for name in tenants]

    def schema_server_settings(self) -> dict[str, str]:
        """Connections start in no schema at all: only a tenant's session names one."""
        return {"search_path": ""}
