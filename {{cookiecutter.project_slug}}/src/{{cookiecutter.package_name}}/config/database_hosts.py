"""The hosts of a database URL, read as libpq reads them.

The canonical URL (``config/database_url.py``) keeps one host in its netloc; a
Unix socket directory, or several hosts, go in its query as ``host`` entries
(``db1:5432``, ``[::1]:5432``, ``/run/postgresql``).
"""

from urllib.parse import unquote

from sqlalchemy.engine import URL

DEFAULT_PORT = 5432
MAX_PORT = 65536


def _port(text: str, where: str) -> int:
    if not (text.isdigit() and 0 < int(text) < MAX_PORT):
        msg = f"port {text!r} of {where!r} is not a TCP port"
        raise ValueError(msg)
    return int(text)


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """``db:5432``, ``[::1]:5432``, ``db``, ``:5433`` or a socket directory (``/run/pg:5433``)."""
    if entry.startswith("/"):
        directory, colon, port = entry.rpartition(":")
        if colon and port.isdigit():
            return directory, _port(port, entry)
        return entry, None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = entry.partition(":")
    return host, _port(port, entry) if port else None


def _ports(value: str, count: int) -> list[int]:
    """libpq's ``port``: one port for every host, or one per host."""
    ports = [_port(part, value) for part in value.split(",")]
    if len(ports) not in (1, count):
        msg = f"port={value!r} names {len(ports)} ports for {count} hosts"
        raise ValueError(msg)
    return ports * count if len(ports) == 1 else ports


def read_hosts(
    netloc_hosts: str, query_hosts: list[str], query_port: str | None
) -> list[tuple[str, int | None]]:
    """The hosts to try, as libpq reads them: ``host`` and ``port`` parameters win."""
    named = [_host_and_port(unquote(e)) for e in netloc_hosts.split(",") if e] or [("", None)]
    hosts = named
    if query_hosts:
        default_port = named[0][1] if len(named) == 1 else None
        hosts = [(h, p or default_port) for h, p in map(_host_and_port, query_hosts)]
    if query_port is not None:
        hosts = [(h, p) for (h, _), p in zip(hosts, _ports(query_port, len(hosts)), strict=True)]
    found = [(host or "localhost", port) for host, port in hosts]
    for host, _ in found:
        if host.startswith("/") and len(found) > 1:
            msg = "a socket directory cannot be one of several hosts"
            raise ValueError(msg)
    return found


def host_entry(host: str, port: int | None) -> str:
    """``host:port`` as a ``host`` entry of the canonical URL (IPv6 in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port or DEFAULT_PORT}"


def hosts_of(url: URL) -> list[tuple[str, int]]:
    """Every host of a canonical URL with its port, in the order they are tried."""
    listed = url.query.get("host")
    if listed is None:
        return [(url.host or "localhost", url.port or DEFAULT_PORT)]
    entries = [listed] if isinstance(listed, str) else list(listed)
    return [
        (host, port or url.port or DEFAULT_PORT) for host, port in map(_host_and_port, entries)
    ]
