"""Covering variants are installed, migrated, served and tested against real PostgreSQL.

Every pair of option values appears together in at least one booted variant.
Each boot, with the variant's own Python: where the variant has a CI file, the
README's ``uv lock`` and then the CI's own steps in order, as its runner would
run them (``uv sync --locked``, ruff, ruff format, mypy, ``alembic upgrade
head``, ``alembic check``, pytest) against a fresh database; without one,
``uv sync``, ``mypy --strict`` beside ``alembic upgrade head``, and the
project's own suite. Before the suite, every boot serves the app: the health
probes, (in example variants) a full CRUD round trip over HTTP, and a clean
shutdown.
"""

import asyncio
import itertools
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests import bytecode, postgres, shipping, template
from tests.faults.issuer import app_settings, running_issuer
from tests.faults.service import InstalledVariant
from tests.tools import TLS, find_python, run, uv_bin, uv_sync

BOOTED_VARIANTS: list[dict[str, str]] = [
    dict(zip(template.OPTION_VALUES, values, strict=True))
    for values in [
        ("3.11", "", "y", "request", "single", "github", "none", "none"),
        ("3.11", "app", "n", "task", "single", "gitlab", "opentelemetry", "none"),
        ("3.11", "", "n", "request", "schema-per-tenant", "none", "none", "jwt"),
        ("3.12", "", "n", "request", "schema-per-tenant", "github", "opentelemetry", "none"),
        ("3.12", "app", "y", "task", "single", "none", "none", "jwt"),
        ("3.13", "", "y", "task", "schema-per-tenant", "gitlab", "opentelemetry", "jwt"),
        ("3.13", "app", "n", "request", "single", "github", "none", "none"),
    ]
]


def variant_id(answers: dict[str, str]) -> str:
    return "-".join(f"{k}={v or 'none'}" for k, v in answers.items())


# Options that own no Python code: every value is booted, not every pair.
# (`ci` owns only CI files: tests/test_shipping.py validates them, the boots below run them.)
CONFIGURATION_OPTIONS = ("ci",)


def test_booted_variants_cover_every_supported_pair_of_option_values() -> None:
    assert all(template.is_supported(v) for v in BOOTED_VARIANTS)
    for option in CONFIGURATION_OPTIONS:
        assert {v[option] for v in BOOTED_VARIANTS} == set(template.OPTION_VALUES[option])
    code_options = [o for o in template.OPTION_VALUES if o not in CONFIGURATION_OPTIONS]
    for first, second in itertools.combinations(code_options, 2):
        wanted = {(v[first], v[second]) for v in template.ALL_VARIANTS}
        booted = {(v[first], v[second]) for v in BOOTED_VARIANTS}
        assert wanted <= booted, f"{first} x {second} misses {wanted - booted}"


def crud_round_trip(base_url: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=base_url, timeout=10, headers=headers, verify=TLS) as client:
        created = client.post("/api/items", json={"name": "boot", "description": "first"})
        assert created.status_code == 201, created.text
        item = created.json()
        assert client.get(f"/api/items/{item['id']}").json() == item
        patched = client.patch(f"/api/items/{item['id']}", json={"description": "second"})
        assert patched.json()["description"] == "second"
        assert [i["id"] for i in client.get("/api/items").json()["items"]] == [item["id"]]
        assert client.post("/api/items", json={"name": "boot"}).status_code == 409
        assert client.post("/api/items", json={"name": ""}).status_code == 422
        assert client.delete(f"/api/items/{item['id']}").status_code == 204
        assert client.get(f"/api/items/{item['id']}").status_code == 404


async def tables_by_schema(url: str) -> dict[str, set[str]]:
    """Every table outside PostgreSQL's own schemas, by schema."""
    return await postgres.names_by_schema(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    )


@pytest.mark.boot
@pytest.mark.parametrize("answers", BOOTED_VARIANTS, ids=variant_id)
def test_variant_boots_and_passes_its_own_tests(
    cookies, pg_admin_url: str, fresh_database: str, answers: dict[str, str], figure
) -> None:
    python = find_python(answers["python_version"])
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    project: Path = result.project_path
    package = result.context["package_name"]
    database_url = postgres.with_database(
        pg_admin_url, fresh_database, driver="postgresql+asyncpg"
    )
    started = time.monotonic()
    if answers["ci"] == "none":
        summary = install_and_test(answers, project, package, database_url)
    else:  # the project's own CI steps, in order, with the app served before its tests
        shipping.lock(project, python)
        steps, env = shipping.ci_steps(project, answers["ci"], answers["python_version"])
        assert steps[0] == "uv sync --locked"
        assert steps[-2:] == ["uv run alembic check", "uv run pytest"]
        # The service container's database, here: the same URL on a fresh database.
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://postgres:postgres@")
        env |= {"DATABASE_URL": database_url, "UV_PYTHON": python}
        try:
            output = {step: ci_step(step, project, env) for step in steps[:-1]}
            checked = output["uv run alembic check"]
            assert "No new upgrade operations detected" in checked.stdout + checked.stderr
            check_python(answers, project)
            serve(answers, project, package, env)
            summary = ci_step(steps[-1], project, env).stdout.splitlines()[-1]
        finally:
            postgres.drop_database(pg_admin_url, f"{fresh_database}_test")
        summary = f"{len(steps)} {answers['ci']} CI steps in order; {summary}"
    assert " passed" in summary, summary
    assert " failed" not in summary, summary
    figure(f"booted and tested in {time.monotonic() - started:.1f} s: {summary}")


def ci_step(step: str, project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One CI step, as the runner's shell runs it (failing the test if it fails)."""
    done = run(["bash", "-e", "-c", step], project, **env)
    if step.startswith("uv sync"):
        bytecode.adopt(project / ".venv")
    return done


def check_python(answers: dict[str, str], project: Path) -> None:
    version = run([uv_bin(), "run", "--no-sync", "python", "--version"], project).stdout
    assert version.startswith(f"Python {answers['python_version']}.")


def install_and_test(
    answers: dict[str, str], project: Path, package: str, database_url: str
) -> str:
    """Without a CI file: ``uv sync``, ``mypy`` beside the migration and the served app,
    then the project's own suite; its summary line."""
    uv = uv_bin()
    tenant_env = {"TENANTS": "acme,globex"} if answers["tenancy"] == "schema-per-tenant" else {}
    env = {"DATABASE_URL": database_url, "TEST_DATABASE_URL": database_url, **tenant_env}
    uv_sync(project, find_python(answers["python_version"]))
    check_python(answers, project)
    # mypy reads only the sources; it runs on one core while the database steps use the other.
    with ThreadPoolExecutor(max_workers=1) as background:
        typed = background.submit(run, [uv, "run", "--no-sync", "mypy"], project)
        run([uv, "run", "--no-sync", "alembic", "upgrade", "head"], project, **env)
        serve(answers, project, package, env)
        typed.result()  # raises with mypy's output if it failed
    tests = run([uv, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"], project, **env)
    return tests.stdout.splitlines()[-1]


def serve(answers: dict[str, str], project: Path, package: str, env: dict[str, str]) -> None:
    """On the migrated database (``env``'s): its tables, then the app served, probed and
    (with the example) a CRUD round trip, with a clean log."""
    database_url = env["DATABASE_URL"]
    tenants = answers["tenancy"] == "schema-per-tenant"
    tenant_env = {"TENANTS": env["TENANTS"]} if tenants else {}
    schemas = (
        [f"tenant_{name}" for name in env["TENANTS"].split(",")]
        if tenants
        else [answers["database_schema"] or "public"]
    )
    tables = asyncio.run(tables_by_schema(database_url))
    expected_tables = {"alembic_version"} | (
        {"items"} if answers["include_example_api"] == "y" else set()
    )
    assert tables == dict.fromkeys(schemas, expected_tables)

    variant = InstalledVariant(answers, project, project.name, package)
    with ExitStack() as stack:
        serve_env, headers = dict(tenant_env), {"X-Tenant": "acme"} if tenants else {}
        if answers["auth"] == "jwt":  # a token from an issuer on loopback; X-Tenant is not read
            issuer = stack.enter_context(running_issuer({"tenant": "acme"} if tenants else {}))
            serve_env.update(app_settings(issuer.url))
            headers = issuer.bearer()
        app = stack.enter_context(variant.serve(project / "server.log", database_url, **serve_env))
        ready = httpx.get(f"{app.base_url}/health/ready", timeout=10, verify=TLS)
        assert ready.status_code == 200, ready.text
        if answers["include_example_api"] == "y":
            crud_round_trip(app.base_url, headers)
            unnamed = 401 if answers["auth"] == "jwt" else 422
            if tenants:
                anonymous = httpx.get(f"{app.base_url}/api/items", timeout=10, verify=TLS)
                assert anonymous.status_code == unnamed
                other = (
                    {"X-Tenant": "globex"}
                    if answers["auth"] == "none"
                    else issuer.bearer(tenant="globex")
                )
                listed = httpx.get(f"{app.base_url}/api/items", headers=other, verify=TLS)
                assert listed.json() == {"items": [], "next": None}
        app.assert_clean_log()
