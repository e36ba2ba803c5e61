"""TLS to the database, as libpq's ``sslmode`` defines it.

- ``disable``, ``allow``, ``prefer``: asyncpg's own handling. The certificate
  is never checked, and the connection may be plain text (``prefer`` falls
  back when the server offers no TLS; ``allow`` tries plain text first).
- ``require``: encrypted; the certificate is not checked, unless a CA is at
  hand (``sslrootcert`` names a file, or ``~/.postgresql/root.crt`` exists),
  which makes it ``verify-ca``, as in libpq.
- ``verify-ca``: encrypted, and the server's certificate must be signed by
  that CA.
- ``verify-full``: the same, and the certificate must name the host connected to.

The CA is ``sslrootcert``'s file, else ``~/.postgresql/root.crt``, else (or with
``sslrootcert=system``) the system's store: libpq would fail without the file.
``sslcert`` and ``sslkey`` present a client certificate. Unset, ``sslmode`` is
``verify-full`` in production and ``prefer`` elsewhere (``Settings.sslmode``).

A context is built once and kept until one of its files changes, so rotated
certificates are picked up by the next connection.
"""

import ssl
from functools import lru_cache
from pathlib import Path

NO_VERIFICATION = frozenset({"disable", "allow", "prefer"})
USER_ROOT_CERTIFICATE = Path("~/.postgresql/root.crt")


def _changed_at(path: str | Path | None) -> float | None:
    try:
        return Path(path).stat().st_mtime if path is not None else None
    except OSError:
        return None


def ssl_argument(
    mode: str,
    *,
    rootcert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
) -> ssl.SSLContext | str:
    """asyncpg's ``ssl`` argument for ``mode``: the mode itself, or a context."""
    if mode in NO_VERIFICATION:
        return mode
    user_root = USER_ROOT_CERTIFICATE.expanduser()
    if rootcert is None and user_root.is_file():
        rootcert = str(user_root)
    versions = tuple(_changed_at(path) for path in (rootcert, cert, key))
    return _context(mode, rootcert, cert, key, versions)


@lru_cache(maxsize=16)
def _context(
    mode: str,
    rootcert: str | None,
    cert: str | None,
    key: str | None,
    _versions: tuple[float | None, ...],
) -> ssl.SSLContext:
    ca_file = rootcert not in (None, "system")
    verify = mode != "require" or ca_file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if verify and ca_file:
        context.load_verify_locations(cafile=rootcert)
    elif verify:
        context.load_default_certs()
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context
