"""Security of what we generate, checked on an installed variant and a booted app.

- An injection attempt through ``DATABASE_SCHEMA`` is refused when settings
  load: the app does not start, migrations touch nothing.
- The database password never shows: not in the server log (SQL echo on), not
  in any response body or header, not in ``check-db`` output, whatever fails.
- No secret is committed: ``.env`` is ignored by git, ``.env.example`` holds
  placeholders that production settings refuse.
"""

import asyncio
import json
import secrets
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.faults.service import InstalledVariant, migrated_database
from tests.test_reliability import FAULT_VARIANT
from tests.tools import TLS

pytestmark = pytest.mark.reliability

INJECTIONS = [
    "app; drop schema public",
    "app; DROP SCHEMA public CASCADE; --",
    'app"; drop schema public; --',
    "app' OR '1'='1",
    "app,public",
    "public, pg_catalog",
    "$user",
    "App",
    "app schema",
    "app\\",
    "app\tx",
    "1app",
    "ärger",
    "a" * 64,
    "pg_catalog",
    "pg_temp",
    "information_schema",
    "",
]

LOAD_SETTINGS = """
import json, os, sys
from pydantic import ValidationError
from {package}.config import Settings
results = {{}}
for value in json.loads(sys.argv[1]):
    os.environ["DATABASE_SCHEMA"] = value
    try:
        Settings()
    except ValidationError as exc:
        results[value] = "database_schema" in str(exc)
    else:
        results[value] = False
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def variant(install_variant) -> InstalledVariant:
    assert FAULT_VARIANT["database_schema"] == "app"
    return install_variant(FAULT_VARIANT)


async def schemas(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT nspname FROM pg_namespace")
    finally:
        await connection.close()
    return {row["nspname"] for row in rows}


def test_schema_injection_through_the_environment_is_refused_at_settings_load(
    variant: InstalledVariant, pg_admin_url: str, fresh_database: str, figure
) -> None:
    code = LOAD_SETTINGS.format(package=variant.package)
    loaded = json.loads(variant.run("python", "-c", code, json.dumps(INJECTIONS)).stdout)
    assert loaded == dict.fromkeys(INJECTIONS, True)

    plain = postgres.with_database(pg_admin_url, fresh_database)
    app_url = postgres.with_database(pg_admin_url, fresh_database, driver="postgresql+asyncpg")
    before = asyncio.run(schemas(plain))
    refused_starts = 0
    for value in INJECTIONS[:3]:
        migrate = variant.try_run(
            "alembic", "upgrade", "head", DATABASE_URL=app_url, DATABASE_SCHEMA=value
        )
        serve = variant.try_run(
            "python", "-c", f"import {variant.package}.main", DATABASE_SCHEMA=value
        )
        for result in (migrate, serve):
            assert result.returncode != 0
            assert "database_schema" in result.stderr.lower(), result.stderr
            refused_starts += 1
    assert asyncio.run(schemas(plain)) == before
    figure(
        f"{len(INJECTIONS)} hostile DATABASE_SCHEMA values refused at settings load;"
        f" {refused_starts} migrate/start attempts with them exited non-zero,"
        f" database schemas unchanged"
    )


def test_the_database_password_never_shows(
    variant: InstalledVariant, pg_admin_url: str, tmp_path: Path, figure
) -> None:
    admin = urlsplit(pg_admin_url)
    if admin.password:  # a server that checks passwords: its real one must not show
        secret = admin.password
        if len(secret) < 8:
            pytest.skip("the test server's password is too short to search logs for")
        userinfo = admin.netloc.rsplit("@", 1)[0]
    else:  # a server that trusts loopback accepts any password: use a fresh one
        secret = f"S3cret-{secrets.token_hex(8)}"
        userinfo = f"{admin.username}:{secret}"

    def url_for(hostport: str, database: str) -> str:
        return urlunsplit(("postgresql+asyncpg", f"{userinfo}@{hostport}", f"/{database}", "", ""))

    seen: list[str] = []

    def record(response: httpx.Response) -> None:
        seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    def exercise(base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=30, verify=TLS) as client:
            for method, path, body in [
                ("GET", "/health/ready", None),
                ("GET", "/health/live", None),
                ("POST", "/api/items", {"name": "secret-check"}),
                ("POST", "/api/items", {"name": "secret-check"}),
                ("POST", "/api/items", {"name": ""}),
                ("GET", "/api/items/999999", None),
                ("GET", "/api/items", None),
                ("DELETE", "/api/items", None),
                ("GET", "/no/such/path", None),
            ]:
                record(client.request(method, path, json=body))
            json_type = {"Content-Type": "application/json"}
            record(client.post("/api/items", content=b"\xff", headers=json_type))

    with migrated_database(pg_admin_url, variant) as database:
        hostport = admin.netloc.rsplit("@", 1)[1]
        good = url_for(hostport, database.name)
        refused = url_for("127.0.0.1:1", database.name)
        unknown_db = url_for(hostport, "no_such_database")
        logs: list[str] = []
        for number, url in enumerate([good, refused, unknown_db]):
            log = tmp_path / f"app-{number}.log"
            settings = {"DATABASE_ECHO": "true", "DATABASE_CONNECT_TIMEOUT": "2"}
            with variant.serve(log, url, **settings) as app:
                exercise(app.base_url)
                if url == good:
                    asyncio.run(database.terminate_app_backends())
                    exercise(app.base_url)
                logs.append(app.stop())
            check_db = variant.try_run(
                "python", "-m", f"{variant.package}.cli", "check-db", DATABASE_URL=url
            )
            logs.append(check_db.stdout + check_db.stderr)
            migrate = variant.try_run("alembic", "upgrade", "head", DATABASE_URL=url)
            logs.append(migrate.stdout + migrate.stderr)
    statuses = [int(entry.split(" ", 1)[0]) for entry in seen]
    everything = "\n".join(seen + logs)
    assert secret not in everything
    assert "Traceback" not in "\n".join(seen)
    assert 503 in statuses
    assert 201 in statuses
    assert "SELECT" in logs[0]  # the echo was on: SQL was logged, the password was not
    figure(
        f"{len(seen)} responses ({sorted(set(statuses))}), 3 server logs with SQL echo,"
        f" 3 check-db and 3 alembic runs (reachable, refused, unknown database):"
        f" password found 0 times in {len(everything)} characters"
    )


def test_no_secret_is_committed(variant: InstalledVariant, figure) -> None:
    project = variant.project
    assert not (project / ".env").exists()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)

    def ignored(name: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", name], cwd=project, check=False)
        return check.returncode == 0

    for name in (".env", ".env.local", ".env.production"):
        assert ignored(name), name
    assert not ignored(".env.example")
    example = (project / ".env.example").read_text()
    assert "USER:PASSWORD@" in example
    code = (
        "from pydantic import ValidationError\n"
        f"from {variant.package}.config import Settings\n"
        "try:\n"
        "    Settings(_env_file='.env.example', environment='production')\n"
        "except ValidationError as exc:\n"
        "    print('refused:', 'USER:PASSWORD placeholders' in str(exc))\n"
        "else:\n"
        "    print('accepted')\n"
    )
    assert variant.run("python", "-c", code).stdout.strip() == "refused: True"
    figure(
        ".env, .env.local, .env.production ignored by git; .env.example tracked with"
        " USER:PASSWORD placeholders, which ENVIRONMENT=production refuses"
    )
