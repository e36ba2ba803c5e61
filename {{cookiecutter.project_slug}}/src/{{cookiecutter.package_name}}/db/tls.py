"""TLS to the database, as libpq's ``sslmode`` defines it.

- ``disable``, ``allow``, ``prefer``: asyncpg's own handling. The certificate
  is never checked, and the connection may be plain text (``prefer`` falls
  back when the server offers no TLS; ``allow`` tries plain text first).
- ``require``: encrypted; the certificate is not checked, unless
  ``sslrootcert`` names a CA file, which makes it ``verify-ca`` (as in libpq).
- ``verify-ca``: encrypted, and the server's certificate must be signed by
  the CA of ``sslrootcert``.
- ``verify-full``: the same, and the certificate must name the host connected to.

Without ``sslrootcert``, or with ``sslrootcert=system``, the CAs trusted are
``~/.postgresql/root.crt`` if it exists, else the system's store (libpq would
fail without the file). ``sslcert`` and ``sslkey`` present a client certificate.
Unset, ``sslmode`` is ``verify-full`` in production and ``prefer`` elsewhere
(``Settings.sslmode``).
"""

import ssl
from pathlib import Path

NO_VERIFICATION = frozenset({"disable", "allow", "prefer"})
USER_ROOT_CERTIFICATE = Path("~/.postgresql/root.crt")


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
    explicit_ca = rootcert not in (None, "system")
    verify = mode != "require" or explicit_ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = mode == "verify-full"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if verify:
        user_root = USER_ROOT_CERTIFICATE.expanduser()
        if explicit_ca:
            context.load_verify_locations(cafile=rootcert)
        elif rootcert is None and user_root.is_file():
            context.load_verify_locations(cafile=user_root)
        else:
            context.load_default_certs()
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context
