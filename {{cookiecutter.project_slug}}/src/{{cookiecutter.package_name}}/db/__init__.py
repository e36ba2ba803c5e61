"""The database layer: models' base, session manager and dependencies."""

from .base import Base
from .dependencies import (
    DbReadSession,
    DbSession,
    SessionManager,
    get_db,
    get_read_db,
    get_sessionmanager,
)
from .failures import DatabaseUnavailableError
from .manager import DatabaseSessionManager
from .read_only import ReadOnlySessionError
from .search_path import set_local_search_path

__all__ = [
    "Base",
    "DatabaseSessionManager",
    "DatabaseUnavailableError",
    "DbReadSession",
    "DbSession",
    "ReadOnlySessionError",
    "SessionManager",
    "get_db",
    "get_read_db",
    "get_sessionmanager",
    "set_local_search_path",
]
