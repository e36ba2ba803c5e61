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

DRIVER = "postgresql+asyncpg"
SCHEMES = ("postgres", "postgresql", DRIVER)
DEFAULT_PORT = 5432
MAX_PORT = 65536

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


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """``db:5432``, ``[::1]:5432``, ``db`` or a socket directory, as (host, port)."""
    if entry.startswith("/"):
        return entry, None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = entry.partition(":")
    if not host:
        msg = f"host {entry!r} has no name"
        raise ValueError(msg)
    if port and not (port.isdigit() and 0 < int(port) < MAX_PORT):
        msg = f"port {port!r} of host {host!r} is not a TCP port"
        raise ValueError(msg)
    return host, int(port) if port else None


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
    hosts = [_host_and_port(unquote(entry)) for entry in host_list.split(",") if entry]
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name == "host":
            hosts.extend(_host_and_port(entry) for entry in value.split(",") if entry)
        elif name in CANNOT_HONOUR:
            msg = f"the parameter {name!r} cannot be honoured: {CANNOT_HONOUR[name]}"
            raise ValueError(msg)
        elif name not in PARAMETERS:
            accepted = ", ".join(PARAMETERS)
            msg = f"the parameter {name!r} is not supported (supported: {accepted})"
            raise ValueError(msg)
        else:
            _check_value(name, value)
            query[name] = value
    database = unquote(parts.path.removeprefix("/")) or None
    return canonical_url(
        hosts,
        username=unquote(username) or None,
        password=unquote(password) if password else None,
        database=database,
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
    """One host in the URL's netloc; several, each with its port, in its query."""
    if len(hosts) <= 1:
        host, port = hosts[0] if hosts else ("localhost", None)
        if host.startswith("/"):  # a socket directory travels in the query
            return URL.create(
                DRIVER, username, password, None, port, database, {"host": host, **query}
            )
        return URL.create(DRIVER, username, password, host, port, database, query)
    entries = [
        f"[{h}]:{p or DEFAULT_PORT}" if ":" in h else f"{h}:{p or DEFAULT_PORT}" for h, p in hosts
    ]
    return URL.create(DRIVER, username, password, None, None, database, {"host": entries, **query})


def hosts_of(url: URL) -> list[tuple[str, int]]:
    """Every host of a canonical URL with its port, in the order they are tried."""
    listed = url.query.get("host")
    if listed is None:
        return [(url.host or "localhost", url.port or DEFAULT_PORT)]
    entries = [listed] if isinstance(listed, str) else list(listed)
    found = []
    for entry in entries:
        host, port = _host_and_port(entry)
        found.append((host, port or url.port or DEFAULT_PORT))
    return found
