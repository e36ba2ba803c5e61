"""Fixtures shared by the template's tests."""

import fcntl
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from binaryornot.check import is_binary
from cookiecutter import generate as cookiecutter_generate
from cookiecutter import hooks as cookiecutter_hooks
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException

from tests import bytecode, postgres, template
from tests.template import ROOT

# Fixtures that install a variant or need a PostgreSQL server: a test that uses
# one of them, or is marked boot or reliability, is not quick.
SLOW_FIXTURES = frozenset({"install_variant", "pg_admin_url", "fresh_database"})


def pytest_configure(config: pytest.Config) -> None:
    """Render this template whatever directory pytest was started from; repeat no work.

    cookiecutter makes a new Jinja environment, which compiles every file and
    file name again, for each bake: over the hundreds of bakes of a run that
    was half their time. The compiled code of a source depends only on the
    environment's settings, the same for every bake, so it is kept; so is
    each template file's text-or-binary guess.
    """
    config.option.template = str(ROOT)
    # Every generated project's commands start fresh interpreters (pytest, alembic,
    # uvicorn's workers, the command line). With PYTHONDONTWRITEBYTECODE set, as on
    # some CI machines, each of them compiled SQLAlchemy, FastAPI and the rest from
    # source again: twice the CPU of a generated suite. Bytecode is written once,
    # into a tree of its own: never into the template (a bake would copy it) or
    # into a baked project.
    pycache = str(Path(tempfile.gettempdir()) / "template-pycache")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = pycache
    sys.pycache_prefix = pycache  # this process too: it loads the template's tests/issuer.py
    # Each bake's first mypy run checked SQLAlchemy, FastAPI, pydantic and the rest
    # again (11 s of CPU; 2 s with their results cached). One cache serves every bake:
    # mypy keys it by Python version and takes an entry only when the file's hash
    # matches, so a bake's own modules, which differ between variants, are checked anew.
    os.environ["MYPY_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "template-mypy-cache")
    compiled: dict[tuple[Any, ...], Any] = {}
    compile_source = StrictEnvironment.compile

    def compile_once(self: StrictEnvironment, source: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(source, str):  # a parsed template: compile as it is
            return compile_source(self, source, *args, **kwargs)
        key = (source, *args, *sorted(kwargs.items()))
        if key not in compiled:
            compiled[key] = compile_source(self, source, *args, **kwargs)
        return compiled[key]

    StrictEnvironment.compile = compile_once  # type: ignore[method-assign,assignment]
    cookiecutter_generate.is_binary = is_binary_once
    cookiecutter_hooks.run_script = run_hook_in_process


RUN_SCRIPT = cookiecutter_hooks.run_script


def run_hook_in_process(script_path: str, cwd: Path | str = ".") -> None:
    """cookiecutter's ``run_script`` for a Python hook, without starting an interpreter.

    The same rendered script runs as ``__main__`` from ``cwd``, and an exit status
    other than 0 raises the same ``FailedHookException``. Starting Python and its
    imports for the two hooks took 0.1 s of CPU, a third of a bake. The bakes made
    through cookiecutter's and cruft's commands (tests/test_updates.py, the
    benchmark) still run the hooks as cookiecutter does.
    """
    if not script_path.endswith(".py"):
        return RUN_SCRIPT(script_path, cwd)
    script = Path(script_path)
    source = script.read_text(encoding="utf-8")
    if script.parent == Path(tempfile.gettempdir()):
        # cookiecutter renders each hook into a temporary file it never removes
        # (2,500 of them a run).
        script.unlink(missing_ok=True)
    here = os.getcwd()
    os.chdir(cwd)
    status: object = 0
    try:
        code = compile(source, script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": script_path})
    except SystemExit as exc:
        status = exc.code
    except Exception:  # as the interpreter does: the traceback, then status 1
        traceback.print_exc()
        status = 1
    finally:
        os.chdir(here)
    if status is None or (isinstance(status, int) and status == 0):
        return None
    if not isinstance(status, int):  # sys.exit("message"): printed, status 1
        print(status, file=sys.stderr)
        status = 1
    msg = f"Hook script failed (exit status: {status})"
    raise FailedHookException(msg)


@functools.cache
def _is_binary(path: str, mtime_ns: int, size: int) -> bool:
    return is_binary(path)


def is_binary_once(path: str) -> bool:
    """binaryornot's guess, made once per file version: it read and scored every file of
    every bake (a third of a bake's time), and a template file stays what it was."""
    stat = os.stat(path)
    return _is_binary(os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


# Modules whose tests share a costly module-scoped fixture (a TLS server, a counting
# cluster, a PgBouncer): under xdist (``--dist loadgroup``) each runs on one worker,
# so the fixture is made once. Every other test goes to whichever worker is free.
SHARED_FIXTURE_MODULES = frozenset(
    {"test_hot_path", "test_managed_database", "test_scaling", "test_reliability_security"}
)


def module_name(item: pytest.Item) -> str:
    """The test module's own name, such as ``test_boot``."""
    return item.module.__name__.rsplit(".", 1)[-1] if item.module else ""


# Modules whose tests take longest, longest first: see ``schedule_rank``.
LONGEST_FIRST = (
    "test_scaling",
    "test_managed_database",
    "test_reliability_security",
    "test_hot_path",
    "test_boot",
    "test_migrations",
    "test_answers_generated",
)


def schedule_rank(item: pytest.Item) -> tuple[int, int]:
    """Where ``item`` goes in the run: the longest work first, quick tests last.

    xdist hands tests to whichever worker is free, in this order, so long
    tests started last would leave the other workers idle at the end.
    """
    module = module_name(item)
    if module in LONGEST_FIRST:
        return 0, LONGEST_FIRST.index(module)
    return (2, 0) if item.get_closest_marker("quick") else (1, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``quick`` every test that needs no installed variant and no server; order them."""
    for item in items:
        slow = item.get_closest_marker("boot") or item.get_closest_marker("reliability")
        if not slow and not SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.quick)
        module = module_name(item)
        if module in SHARED_FIXTURE_MODULES:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=schedule_rank)  # stable: file order within a rank


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL (maintenance database) of the PostgreSQL server the tests use."""
    try:
        url, server = postgres.find_server(tmp_path_factory.mktemp("postgres"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield url
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def fresh_database(pg_admin_url: str) -> Iterator[str]:
    """The name of a new, empty database, dropped after the test."""
    name = postgres.create_database(pg_admin_url)
    yield name
    postgres.drop_database(pg_admin_url, name)


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest):
    """Record a measured figure; all of them are printed at the end of the run.

    They travel with the test's report, so a run spread over xdist workers
    prints them too.
    """

    def record(text: str) -> None:
        request.node.user_properties.append(("figure", f"{request.node.name}: {text}"))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the figures of each finished test (in the controller, under xdist)."""
    if report.when == "call":
        figures = [value for name, value in report.user_properties if name == "figure"]
        if figures:
            FIGURE_LINES.extend(figures)


FIGURE_LINES: list[str] = []


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """File the bytecode the test's new environments compiled, for the next ones to reuse."""
    bytecode.contribute_adopted()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Print the figures the tests measured."""
    if FIGURE_LINES:
        terminalreporter.section("figures")
        for line in FIGURE_LINES:
            terminalreporter.write_line(line)


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees (the run's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def install_variant(tmp_path_factory: pytest.TempPathFactory):
    """Bake and ``uv sync`` a variant once per run; the same answers give the same project.

    The first worker to need a variant installs it under a file lock; the
    others wait for it and reuse it. Tests must not change an installed
    variant: one that needs to, works on a copy.
    """
    from tests.faults.service import InstalledVariant

    installed: dict[str, InstalledVariant] = {}
    root = shared_root(tmp_path_factory) / "variants"
    root.mkdir(exist_ok=True)

    def install(answers: dict[str, str]) -> InstalledVariant:
        # Answers left out are the defaults: {} and the defaults spelt out are one project.
        chosen = dict(sorted({**template.DEFAULT_ANSWERS, **answers}.items()))
        key = hashlib.sha256(json.dumps(chosen).encode()).hexdigest()[:16]
        if key not in installed:
            with (root / f"{key}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                done = root / f"{key}.json"
                if done.exists():
                    project = Path(json.loads(done.read_text())["project"])
                    installed[key] = InstalledVariant.load(answers, project)
                else:  # a failed attempt may have left a partial bake behind
                    shutil.rmtree(root / key, ignore_errors=True)
                    installed[key] = InstalledVariant.install(answers, root / key)
                    done.write_text(json.dumps({"project": str(installed[key].project)}))
        return installed[key]

    return install
