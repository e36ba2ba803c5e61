"""Every combination of answers renders a complete, clean project."""

import ast
import re
import subprocess
from pathlib import Path

import pytest

from tests import template
from tests.tools import RUFF


def bake_ok(cookies, answers: dict[str, str]) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    return result.project_path


def test_manifest_lists_every_template_file() -> None:
    assert template.unlisted_template_files() == []


def test_every_manifest_path_exists_in_the_template() -> None:
    assert template.missing_manifest_paths() == []


def variant_id(answers: dict[str, str]) -> str:
    return "-".join(v or "noschema" for v in answers.values())


@pytest.mark.parametrize("answers", template.ALL_VARIANTS, ids=variant_id)
def test_variant_renders_exactly_its_files_cleanly(cookies, answers: dict[str, str]) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    project = result.project_path
    package = "orders_service"
    assert result.context["__schema_mode"] == template.schema_mode(answers)

    assert template.project_files(project) == template.expected_files(answers, package)
    assert template.residue(project) == []
    pyproject = (project / "pyproject.toml").read_text()
    assert f'requires-python = ">={answers["python_version"]}"' in pyproject
    assert (project / ".python-version").read_text().strip() == answers["python_version"]
    traced = answers["observability"] == "opentelemetry"
    assert ("opentelemetry-sdk>=" in pyproject) == traced
    assert (project / "tests" / "test_telemetry.py").is_file() == traced
    assert (project / "docs" / "tracing.md").is_file() == traced

    readme = (project / "README.md").read_text().splitlines()
    assert len(readme) <= template.README_MAX_LINES, len(readme)
    headings = [line for line in readme if line.startswith("## ")]
    assert headings[-1] == "## Documentation", headings  # the index, last, for others to extend
    assert template.broken_links(project) == []

    if answers["ci"] != "github":
        return  # `ci` owns only CI files: the Python is the ci=github render's, linted there
    lint = subprocess.run(
        [RUFF, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize(
    ("answers", "package", "schema_line"),
    [
        ({"database_schema": "public"}, "orders_service", None),
        ({"database_schema": "billing"}, "orders_service", "DATABASE_SCHEMA=billing"),
        (
            {"project_name": "Große Überweisungs-Plattform für Kunden & Partner 2026"},
            "grosse_uberweisungs_plattform_fur_kunden_partner_2026",
            None,
        ),
        (  # the longest package name in every option that owns code
            {
                "project_name": "Große Überweisungs-Plattform für Kunden & Partner 2026",
                "tenancy": "schema-per-tenant",
                "session_scope": "task",
                "observability": "opentelemetry",
            },
            "grosse_uberweisungs_plattform_fur_kunden_partner_2026",
            None,
        ),
        (
            {"project_name": "Bob's API", "description": "Bob's service, it's ok"},
            "bob_s_api",
            None,
        ),
    ],
)
def test_edge_answers_render_cleanly(
    cookies, answers: dict[str, str], package: str, schema_line: str | None
) -> None:
    project = bake_ok(cookies, answers)
    assert (project / "src" / package / "main.py").is_file()
    assert template.project_files(project) == template.expected_files(answers, package)
    assert template.residue(project) == []
    env_example = (project / ".env.example").read_text()
    if schema_line:
        assert schema_line in env_example.splitlines()
    else:
        assert "DATABASE_SCHEMA" not in env_example
    lint = subprocess.run(
        [RUFF, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", "."], cwd=project, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_the_bake_prints_the_first_commands(cookies, capfd: pytest.CaptureFixture[str]) -> None:
    project = bake_ok(cookies, {"project_name": "Billing API"})
    printed = capfd.readouterr().out
    assert f"cd {project.name}" in printed
    commands = ("uv lock", "uv sync", "cp .env.example .env", "uv run alembic upgrade head")
    for command in (*commands, f"uv run {project.name} dev"):
        assert command in printed
        assert command in (project / "README.md").read_text()


def setting_names(project: Path) -> set[str]:
    """The environment variables of every settings class field, read from the source."""
    names = set()
    package = next((project / "src").iterdir())
    for path in [*(package / "config").glob("*.py"), package / "schema.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Settings"):
                names.update(
                    statement.target.id.upper()
                    for statement in node.body
                    if isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id != "model_config"
                )
    return names


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"database_schema": "app"},
        {"tenancy": "schema-per-tenant"},
        {"tenancy": "schema-per-tenant", "auth": "jwt"},
    ],
    ids=["default", "schema", "tenant", "tenant-jwt"],
)
def test_the_readme_table_lists_every_setting(cookies, answers: dict[str, str]) -> None:
    project = bake_ok(cookies, answers)
    readme = (project / "README.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, re.MULTILINE))
    settings = setting_names(project)
    assert len(settings) > 25
    assert settings - rows == set(), "settings missing from the README's table"
    assert rows - settings == set(), "README rows that are no setting"
