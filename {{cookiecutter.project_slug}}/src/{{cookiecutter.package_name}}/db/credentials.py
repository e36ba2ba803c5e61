"""Where the database password comes from, for every new connection.

- ``DATABASE_PASSWORD_FILE`` names a file holding it: a Docker or Kubernetes
  secret. The file is read again whenever a connection is made, so after a
  rotation (``ALTER ROLE ... PASSWORD``, the file rewritten) the next
  connections log in with the new password; no restart.
- Otherwise the password in ``DATABASE_URL``, if any (trust, peer and
  ``.pgpass`` need none).

Short-lived tokens, such as AWS RDS or Cloud SQL IAM authentication: return a
function from ``password_source`` that fetches one (it may be ``async``).
asyncpg calls it for every connection attempt, so each login has a fresh token.
"""

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from sqlalchemy.engine import URL

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.failures import (
    PasswordFileError,
)

PasswordSource = Callable[[], str | Awaitable[str]]


def read_password_file(path: Path) -> str:
    """The password in ``path``, without the line break a secret file often ends with."""
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        msg = f"DATABASE_PASSWORD_FILE {path} cannot be read: {exc.strerror}"
        raise PasswordFileError(msg) from None
    if not password:
        msg = f"DATABASE_PASSWORD_FILE {path} is empty"
        raise PasswordFileError(msg)
    return password


def password_source(settings: Settings, url: URL) -> str | PasswordSource | None:
    """The password for connections to ``url``: from the file, else from the URL."""
    if settings.database_password_file is not None and not url.password:
        return partial(read_password_file, settings.database_password_file)
    return url.password
