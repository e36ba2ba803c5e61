"""Bad answers are refused with a reason naming the field, and leave nothing on disk."""

import ast
import sys

import pytest
from cookiecutter.exceptions import FailedHookException

BAD_ANSWERS: list[tuple[str, str]] = [
    ("project_name", ""),
    ("project_name", "Line\nbreak"),
    ("project_name", 'Say "hi"'),
    ("project_name", "x" * 61),
    ("description", "Back\\slash"),
    ("author_email", "not-an-email"),
    ("project_slug", "Bad Slug"),
    ("project_slug", "9lives"),
    ("project_slug", "trailing-"),
    ("project_slug", "double..dot"),
    ("package_name", "class"),
    ("package_name", "match"),
    ("package_name", "my-service"),
    ("package_name", "1service"),
    ("package_name", "json"),
    ("package_name", "sqlalchemy"),
    ("package_name", "Ünicode"),
    ("database_schema", "app; drop schema public"),
    ("database_schema", 'app"; drop schema public; --'),
    ("database_schema", "app'"),
    ("database_schema", "App"),
    ("database_schema", "1app"),
    ("database_schema", "my schema"),
    ("database_schema", "schéma"),
    ("database_schema", "a" * 64),
    ("database_schema", "pg_catalog"),
    ("database_schema", "pg_toast"),
    ("database_schema", "information_schema"),
    ("include_example_api", "maybe"),
    ("python_version", "3.9"),
    ("session_scope", "thread"),
    ("tenancy", "database-per-tenant"),
    ("ci", "jenkins"),
    ("observability", "datadog"),
    ("auth", "basic"),
]

# Answers that are valid alone but not together, and the field the refusal names.
BAD_COMBINATIONS: list[tuple[dict[str, str], str]] = [
    ({"tenancy": "schema-per-tenant", "database_schema": "app"}, "tenancy"),
    (
        {"tenancy": "schema-per-tenant", "database_schema": "billing", "session_scope": "task"},
        "tenancy",
    ),
]


def test_the_refusal_list_is_broad(figure) -> None:
    figure(f"{len(BAD_ANSWERS) + len(BAD_COMBINATIONS)} bad answers tried")
    assert len(BAD_ANSWERS) >= 20
    assert {field for field, _ in BAD_ANSWERS} >= {
        "project_slug",
        "package_name",
        "database_schema",
    }


@pytest.mark.parametrize(("field", "value"), BAD_ANSWERS, ids=lambda v: repr(v)[:30])
def test_bad_answer_is_refused_and_nothing_is_written(
    cookies, capfd: pytest.CaptureFixture[str], tmp_path, field: str, value: str
) -> None:
    result = cookies.bake(extra_context={field: value})

    assert result.exit_code != 0
    assert result.exception is not None
    assert [p for p in (tmp_path / "cookies").rglob("*") if not p.is_dir()] == []
    if isinstance(result.exception, FailedHookException):
        assert f"ERROR: {field}:" in capfd.readouterr().err
    else:
        # Cookiecutter itself refuses a value outside a choice list.
        assert isinstance(result.exception, ValueError)
        assert field in str(result.exception)


@pytest.mark.parametrize(("answers", "field"), BAD_COMBINATIONS)
def test_unsupported_combination_is_refused(
    cookies, capfd: pytest.CaptureFixture[str], tmp_path, answers: dict[str, str], field: str
) -> None:
    result = cookies.bake(extra_context=answers)

    assert isinstance(result.exception, FailedHookException)
    assert f"ERROR: {field}: schema-per-tenant" in capfd.readouterr().err
    assert [p for p in (tmp_path / "cookies").rglob("*") if not p.is_dir()] == []


@pytest.mark.parametrize(
    ("answers", "package"),
    [
        ({"database_schema": "public"}, "orders_service"),
        ({"database_schema": "app_2"}, "orders_service"),
        ({"project_name": "My Service", "package_name": "svc"}, "svc"),
    ],
)
def test_good_answers_are_accepted(cookies, answers: dict[str, str], package: str) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None
    assert (result.project_path / "src" / package).is_dir()


def imported_modules(project) -> set[str]:
    """The top-level modules a project's Python files import, but its own and the stdlib's."""
    found: set[str] = set()
    for path in project.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.partition(".")[0])
    return found - set(sys.stdlib_module_names) - {project.name.replace("-", "_")}


def test_no_package_name_shadows_what_the_project_imports(
    cookies, capfd: pytest.CaptureFixture[str]
) -> None:
    every_option = {
        "tenancy": "schema-per-tenant",
        "session_scope": "task",
        "observability": "opentelemetry",
        "auth": "jwt",
    }
    project = cookies.bake(extra_context=every_option).project_path
    modules = imported_modules(project) | {"migrations", "mypy", "ruff", "pre_commit"}
    assert {"fastapi", "sqlalchemy", "opentelemetry", "tests"} <= modules
    accepted = []
    for module in sorted(modules):
        result = cookies.bake(extra_context={**every_option, "package_name": module})
        if result.exit_code == 0 or "would shadow" not in capfd.readouterr().err:
            accepted.append(module)
    assert accepted == []
