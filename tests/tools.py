"""Running the tools a generated project is checked with."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import uv

from tests import bytecode
from tests.prerequisites import missing

RUFF = shutil.which("ruff") or "ruff"
# httpx loads its trust store for every client it makes, a bare ``httpx.get()``
# included: about 50 ms of CPU each (a readiness poll makes one per try).
# The suite's clients share one.
TLS = httpx.create_ssl_context()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a generated project's commands: not this test run's venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not key.startswith("UV_")
    }
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command; fail with its output if it fails."""
    result = subprocess.run(
        args, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = (
            f"{' '.join(args)} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        raise AssertionError(msg)
    return result


def uv_sync(project: Path, python: str) -> None:
    """``uv sync`` the project with ``python``; its environment takes the filed bytecode."""
    run([uv_bin(), "sync", "--quiet", "--python", python], project)
    bytecode.adopt(project / ".venv")


def uv_bin() -> str:
    """The uv executable (the real one, not a version manager's shim)."""
    return uv.find_uv_bin()


def find_python(version: str) -> str:
    """An installed interpreter for ``version`` (e.g. "3.12"), or fail saying how to get one."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        matching = sorted(
            (v for v in listed if re.fullmatch(rf"{re.escape(version)}\.\d+", v)),
            key=lambda v: int(v.rsplit(".", 1)[1]),
        )
        if matching:
            prefix = subprocess.run(
                [pyenv, "prefix", matching[-1]], capture_output=True, text=True, check=True
            ).stdout.strip()
            return str(Path(prefix) / "bin" / "python")
    found = subprocess.run(
        [uv_bin(), "python", "find", "--no-python-downloads", version],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    missing(f"Python {version}, needed to boot this variant,", f"pyenv install {version}")
    raise AssertionError  # unreachable: missing() skips or fails
