"""A managed database as providers hand it out: their URLs, TLS verified, passwords in files.

One server for the module (``tests/faults/tls.py``): TLS only, ``hostssl``
rules with SCRAM passwords, a certificate for ``localhost`` from a CA made
here. The app logs in as a role whose password holds reserved characters.
Each case is served the way a deployment would serve it, and what the app
logs is checked for the reason and for the password.
"""

import asyncio
import subprocess
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.faults.service import InstalledVariant, RunningApp
from tests.faults.tls import TlsCluster, issue_server_certificate, make_ca, readable_by_others
from tests.tools import TLS, clean_env, uv_bin

pytestmark = pytest.mark.reliability

VARIANTS = {"default": {}, "schema": {"database_schema": "app"}}
ROLE = "svc"
PASSWORD = "p@ss:w/rd%2F#?" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):
    """The TLS-only server, its CA, a second CA it does not use, and a database for the app."""
    root = tmp_path_factory.mktemp("tls")
    ca, other_ca = make_ca(root, "test-ca"), make_ca(root, "other-ca")
    certificate, key = issue_server_certificate(ca, root, "localhost")
    server = TlsCluster(certificate, key)
    server.run(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}'")
    yield server, readable_by_others(ca.certificate), readable_by_others(other_ca.certificate)
    server.destroy()


def url(
    server: TlsCluster,
    database: str,
    query: str,
    *,
    scheme: str = "postgres",
    host: str = "localhost",
    password: str | None = PASSWORD,
) -> str:
    credentials = f"{ROLE}:{quote(password, safe='')}" if password is not None else ROLE
    return f"{scheme}://{credentials}@{host}:{server.port}/{database}?{query}"


@pytest.fixture
def database(tls) -> str:
    server, _, _ = tls
    name = f"managed_{uuid.uuid4().hex[:10]}"
    server.run(f'CREATE DATABASE "{name}" OWNER {ROLE}')
    return name


def ready_or_not(app: RunningApp, seconds: float = 1.0) -> list[int]:
    statuses, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        statuses.append(
            httpx.get(f"{app.base_url}/health/ready", timeout=5, verify=TLS).status_code
        )
        time.sleep(0.2)
    return statuses


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_provider_url_with_verify_full_migrates_and_serves_over_tls(
    install_variant, tls, database: str, tmp_path: Path, figure, name: str
) -> None:
    server, ca, _ = tls
    variant: InstalledVariant = install_variant(VARIANTS[name])
    verified = url(server, database, f"sslmode=verify-full&sslrootcert={ca}")
    variant.migrate(verified)
    for scheme, query in (
        ("postgres", f"sslmode=verify-full&sslrootcert={ca}"),
        ("postgresql", "sslmode=require"),
    ):
        with variant.serve(
            tmp_path / f"{scheme}.log", url(server, database, query, scheme=scheme)
        ) as app:
            created = httpx.post(
                f"{app.base_url}/api/items",
                json={"name": f"tls-{scheme}"},
                headers=variant.headers,
                timeout=10,
                verify=TLS,
            )
            assert created.status_code == 201, created.text
            read = httpx.get(
                f"{app.base_url}/api/items/{created.json()['id']}",
                headers=variant.headers,
                timeout=10,
                verify=TLS,
            )
            assert read.status_code == 200, read.text
            encrypted = server.run(
                "SELECT count(*) FILTER (WHERE s.ssl) AS tls, count(*) AS every"
                " FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                f" WHERE a.datname = '{database}' AND a.usename = '{ROLE}'"
            )[0]
            log = app.assert_clean_log()
        assert encrypted["every"] > 0, dict(encrypted)
        assert encrypted["tls"] == encrypted["every"], dict(encrypted)
        assert PASSWORD not in log
        assert quote(PASSWORD, safe="") not in log
    figure(
        f"{name}: migrated and served with postgres://...sslmode=verify-full and"
        " postgresql://...sslmode=require; every app connection TLS (pg_stat_ssl)"
    )


def test_what_cannot_be_trusted_never_becomes_ready_and_the_log_says_why(
    install_variant, tls, database: str, tmp_path: Path, figure
) -> None:
    server, ca, other_ca = tls
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    cases = {
        "wrong CA": (
            url(server, database, f"sslmode=verify-full&sslrootcert={other_ca}"),
            "certificate verification failed (unable to get local issuer certificate)",
        ),
        "host name": (
            url(server, database, f"sslmode=verify-full&sslrootcert={ca}", host="127.0.0.1"),
            "IP address mismatch",
        ),
        "plain text": (
            url(server, database, "sslmode=disable", host="127.0.0.1"),
            "pg_hba refuses connections without TLS",
        ),
        "password": (
            url(server, database, "sslmode=require", password="not-the-password"),
            "password authentication failed",
        ),
    }
    seen = {}
    with ExitStack() as stack:  # the four apps side by side: each waits on its own failure
        apps = {
            case: stack.enter_context(variant.serve(tmp_path / f"{case}.log", database_url))
            for case, (database_url, _) in cases.items()
        }
        statuses = {case: ready_or_not(app) for case, app in apps.items()}
        logs = {case: app.stop() for case, app in apps.items()}
    for case, (_, reason) in cases.items():
        log = logs[case]
        lines = [
            line for line in log.splitlines() if "readiness: the database cannot serve" in line
        ]
        assert set(statuses[case]) == {503}, (case, statuses[case])
        assert len(lines) == 1, (case, log)
        assert reason in lines[0], (case, log)
        assert "Traceback" not in log, (case, log)
        assert PASSWORD not in log, case
        assert "not-the-password" not in log, case
        seen[case] = lines[0].split("cannot serve: ", 1)[1]
    figure(
        "never ready, one line each: "
        + " | ".join(f"{case}: {line}" for case, line in seen.items())
    )


def test_a_rotated_password_file_is_picked_up_without_a_restart(
    install_variant, tls, database: str, tmp_path: Path, figure
) -> None:
    server, ca, _ = tls
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    secret = tmp_path / "db-password"
    secret.write_text(PASSWORD + "\n")
    readable_by_others(secret)
    without_password = url(
        server, database, f"sslmode=verify-full&sslrootcert={ca}", password=None
    )
    variant.run(
        "alembic",
        "upgrade",
        "head",
        DATABASE_URL=without_password,
        DATABASE_PASSWORD_FILE=str(secret),
    )
    rotated = "rotated/" + uuid.uuid4().hex
    with variant.serve(
        tmp_path / "app.log", without_password, DATABASE_PASSWORD_FILE=str(secret)
    ) as app:
        statuses = asyncio.run(rotate_under_load(app, server, secret, rotated))
        log = app.stop()
    server.run(f"ALTER ROLE {ROLE} PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}'")
    assert set(statuses["during"]) <= {200, 201, 503}, statuses
    assert set(statuses["after"]) <= {200, 201}, statuses
    assert statuses["during"][503] <= 20, statuses
    for secret_text in (PASSWORD, rotated):
        assert secret_text not in log
    figure(
        f"password rotated (ALTER ROLE, file rewritten, connections ended) under 8 clients:"
        f" {dict(statuses['during'])} during, then {dict(statuses['after'])}; no restart"
    )


async def rotate_under_load(
    app: RunningApp, server: TlsCluster, secret: Path, rotated: str
) -> dict[str, Counter[int]]:
    statuses: dict[str, Counter[int]] = {"during": Counter(), "after": Counter()}
    phase = "during"
    stop = asyncio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30, verify=TLS) as http:
            while not stop.is_set():
                created = await http.post(
                    "/api/items", json={"name": f"rot-{uuid.uuid4().hex[:12]}"}
                )
                statuses[phase][created.status_code] += 1
                listed = await http.get("/api/items", params={"limit": 5})
                statuses[phase][listed.status_code] += 1

    tasks = [asyncio.create_task(client()) for _ in range(8)]
    await asyncio.sleep(1)
    escaped = rotated.replace("'", "''")
    await server.admin(f"ALTER ROLE {ROLE} PASSWORD '{escaped}'")
    secret.write_text(rotated + "\n")
    await server.admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'"
    )
    await asyncio.sleep(2)
    phase = "after"
    await asyncio.sleep(1)
    stop.set()
    await asyncio.gather(*tasks)
    return statuses


TOKEN_SOURCE = '''
import asyncio, sys
from sqlalchemy import text
from {package}.config import Settings
from {package}.db import DatabaseSessionManager

calls = []

async def token() -> str:
    """A stand-in for an IAM token source: asked for every new connection."""
    calls.append(1)
    return open(sys.argv[1]).read().strip()

async def main() -> None:
    # A ping at every checkout: the connection the test ends is replaced, not used.
    settings = Settings(database_url=sys.argv[2], database_pool_ping_after=0)
    async with DatabaseSessionManager(settings, password=token) as manager:
        async with manager.session() as session:
            await session.execute(text("SELECT 1"))
        print("logged in", flush=True)
        input()  # the test rotates the password and ends the connection meanwhile
        async with manager.session() as session:
            await session.execute(text("SELECT 1"))
    print(len(calls))

asyncio.run(main())
'''


def test_a_token_source_logs_in_each_new_connection(
    install_variant, tls, database: str, tmp_path: Path, figure
) -> None:
    """The documented extension point for short-lived tokens (RDS or Cloud SQL IAM)."""
    server, ca, _ = tls
    variant: InstalledVariant = install_variant(VARIANTS["default"])
    current = tmp_path / "token"
    current.write_text(PASSWORD)
    script = tmp_path / "token_source.py"
    script.write_text(TOKEN_SOURCE.replace("{package}", variant.package))
    database_url = url(server, database, f"sslmode=verify-full&sslrootcert={ca}", password=None)
    process = subprocess.Popen(
        [uv_bin(), "run", "--no-sync", "python", str(script), str(current), database_url],
        cwd=variant.project, env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "logged in"  # with the first token
    token = "token/" + uuid.uuid4().hex
    server.run(f"ALTER ROLE {ROLE} PASSWORD '{token}'")
    current.write_text(token)
    server.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'")
    out, err = process.communicate("\n", timeout=60)
    server.run(f"ALTER ROLE {ROLE} PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}'")
    assert process.returncode == 0, err
    assert int(out.strip()) >= 2, out
    figure(f"token source: {out.strip()} logins, the second with the rotated token, no restart")
