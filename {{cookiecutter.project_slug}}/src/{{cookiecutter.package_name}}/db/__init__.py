"""The database layer: models' base, session manager and its errors.

The FastAPI dependencies (``get_db``, ``DbSession``...) live in
``db.dependencies``, so that migrations and the command line, which import
this package, start without loading the web framework.
"""

from .base import Base
from .failures import DatabaseUnavailableError
from .manager import DatabaseSessionManager
from .read_only import ReadOnlySessionError
from .search_path import set_local_search_path

__all__ = [
    "Base",
    "DatabaseSessionManager",
    "DatabaseUnavailableError",
    "ReadOnlySessionError",
    "set_local_search_path",
]
