"""Shipping a generated project: its image, compose stack and CI, checked for real.

There is no Docker engine and no CI runner here, so each file is validated by
the tools that exist for it and its commands are executed on the host:

- every rendered ``compose.yaml``, GitHub workflow and GitLab pipeline passes
  check-jsonschema's built-in schema for it; workflows also pass actionlint and
  Dockerfiles hadolint;
- the CI steps run in order, as written, in the booted variants that have a CI
  file (``tests/test_boot.py``: ``shipping.ci_steps``);
- the Dockerfile's build stage runs in a build context holding only what it
  copies, its final stage's layout is assembled from its ``COPY`` lines, then
  the migration command, the ``CMD`` (several workers) and the ``HEALTHCHECK``
  run from it, with the root filesystem read-only but /tmp where the tests run
  as root; on SIGTERM with 50 requests in flight it must drain (readiness 503,
  the rest served), then refuse new connections and finish all 50.
"""

import asyncio
import itertools
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from cookiecutter.main import cookiecutter

from tests import postgres, shipping, template
from tests.faults.roles import compose_roles
from tests.faults.service import Database, InstalledVariant, free_port, wait_for
from tests.test_boot import crud_round_trip
from tests.test_reliability import blocked_on_lock
from tests.tools import TLS, clean_env, find_python, run

pytestmark = pytest.mark.boot

DEPLOY_FILES = ["Dockerfile", "compose.yaml", ".github/workflows/ci.yml", ".gitlab-ci.yml"]
# The only answers the deployment files are rendered from (checked below).
DEPLOY_ANSWERS = {
    "python_version",
    "__schema",
    "tenancy",
    "auth",
    "package_name",
    "project_slug",
    "ci",
}
GRACE_PERIOD = 20.0  # compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds


def bake(answers: dict[str, str], output: Path) -> Path:
    return Path(
        cookiecutter(
            str(template.ROOT), no_input=True, extra_context=answers, output_dir=str(output)
        )
    )


def test_deployment_files_read_only_the_answers_the_render_check_varies() -> None:
    used = set()
    for name in DEPLOY_FILES:
        text = (template.PROJECT_TEMPLATE / name).read_text(encoding="utf-8")
        used |= set(re.findall(r"cookiecutter\.(\w+)", text))
    assert used <= DEPLOY_ANSWERS


def test_every_rendered_deployment_file_passes_its_schema_and_linter(tmp_path: Path) -> None:
    # Python version x schema mode (and auth) x CI: everything these files are rendered from.
    modes = [
        {},
        {"database_schema": "billing"},
        {"tenancy": "schema-per-tenant"},
        {"auth": "jwt"},
    ]
    files: dict[str, list[Path]] = {name: [] for name in DEPLOY_FILES}
    for number, (python, mode, ci) in enumerate(
        itertools.product(template.OPTION_VALUES["python_version"], modes, ["github", "gitlab"])
    ):
        project = bake({"python_version": python, "ci": ci, **mode}, tmp_path / str(number))
        for name in DEPLOY_FILES:
            if (project / name).exists():
                files[name].append(project / name)
    assert [len(found) for found in files.values()] == [24, 24, 12, 12]

    for schema, name in [
        ("vendor.compose-spec", "compose.yaml"),
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
        ("vendor.gitlab-ci", ".gitlab-ci.yml"),
    ]:
        checked = shipping.check_jsonschema(schema, files[name])
        assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = shipping.actionlint(files[".github/workflows/ci.yml"])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    linted = shipping.hadolint(files["Dockerfile"])
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_linters_catch_a_broken_file(tmp_path: Path) -> None:
    """The checks above can fail: each tool refuses a file with one mistake."""
    project = bake({"ci": "github"}, tmp_path)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    compose["services"]["app"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken_compose = tmp_path / "compose.yaml"
    broken_compose.write_text(yaml.safe_dump(compose))
    workflow = (project / ".github/workflows/ci.yml").read_text()
    broken_workflow = tmp_path / "ci.yml"
    broken_workflow.write_text(workflow.replace("uv sync --locked", "uv sync ${{ matrix.nope }}"))
    dockerfile = (project / "Dockerfile").read_text()
    broken_dockerfile = tmp_path / "Dockerfile"
    broken_dockerfile.write_text(dockerfile.replace("WORKDIR /app", "WORKDIR app"))

    assert shipping.check_jsonschema("vendor.compose-spec", [broken_compose]).returncode != 0
    assert shipping.actionlint([broken_workflow]).returncode != 0
    assert shipping.hadolint([broken_dockerfile]).returncode != 0


def test_the_templates_own_ci_workflow_validates() -> None:
    workflows = sorted((template.ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    checked = shipping.check_jsonschema("vendor.github-workflows", workflows)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = shipping.actionlint(workflows)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    runs = [
        step.get("run", "")
        for workflow in workflows
        for job in yaml.safe_load(workflow.read_text())["jobs"].values()
        for step in job["steps"]
    ]
    assert any(command.strip().endswith("uv run pytest") for command in runs), runs


def locked_project(answers: dict[str, str], output: Path) -> Path:
    """Bake, then the README's first step: create uv.lock."""
    project = bake({"python_version": "3.12", **answers}, output)
    shipping.lock(project, find_python("3.12"))
    return project


def build_and_assemble(project: Path, root: Path) -> tuple[Path, dict[str, str], list[str]]:
    """Run the Dockerfile's build stage and lay out its final stage under ``root``.

    Returns the final stage's working directory, its environment and its CMD.
    """
    build, final = shipping.parse_dockerfile(project / "Dockerfile")
    app_dir = root / final.workdir.lstrip("/")
    venv = root / "app" / ".venv"
    # The build context holds only what the build stage copies.
    context = root / "context"
    for sources, _ in build.copies:
        for source in sources:
            assert (project / source).exists(), f"Dockerfile copies missing {source}"
            copy = shutil.copytree if (project / source).is_dir() else shutil.copy2
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            copy(project / source, context / source)
    build_env = {
        **build.env,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": find_python("3.12"),
    }
    for command in build.runs:
        run(["bash", "-e", "-c", command], context, **build_env)
    assert build.copied_from_stages[0][0].startswith("ghcr.io/astral-sh/uv:")
    # The final stage: the venv from the build stage, then its own COPY lines.
    assert final.copied_from_stages == [("build", "/app/.venv", "/app/.venv")]
    app_dir.mkdir(parents=True, exist_ok=True)
    for sources, destination in final.copies:
        for source in sources:
            assert (project / source).exists(), f"Dockerfile copies missing {source}"
            # Docker's rules: a folder's contents go to the destination; a file
            # goes into a destination ending in "/", else becomes it.
            if (project / source).is_dir():
                shutil.copytree(project / source, app_dir / destination)
            elif destination.endswith("/"):
                shutil.copy2(project / source, app_dir / destination / Path(source).name)
            else:
                shutil.copy2(project / source, app_dir / destination)
    runtime_env = {key: value.replace("/app/.venv", str(venv)) for key, value in final.env.items()}
    assert final.user
    assert final.user.split(":")[0] not in ("root", "0")
    assert final.stopsignal == "SIGTERM"
    assert final.cmd
    assert final.healthcheck
    return app_dir, runtime_env, final.cmd


DRAIN_DELAY = 2.0  # shorter than the default 6 s: how long is not what this tests


async def sigterm_with_requests_in_flight(
    process: subprocess.Popen[bytes], log: Path, base_url: str, database: Database, count: int
) -> tuple[list[int], float, list[tuple[float, int | str, int | str, str | None]]]:
    """Hold ``items`` locked, send ``count`` reads, SIGTERM, then release the lock.

    Returns the reads' statuses, the seconds until the server exited, and what
    new connections made after SIGTERM met: when each was made, ``/health/ready``'s
    status, then ``/health/live``'s and its ``Connection`` header, or the transport
    error they ended with. The lock is released once a new connection is refused.
    """
    holder = await asyncpg.connect(database.plain_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=TLS) as client:
        requests = [asyncio.create_task(client.get("/api/items")) for _ in range(count)]
        assert await blocked_on_lock(database, 10)
        process.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        # Both workers have it (uvicorn's supervisor passes it on from a 0.5 s loop).
        assert await wait_for(lambda: _drain_started(log, 2), timeout=10), log.read_text()
        probes = await _probe_until_refused(base_url, terminated, within=DRAIN_DELAY + 10)
        await transaction.rollback()
        await holder.close()
        responses = await asyncio.gather(*requests)
    while process.poll() is None and time.monotonic() - terminated < GRACE_PERIOD + 5:
        await asyncio.sleep(0.05)
    exited_after = time.monotonic() - terminated
    return [r.status_code for r in responses], exited_after, probes


async def _drain_started(log: Path, workers: int) -> bool:
    return log.read_text().count("SIGTERM: /health/ready answers 503") == workers


async def _probe_until_refused(
    base_url: str, since: float, within: float
) -> list[tuple[float, int | str, int | str, str | None]]:
    """New connections, one after another, until one is refused (or ``within`` s)."""
    probes: list[tuple[float, int | str, int | str, str | None]] = []
    while time.monotonic() - since < within:
        sent = time.monotonic() - since
        async with httpx.AsyncClient(base_url=base_url, timeout=5, verify=TLS) as probe:
            try:
                ready = (await probe.get("/health/ready")).status_code
                live = await probe.get("/health/live")
            except httpx.TransportError as exc:
                probes.append((sent, type(exc).__name__, type(exc).__name__, None))
                return probes
        probes.append((sent, ready, live.status_code, live.headers.get("connection")))
        await asyncio.sleep(0.1)
    return probes


async def _started_workers(log: Path, count: int) -> bool:
    """Whether ``count`` worker processes (distinct pids) have started."""
    return len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))) == count


def test_image_layout_serves_with_workers_and_drains_on_sigterm(
    tmp_path: Path, pg_admin_url: str, fresh_database: str, figure
) -> None:
    project = locked_project({"ci": "none"}, tmp_path / "bake")
    slug = project.name
    ignored = (project / ".dockerignore").read_text().split()
    assert {".venv/", ".env", "tests/", "**/__pycache__/", ".git/"} <= set(ignored)

    app_dir, env, cmd = build_and_assemble(project, tmp_path / "image")
    venv = Path(env["PATH"].split(":")[0])
    assert (venv / "fastapi").exists()
    for dev_tool in ("pytest", "mypy", "ruff"):
        assert not (venv / dev_tool).exists(), f"{dev_tool} is in the image"
    assert not list(app_dir.glob("src")), "the image needs no source tree"
    assert env["WEB_CONCURRENCY"] == "2"
    # SQLAlchemy's compiled extensions, not its pure-Python fallback (rows and caching).
    compiled = "from sqlalchemy.util import _has_cython; print(_has_cython.HAS_CYEXTENSION)"
    assert run([str(venv / "python"), "-c", compiled], app_dir).stdout.strip() == "True"

    database_url = postgres.with_database(
        pg_admin_url, fresh_database, driver="postgresql+asyncpg"
    ).replace("postgres@", "postgres:not-a-default-secret@")
    variant = InstalledVariant({}, project, slug, project.name.replace("-", "_"))
    database = Database(pg_admin_url, fresh_database, variant)
    env = {
        **env,
        "DATABASE_URL": database_url,
        "DATABASE_ALLOW_PLAINTEXT": "true",  # the test server speaks no TLS
        "PATH": f"{env['PATH'].split(':')[0]}:/usr/bin:/bin",
        "DRAIN_DELAY": str(DRAIN_DELAY),
        # The 50 reads wait on a lock through the drain: no deadline may end them.
        "DATABASE_POOL_TIMEOUT": "60",
        "DATABASE_STATEMENT_TIMEOUT": "60",
        "DATABASE_COMMAND_TIMEOUT": "65",
    }
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["services"]["app"]["stop_grace_period"] == f"{GRACE_PERIOD:g}s"
    # As in a pod with readOnlyRootFilesystem and an emptyDir on /tmp, where possible.
    read_only = shipping.can_make_root_read_only()
    image = tmp_path / "image"

    def as_in_the_image(command: list[str]) -> list[str]:
        return shipping.read_only_root(command, image) if read_only else command

    migrate = compose["services"]["migrate"]["command"]
    run(as_in_the_image(migrate), app_dir, **env)

    port = free_port()
    command = [part.replace("0.0.0.0", "127.0.0.1").replace("8000", str(port)) for part in cmd]
    command = as_in_the_image(command)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=app_dir, env=clean_env(**env), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=2, verify=TLS).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the image's CMD did not serve:\n{log.read_text()}")
        _, healthcheck = shipping.parse_dockerfile(project / "Dockerfile")
        probe = [p.replace("8000", str(port)) for p in healthcheck.healthcheck or []]
        run(probe, app_dir, **env)
        created = httpx.post(
            f"{base_url}/api/items", json={"name": "drain"}, timeout=10, verify=TLS
        )
        assert created.status_code == 201, created.text
        workers = asyncio.run(wait_for(lambda: _started_workers(log, 2), timeout=30))
        assert workers, log.read_text()

        statuses, exited_after, probes = asyncio.run(
            sigterm_with_requests_in_flight(process, log, base_url, database, count=50)
        )
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    text = log.read_text()
    assert statuses == [200] * 50, (statuses, text)
    # During the drain, new connections: readiness 503, the rest served with Connection: close.
    *drain, (refused_at, refused, _, _) = probes
    assert drain, probes
    assert all(p[1:] == (503, 200, "close") for p in drain), probes
    # Then refused at once (not left waiting), and only once the delay was over.
    assert refused == "ConnectError", probes
    assert refused_at >= DRAIN_DELAY, probes
    assert process.returncode == 0, text
    assert exited_after < GRACE_PERIOD, text
    assert text.count("Application shutdown complete") == 2, text
    for unwanted in ("Traceback", "ERROR", *("non-checked-in connection", "garbage collector")):
        assert unwanted not in text, text
    assert asyncio.run(database.app_backends()) == []
    figure(
        f"2 workers, root filesystem {'read-only but /tmp' if read_only else 'writable'};"
        f" 50 requests in flight at SIGTERM: {statuses.count(200)} x 200; during the"
        f" {DRAIN_DELAY:g} s drain {len(drain)} new connections: /health/ready 503,"
        f" /health/live 200 + Connection: close; refused from {refused_at:.1f} s;"
        f" exit 0 after {exited_after:.1f} s, 0 connections left"
    )


ROLE_MODES = {
    "default": {},
    "schema": {"database_schema": "app"},
    "tenant": {"tenancy": "schema-per-tenant"},
}


@pytest.mark.parametrize("mode", list(ROLE_MODES))
def test_the_compose_roles_give_the_app_rows_and_nothing_more(
    mode: str, install_variant, pg_admin_url: str, fresh_database: str, tmp_path: Path, figure
) -> None:
    """Migrations run as the owner; the app's role reads and writes rows, and owns nothing."""
    variant: InstalledVariant = install_variant(ROLE_MODES[mode])
    with compose_roles(variant.project, pg_admin_url, fresh_database, tmp_path) as roles:
        variant.migrate(roles.url(pg_admin_url, fresh_database, roles.owner))
        app_url = roles.url(pg_admin_url, fresh_database, roles.app)
        if mode == "default":
            with variant.serve(tmp_path / "app.log", app_url) as app:
                crud_round_trip(app.base_url, variant.headers)
                app.assert_clean_log()
        refused = asyncio.run(
            app_role_checks(postgres.plain_url(app_url.replace("+asyncpg", "")), variant.schema)
        )
    assert refused == {
        "superuser": False,
        "create table": "42501",
        "drop table": "42501",
        "insert": "ok",
    }
    figure(
        f"{mode}: as the app role: not a superuser,"
        " CREATE TABLE and DROP TABLE refused (42501), rows written"
    )


async def app_role_checks(url: str, schema: str) -> dict[str, object]:
    connection = await asyncpg.connect(url, server_settings={"search_path": schema}, timeout=10)
    found: dict[str, object] = {}
    try:
        found["superuser"] = await connection.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        for name, statement in (
            ("create table", "CREATE TABLE intruder (id int)"),
            ("drop table", "DROP TABLE items"),
        ):
            try:
                await connection.execute(statement)
                found[name] = "allowed"
            except asyncpg.PostgresError as exc:
                found[name] = exc.sqlstate
        await connection.execute("INSERT INTO items (name) VALUES ('by the app role')")
        found["insert"] = "ok"
    finally:
        await connection.close()
    return found
