"""Generated projects follow the template, and platform teams pin their answers.

- cruft: a project baked with ``cruft create`` from a git copy of this
  template, committed and then edited by its team, receives a later template
  commit with ``cruft update``; the files the team owns (``[tool.cruft] skip``
  in the generated ``pyproject.toml``: models, migrations) keep the team's
  version even where the template changed them.
- cookiecutter's user config file: ``default_context`` answers apply to every
  bake that uses it, and ``--replay`` bakes again with the recorded answers.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.template import ROOT

BIN = Path(sys.executable).parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


def sh(args: list[str], cwd: Path) -> str:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), **GIT_IDENTITY}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-q", "-m", message], repo)


def template_repository(destination: Path) -> Path:
    """The template's tracked files, committed in a new git repository."""
    tracked = sh(["git", "ls-files", "-z"], ROOT).split("\0")
    for name in filter(None, tracked):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    sh(["git", "init", "-q", "-b", "main"], destination)
    commit_all(destination, "template v1")
    return destination


def test_cruft_update_brings_template_changes_and_keeps_the_teams_files(tmp_path: Path) -> None:
    template = template_repository(tmp_path / "template")
    sh(
        [
            "cruft", "create", str(template), "--no-input", "--output-dir", str(tmp_path),
            "--extra-context", json.dumps({"project_name": "Cruft Demo"}),
        ],
        tmp_path,
    )  # fmt: skip
    project = tmp_path / "cruft-demo"
    package = project / "src" / "cruft_demo"
    sh(["git", "init", "-q", "-b", "main"], project)
    commit_all(project, "generated")

    # The team's own work: a model change and its migration.
    models = package / "items" / "models.py"
    models.write_text(models.read_text() + "\n# the team's change\n")
    migration = project / "migrations" / "versions" / "0002_team.py"
    migration.write_text('"""The team\'s migration."""\n')
    commit_all(project, "team work")

    # A later template commit touches a template-owned file and a team-owned one.
    template_project = template / "{{cookiecutter.project_slug}}"
    gitignore = template_project / ".gitignore"
    gitignore.write_text(gitignore.read_text() + "\n# added by template v2\n.profiles/\n")
    template_models = template_project / "src/{{cookiecutter.package_name}}/items/models.py"
    template_models.write_text(template_models.read_text() + "\n# template v2 change\n")
    commit_all(template, "template v2")

    sh(["cruft", "update", "--skip-apply-ask"], project)

    assert "# added by template v2" in (project / ".gitignore").read_text()
    assert "# the team's change" in models.read_text()
    assert "# template v2 change" not in models.read_text()
    assert migration.read_text() == '"""The team\'s migration."""\n'
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == sh(["git", "rev-parse", "HEAD"], template).strip()
    sh(["cruft", "check"], project)


@pytest.fixture
def user_config(tmp_path: Path) -> Path:
    """A platform team's cookiecutter user config, pinning some answers."""
    config = tmp_path / "platform.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "default_context": {
                    "author_name": "Payments Platform",
                    "author_email": "payments@example.com",
                    "python_version": "3.13",
                    "ci": "gitlab",
                },
                "replay_dir": str(tmp_path / "replay"),
                "cookiecutters_dir": str(tmp_path / "cookiecutters"),
            }
        )
    )
    return config


def test_a_user_config_pins_answers_and_replay_repeats_a_bake(
    tmp_path: Path, user_config: Path
) -> None:
    first = tmp_path / "first"
    sh(
        [
            "cookiecutter", "--no-input", "--config-file", str(user_config),
            "--output-dir", str(first), str(ROOT), "project_name=Ledger",
        ],
        tmp_path,
    )  # fmt: skip
    project = first / "ledger"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'authors = [{ name = "Payments Platform", email = "payments@example.com" }]' in (
        pyproject
    )
    assert 'requires-python = ">=3.13"' in pyproject
    assert (project / ".gitlab-ci.yml").is_file()
    assert not (project / ".github").exists()

    again = tmp_path / "again"
    sh(
        [
            "cookiecutter", "--replay", "--config-file", str(user_config),
            "--output-dir", str(again), str(ROOT),
        ],
        tmp_path,
    )  # fmt: skip
    replayed = again / "ledger"
    files = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(replayed) for p in replayed.rglob("*") if p.is_file())
    for name in files:
        assert (project / name).read_bytes() == (replayed / name).read_bytes(), name
