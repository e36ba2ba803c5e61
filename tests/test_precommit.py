"""A generated project's pre-commit hooks pass on a fresh bake, offline, with its own tools.

pre-commit comes from the project's dev dependencies; every hook is a local one
run through ``uv run --frozen``. The run is offline (``UV_OFFLINE``), and the fast
tests run with ``DATABASE_URL`` at a port that refuses connections: the subset the
hook runs needs no database.
"""

import shutil
from pathlib import Path

import yaml

from tests.faults.service import InstalledVariant
from tests.tools import run, uv_bin

NO_DATABASE = "postgresql+asyncpg://nobody:secret@127.0.0.1:1/nothing"


def test_the_hooks_are_the_projects_own_tools(install_variant) -> None:
    variant: InstalledVariant = install_variant({})
    config = yaml.safe_load((variant.project / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert [hook["id"] for hook in hooks] == ["ruff", "ruff-format", "mypy", "pytest-fast"]
    for hook in hooks:
        assert hook["language"] == "system"
        assert hook["entry"].startswith("uv run --frozen "), hook


def test_pre_commit_run_all_files_passes_offline(install_variant, tmp_path: Path, figure) -> None:
    variant: InstalledVariant = install_variant({})
    project = variant.project
    git = shutil.which("git") or "git"
    run([git, "init", "--quiet"], project)
    try:
        run([git, "add", "--all"], project)
        result = run(
            [uv_bin(), "run", "--frozen", "pre-commit", "run", "--all-files", "--color", "never"],
            project,
            PRE_COMMIT_HOME=str(tmp_path / "pre-commit"),
            UV_OFFLINE="1",
            DATABASE_URL=NO_DATABASE,
        )
    finally:
        shutil.rmtree(project / ".git")
    passed = [line for line in result.stdout.splitlines() if line.endswith("Passed")]
    assert len(passed) == 4, result.stdout
    figure(" / ".join(line.split(".")[0] for line in passed))
