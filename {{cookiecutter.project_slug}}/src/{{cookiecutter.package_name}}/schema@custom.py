"""Where the tables live: the PostgreSQL schema named by ``DATABASE_SCHEMA``.

Every connection starts with ``search_path`` set to that one schema, as an
asyncpg startup parameter. That costs no round trip, survives rollbacks, and no
SQL string is ever built from the name. Because the path holds only this
schema, an unqualified table name can never fall through to ``public``, so two
services sharing a database with different schemas cannot see each other's
tables.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_MAX_IDENTIFIER_BYTES = 63


def validate_schema_name(name: str) -> str:
    """Accept a lowercase, unquoted PostgreSQL identifier that is not reserved."""
    if not _IDENTIFIER.fullmatch(name):
        msg = "must be lowercase letters, digits and underscores, not starting with a digit"
        raise ValueError(msg)
    if len(name.encode()) > _MAX_IDENTIFIER_BYTES:
        msg = f"must be at most {_MAX_IDENTIFIER_BYTES} bytes"
        raise ValueError(msg)
    if name.startswith("pg_") or name == "information_schema":
        msg = f"{name!r} is reserved by PostgreSQL"
        raise ValueError(msg)
    return name


SchemaName = Annotated[str, AfterValidator(validate_schema_name)]


class SchemaSettings(BaseModel):
    """The schema setting, validated again whenever settings are loaded."""

    database_schema: SchemaName = "{{ cookiecutter.__schema }}"

    def migration_schemas(self, tenant: str | None = None) -> list[str | None]:
        """Where ``alembic upgrade`` works: the configured schema."""
        if tenant is not None:
            msg = "this service has no tenants"
            raise ValueError(msg)
        return [self.database_schema]

    def schema_server_settings(self) -> dict[str, str]:
        """Connection startup parameters that put every session in the schema."""
        return {"search_path": self.database_schema}
