"""Why the database cannot serve, in one line a person can act on.

``DatabaseUnavailableError`` is what the database layer raises when it cannot
get a connection (refused, unknown host, TLS, authentication, no writable host
during a failover) or a statement passes the client deadline: the app answers
it with a 503 and ``Retry-After``. Its message comes from ``explain``: the
cause and the setting to check, never a password, never a traceback.
"""

import socket
import ssl

import asyncpg
from sqlalchemy.engine import URL


class DatabaseUnavailableError(Exception):
    """The database cannot serve now; the message says why, in one line."""


class PasswordFileError(OSError):
    """``DATABASE_PASSWORD_FILE`` is missing, unreadable or empty; the message says which."""


def root_cause(exc: BaseException) -> BaseException:
    """The driver's or the system's own error behind SQLAlchemy's adaptation of it."""
    while exc.__cause__ is not None and not isinstance(exc, (OSError, asyncpg.PostgresError)):
        exc = exc.__cause__
    return exc


def database_missing(cause: BaseException, database: str | None) -> bool:
    """Whether ``cause`` says that ``database`` does not exist.

    PostgreSQL says so with SQLSTATE 3D000; PgBouncer passes the server's
    message on under 08P01 (protocol violation), so that one is matched by
    its exact text for this database's name.
    """
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        return True
    return isinstance(cause, asyncpg.ProtocolViolationError) and (
        str(cause) == f'database "{database}" does not exist'
    )


def explain(cause: BaseException, url: URL, where: str) -> str:  # noqa: C901, PLR0911, PLR0912 - one answer per cause
    """What went wrong connecting to ``where`` (host:port of ``url``), and what to check."""
    if isinstance(cause, PasswordFileError):
        return str(cause)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"{where}: TLS certificate verification failed ({cause.verify_message}):"
            " check sslrootcert (the CA that signed it) and, for verify-full, the host name"
        )
    if isinstance(cause, ssl.SSLError):
        return f"{where}: TLS handshake failed ({cause.reason or cause}): check sslmode"
    if isinstance(cause, asyncpg.InvalidPasswordError):
        return (
            f"{where}: password authentication failed for user {url.username!r}:"
            " check the password (DATABASE_URL or DATABASE_PASSWORD_FILE)"
        )
    if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
        if "no encryption" in str(cause):
            return (
                f"{where}: pg_hba refuses connections without TLS ({cause}):"
                " set sslmode=require or stricter in DATABASE_URL"
            )
        return f"{where}: login refused ({cause}): check the user in DATABASE_URL and pg_hba"
    if database_missing(cause, url.database):
        return f"{where}: {cause}: create it (createdb {url.database}) or fix DATABASE_URL"
    if isinstance(cause, asyncpg.TooManyConnectionsError):
        return f"{where}: no connection slot free ({cause}): see the connection budget"
    if isinstance(cause, asyncpg.CannotConnectNowError):
        return f"{where}: the server is starting up or shutting down ({cause})"
    if isinstance(cause, asyncpg.TargetServerAttributeNotMatched):
        wanted = url.query.get("target_session_attrs", "read-write")
        return (
            f"{where}: not {wanted} (a standby, or a primary fenced read-only during a failover)"
        )
    if isinstance(cause, ConnectionRefusedError):
        return f"{where}: nothing listens there: is PostgreSQL running at that host and port?"
    if isinstance(cause, socket.gaierror):
        return f"{where}: the host name does not resolve ({cause.strerror}): check the URL"
    if isinstance(cause, TimeoutError):
        return (
            f"{where}: no answer within the connect timeout"
            " (connect_timeout in the URL, else DATABASE_CONNECT_TIMEOUT)"
        )
    if isinstance(cause, ConnectionError) and "SSL" in str(cause):
        return f"{where}: the server offers no TLS, which sslmode asks for ({cause})"
    return f"{where}: {type(cause).__name__}: {cause}".splitlines()[0]
