"""Where the tables live: the database's default schema.

This project was generated without a schema setting, so its tables live in the
first schema of the role's ``search_path`` (normally ``public``).
"""

from pydantic import BaseModel


class SchemaSettings(BaseModel):
    """No schema setting: connections keep the server's default ``search_path``."""

    def migration_schemas(self, tenant: str | None = None) -> list[str | None]:
        """Where ``alembic upgrade`` works: the default schema."""
        if tenant is not None:
            msg = "this service has no tenants"
            raise ValueError(msg)
        return [None]

    def schema_server_settings(self) -> dict[str, str]:
        """Connection startup parameters for the schema: none."""
        return {}
