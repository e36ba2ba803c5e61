"""``DATABASE_URL`` as providers and DBAs hand it out, made into one canonical form.

Accepted (the driver is the service's business, not the caller's):

- the schemes ``postgres://``, ``postgresql://`` and ``postgresql+asyncpg://``;
- several hosts, tried in order: libpq's ``postgresql://u:p@db1:5432,db2:5432/app``
  or SQLAlchemy's ``?host=db1:5432&host=db2:5432``; a Unix socket directory as
  ``?host=/run/postgresql``;
- a password with reserved characters, percent-encoded (``p%40ss`` for ``p@ss``);
- the libpq parameters of ``PARAMETERS``. Any other parameter is refused by
  name: a setting the service would silently ignore is worse than none.

The canonical form is a SQLAlchemy ``URL`` with the asyncpg driver, the hosts
in its query when there are several, and the libpq parameters as given.
``db/connect.py`` turns it into asyncpg's arguments for each new connection.
"""

from urllib.parse import parse_qsl, unquote, urlsplit

from sqlalchemy.engine import URL

from {{ cookiecutter.package_name }}.config.database_hosts import (
    host_entry,
    read_hosts,
)

DRIVER = "postgresql+asyncpg"
SCHEMES = ("postgres", "postgresql", DRIVER)

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
# The libpq parameters the service honours, and what each one accepts.
PARAMETERS = {
    "sslmode": f"one of {', '.join(SSL_MODES)}",
    "sslrootcert": "a CA certificate file, or 'system' for the system's store",
    "sslcert": "a client certificate file",
    "sslkey": "the client certificate's key file",
    "connect_timeout": "seconds, a positive number",
    "application_name": "the name the server shows for this service's connections",
    "target_session_attrs": f"one of {', '.join(SESSION_ATTRS)}",
}
EXAMPLE = "postgresql://user:password@host:5432/dbname"
TLS_PARAMETERS = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey"})
# libpq parameters providers put in their URLs that asyncpg cannot honour, and what to do.
CANNOT_HONOUR = {
    "channel_binding": "asyncpg has no channel binding: remove it, and use"
    " sslmode=verify-full to authenticate the server instead",
    "options": "set server settings through the service's own settings instead",
    "pgbouncer": "set DATABASE_POOLER=pgbouncer instead",
    "gssencmode": "GSSAPI encryption is not supported: remove it",
}


def _check_value(name: str, value: str) -> None:
    """Refuse a parameter value the service cannot honour."""
    if name == "sslmode" and value not in SSL_MODES:
        msg = f"sslmode={value!r} is not {PARAMETERS[name]}"
        raise ValueError(msg)
    if name == "target_session_attrs" and value not in SESSION_ATTRS:
        msg = f"target_session_attrs={value!r} is not {PARAMETERS[name]}"
        raise ValueError(msg)
    if name == "connect_timeout":
        try:
            valid = float(value) > 0
        except ValueError:
            valid = False
        if not valid:
            msg = f"connect_timeout={value!r} is not {PARAMETERS[name]}"
            raise ValueError(msg)


def _check_tls(query: dict[str, str]) -> None:
    """libpq's rules: ``sslrootcert=system`` means ``verify-full``; a client certificate
    needs an encrypted connection."""
    mode = query.get("sslmode")
    if query.get("sslrootcert") == "system":
        if mode not in (None, "verify-full"):
            msg = f"sslrootcert=system needs sslmode=verify-full (got sslmode={mode})"
            raise ValueError(msg)
        query["sslmode"] = "verify-full"
    if ("sslcert" in query or "sslkey" in query) and mode in ("disable", "allow", "prefer"):
        msg = (
            f"a client certificate (sslcert, sslkey) needs sslmode=require or stricter, not {mode}"
        )
        raise ValueError(msg)


def target_attrs_allowed(url: URL, allowed: tuple[str, ...], setting: str) -> None:
    """Refuse a ``target_session_attrs`` that makes no sense for this URL's role."""
    attrs = url.query.get("target_session_attrs")
    if isinstance(attrs, str) and attrs not in allowed:
        uses = ", ".join(allowed)
        msg = f"{setting}: target_session_attrs={attrs} cannot be used here (use {uses})"
        raise ValueError(msg)


def parse_database_url(text: str) -> URL:
    """The canonical URL for ``text``; ``ValueError`` with one line if it cannot be."""
    scheme, separator, rest = text.strip().partition("://")
    if not separator:
        msg = f"is not a URL; expected {EXAMPLE}"
        raise ValueError(msg)
    if scheme not in SCHEMES:
        msg = f"{scheme}:// is not a PostgreSQL URL; expected {EXAMPLE}"
        raise ValueError(msg)
    parts = urlsplit(f"postgresql://{rest}")
    userinfo, _, host_list = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    query: dict[str, str] = {}
    query_hosts: list[str] = []
    query_port: str | None = None
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name == "host":
            query_hosts.extend(entry for entry in value.split(",") if entry)
        elif name == "port":
            query_port = value
        elif name in CANNOT_HONOUR:
            msg = f"the parameter {name!r} cannot be honoured: {CANNOT_HONOUR[name]}"
            raise ValueError(msg)
        elif name not in PARAMETERS:
            accepted = ", ".join(("host", "port", *PARAMETERS))
            msg = f"the parameter {name!r} is not supported (supported: {accepted})"
            raise ValueError(msg)
        else:
            _check_value(name, value)
            query[name] = value
    _check_tls(query)
    return canonical_url(
        read_hosts(host_list, query_hosts, query_port),
        username=unquote(username) or None,
        password=unquote(password) if ":" in userinfo else None,
        database=unquote(parts.path.removeprefix("/")) or None,
        query=query,
    )


def canonical_url(
    hosts: list[tuple[str, int | None]],
    *,
    username: str | None,
    password: str | None,
    database: str | None,
    query: dict[str, str],
) -> URL:
    """One host in the URL's netloc, a socket directory or several hosts in its query.

    Only this module and ``hosts_of`` read the query's hosts: the engine is
    given the URL without them (``db/engine.py``), and ``db/connect.py`` tries them.
    """
    host, port = hosts[0] if hosts else ("localhost", None)
    if len(hosts) <= 1 and host.startswith("/"):
        return URL.create(
            DRIVER, username, password, None, port, database, {"host": host, **query}
        )
    if len(hosts) <= 1:
        return URL.create(DRIVER, username, password, host, port, database, query)
    entries = [host_entry(h, p) for h, p in hosts]
    return URL.create(DRIVER, username, password, None, None, database, {"host": entries, **query})


def engine_url(url: URL) -> URL:
    """``url`` without hosts or parameters: what SQLAlchemy's dialect is given.

    Every connection is made by ``db/connect.py`` from the canonical URL; the
    dialect must not parse the hosts itself (it cannot read an IPv6 address or a
    socket directory among several hosts).
    """
    return URL.create(DRIVER, url.username, url.password, None, None, url.database)
