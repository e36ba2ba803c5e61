"""``DATABASE_URL`` in the forms providers hand out, and what each parameter becomes."""

import ssl

import certifi
import pytest
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.config.database_hosts import (
    hosts_of,
)
from {{ cookiecutter.package_name }}.config.database_url import (
    DRIVER,
    parse_database_url,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.tls import (
    ssl_argument,
)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_every_scheme_gives_the_asyncpg_driver(scheme: str) -> None:
    url = parse_database_url(f"{scheme}://svc:pw@db.internal:6432/app")
    assert url.drivername == DRIVER
    assert (url.username, url.password, url.database) == ("svc", "pw", "app")
    assert hosts_of(url) == [("db.internal", 6432)]


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://svc:pw@db1:5432,db2:5433/app?target_session_attrs=read-write",
        "postgresql+asyncpg://svc:pw@/app?host=db1:5432&host=db2:5433&target_session_attrs=read-write",
    ],
    ids=["libpq", "sqlalchemy"],
)
def test_several_hosts_in_either_form(text: str) -> None:
    url = parse_database_url(text)
    assert hosts_of(url) == [("db1", 5432), ("db2", 5433)]
    assert url.query["target_session_attrs"] == "read-write"
    assert parse_database_url(url.render_as_string(hide_password=False)) == url


async def test_hosts_without_a_port_get_5432_and_ipv6_keeps_its_brackets(
    settings: Settings,
) -> None:
    url = parse_database_url("postgres://svc@db1,[::1]:6543/app")
    assert hosts_of(url) == [("db1", 5432), ("::1", 6543)]
    # The engine is built from it (connecting is db/connect.py's job, host by host).
    several = settings.model_copy(
        update={"database_url": SecretStr(url.render_as_string(hide_password=False))}
    )
    async with DatabaseSessionManager(several):
        pass


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("postgresql://svc@/app?host=/run/postgresql", [("/run/postgresql", 5432)]),
        ("postgresql://svc@:6543/app?host=/sockets", [("/sockets", 6543)]),
        ("postgresql://svc@%2Frun%2Fpostgresql:6543/app", [("/run/postgresql", 6543)]),
        ("postgresql://svc@localhost:5433/app?host=/sockets", [("/sockets", 5433)]),
        ("postgresql://svc@db1,db2/app?port=6543", [("db1", 6543), ("db2", 6543)]),
        ("postgresql://svc@db1,db2/app?port=6543,6544", [("db1", 6543), ("db2", 6544)]),
    ],
)
def test_host_and_port_parameters_win_as_in_libpq(text: str, hosts: list[tuple[str, int]]) -> None:
    assert hosts_of(parse_database_url(text)) == hosts


def test_sslrootcert_system_means_verify_full() -> None:
    url = parse_database_url("postgresql://svc@db/app?sslrootcert=system")
    assert url.query["sslmode"] == "verify-full"


RESERVED_CHARACTERS = "p@ss:w/r%d#"


def test_a_percent_encoded_password_is_decoded_and_survives_a_round_trip() -> None:
    url = parse_database_url("postgres://svc:p%40ss%3Aw%2Fr%25d%23@db/app")
    assert url.password == RESERVED_CHARACTERS
    again = parse_database_url(url.render_as_string(hide_password=False))
    assert again.password == RESERVED_CHARACTERS


def test_libpq_parameters_are_kept() -> None:
    url = parse_database_url(
        "postgres://svc@db/app?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        "&connect_timeout=3&application_name=billing"
    )
    assert dict(url.query) == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "connect_timeout": "3",
        "application_name": "billing",
    }


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("postgres://svc@db/app?foo=1", "'foo'"),
        ("postgres://svc@db/app?options=-c%20search_path%3Dx", "'options'"),
        ("postgresql://svc@db/app?sslmode=require&channel_binding=require", "verify-full"),
        ("postgres://svc@db/app?sslmode=verify-fool", "sslmode"),
        ("postgres://svc@db/app?target_session_attrs=leader", "target_session_attrs"),
        ("postgres://svc@db/app?connect_timeout=soon", "connect_timeout"),
        ("postgres://svc@db:99999/app", "port"),
        ("mysql://svc@db/app", "mysql://"),
        ("db.internal:5432/app", "not a URL"),
        ("postgres://svc@db/app?sslrootcert=system&sslmode=require", "verify-full"),
        (
            "postgres://svc@db/app?sslmode=prefer&sslcert=/c.pem&sslkey=/k.pem",
            "client certificate",
        ),
        ("postgres://svc@db1,%2Frun%2Fpg/app", "socket directory"),
        ("postgres://svc@db1,db2/app?port=1,2,3", "3 ports for 2 hosts"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(text: str, named: str) -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011 - the message is checked below
        parse_database_url(text)
    assert named in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_modes_that_may_be_plain_text_are_left_to_asyncpg(mode: str) -> None:
    assert ssl_argument(mode) == mode


def test_require_encrypts_without_checking_the_certificate() -> None:
    context = ssl_argument("require")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_a_root_certificate_is_verified_and_verify_full_checks_the_host(mode: str) -> None:
    context = ssl_argument(mode, rootcert=certifi.where())
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is (mode == "verify-full")
    assert context.cert_store_stats()["x509_ca"] > 0
