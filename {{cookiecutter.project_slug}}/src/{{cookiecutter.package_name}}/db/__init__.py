"""The database layer: models' base, session manager and dependencies."""

from {{ cookiecutter.package_name }}.db.base import Base
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
    SessionManager,
    get_db,
    get_sessionmanager,
)
from {{ cookiecutter.package_name }}.db.manager import DatabaseSessionManager

__all__ = [
    "Base",
    "DatabaseSessionManager",
    "DbSession",
    "SessionManager",
    "get_db",
    "get_sessionmanager",
]
