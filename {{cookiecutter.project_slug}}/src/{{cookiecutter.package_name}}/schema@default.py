"""Where the tables live: the database's default schema.

This project was generated without a schema setting, so its tables live in the
first schema of the role's ``search_path`` (normally ``public``).
"""

from pydantic import BaseModel


class SchemaSettings(BaseModel):
    """No schema setting: connections keep the server's default ``search_path``."""

    @property
    def schema_name(self) -> str | None:
        """The schema migrations create and keep their version table in."""
        return None

    def schema_server_settings(self) -> dict[str, str]:
        """Connection startup parameters for the schema: none."""
        return {}
