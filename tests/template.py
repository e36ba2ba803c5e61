"""What the template offers, read from its own files, and what each variant must contain."""

import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
MANIFEST_NAME = ".template-manifest.yaml"
PACKAGE_DIR = "{{cookiecutter.package_name}}"

# The answers every render test walks through; each option's full range.
OPTION_VALUES: dict[str, list[str]] = {
    "python_version": ["3.11", "3.12", "3.13"],
    "database_schema": ["", "app"],
    "include_example_api": ["y", "n"],
    "session_scope": ["request", "task"],
    "tenancy": ["single", "schema-per-tenant"],
    "ci": ["github", "gitlab", "none"],
    "observability": ["none", "opentelemetry"],
    "auth": ["none", "jwt"],
}


# The answers cookiecutter takes when none is given (a choice's first value).
_QUESTIONS = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
DEFAULT_ANSWERS: dict[str, str] = {
    option: value[0] if isinstance(value := _QUESTIONS[option], list) else value
    for option in OPTION_VALUES
}


def is_supported(answers: Mapping[str, str]) -> bool:
    """Whether the pre-generation hook accepts this combination."""
    return not (
        answers.get("tenancy") == "schema-per-tenant"
        and answers.get("database_schema", "") not in ("", "public")
    )


COMBINATIONS: list[dict[str, str]] = [
    dict(zip(OPTION_VALUES, values, strict=True))
    for values in itertools.product(*OPTION_VALUES.values())
]
ALL_VARIANTS = [answers for answers in COMBINATIONS if is_supported(answers)]
UNSUPPORTED = [answers for answers in COMBINATIONS if not is_supported(answers)]


def manifest() -> dict[str, Any]:
    """The template's manifest (parsed once per text: every render test reads it twice)."""
    return _parse_manifest((PROJECT_TEMPLATE / MANIFEST_NAME).read_text(encoding="utf-8"))


@functools.cache
def _parse_manifest(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


def schema_mode(answers: Mapping[str, str]) -> str:
    """``__schema_mode`` as cookiecutter.json derives it."""
    if answers.get("tenancy") == "schema-per-tenant":
        return "tenant"
    return "default" if answers.get("database_schema", "") in ("", "public") else "custom"


def access_mode(answers: Mapping[str, str]) -> str:
    """``__access`` as cookiecutter.json derives it: tenancy, and ``-jwt`` with tokens."""
    tenancy = "tenant" if answers.get("tenancy") == "schema-per-tenant" else "single"
    return f"{tenancy}-jwt" if answers.get("auth") == "jwt" else tenancy


def chosen_keys(answers: Mapping[str, str]) -> dict[str, str]:
    """The manifest key each option selects (defaults as in cookiecutter.json)."""
    return {
        "include_example_api": answers.get("include_example_api", "y"),
        "session_scope": answers.get("session_scope", "request"),
        "tenancy": answers.get("tenancy", "single"),
        "__schema_mode": schema_mode(answers),
        "ci": answers.get("ci", "github"),
        "observability": answers.get("observability", "none"),
        "auth": answers.get("auth", "none"),
        "__access": access_mode(answers),
    }


def parse_entry(entry: str) -> tuple[str, str | None]:
    """Split a manifest entry into (path, destination)."""
    source, _, destination = (part.strip() for part in entry.partition("->"))
    return source, destination or None


def template_files() -> list[str]:
    """Every file of the project template, as manifest paths ({package} for the package)."""
    files = []
    for path in PROJECT_TEMPLATE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(PROJECT_TEMPLATE).as_posix()
            files.append(relative.replace(PACKAGE_DIR, "{package}"))
    return sorted(f for f in files if f != MANIFEST_NAME)


def _expand(entry_path: str, files: list[str]) -> list[str]:
    if entry_path.endswith("/"):
        return [f for f in files if f.startswith(entry_path)]
    return [entry_path] if entry_path in files else []


def owned_entries() -> Iterator[tuple[str, str, str]]:
    """(option, key, entry) for every manifest entry."""
    for option, keys in manifest()["options"].items():
        for key, entries in keys.items():
            for entry in entries:
                yield option, key, entry


def expected_files(answers: Mapping[str, str], package: str) -> set[str]:
    """The exact set of files a project generated with ``answers`` must have.

    Every template file, less what unchosen answers own, with chosen
    alternatives moved into place unless another option removed them.
    """
    files = template_files()
    chosen = chosen_keys(answers)
    expected = set(files)
    for option, key, entry in owned_entries():
        if key != chosen[option]:
            expected -= set(_expand(parse_entry(entry)[0], files))
    for option, key, entry in owned_entries():
        source, destination = parse_entry(entry)
        if key == chosen[option] and destination and source in expected:
            expected.remove(source)
            expected.add(destination)
    return {path.replace("{package}", package) for path in expected}


def unlisted_template_files() -> list[str]:
    """Template files the manifest does not mention (must be none)."""
    files = template_files()
    listed = set(manifest()["common"])
    for _, _, entry in owned_entries():
        listed.update(_expand(parse_entry(entry)[0], files))
    return [f for f in files if f not in listed]


def missing_manifest_paths() -> list[str]:
    """Manifest paths that name no template file (must be none)."""
    files = template_files()
    paths = list(manifest()["common"]) + [parse_entry(e)[0] for _, _, e in owned_entries()]
    return [p for p in paths if not _expand(p, files)]


RESIDUE = re.compile(r"\{\{|\{%|cookiecutter\.")


def residue(project: Path) -> list[str]:
    """Lines of ``project`` that still hold template syntax."""
    found = []
    for path in sorted(project.rglob("*")):
        if not path.is_file() or ".venv" in path.parts:
            continue
        if RESIDUE.search(path.name):
            found.append(f"{path}: file name")
        text = path.read_text(encoding="utf-8", errors="replace")
        if not RESIDUE.search(text):  # the common case: one search, not one a line
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if RESIDUE.search(line):
                found.append(f"{path.relative_to(project)}:{number}: {line.strip()}")
    return found


def project_files(project: Path) -> set[str]:
    """Every file of a generated project, relative to its root."""
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and ".venv" not in p.parts and "__pycache__" not in p.parts
    }


# The generated README is an index: what the service is, set-up, run, test, the
# settings, deploy in brief, the layout, and links to docs/ for every deep topic.
README_MAX_LINES = 250
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def broken_links(project: Path) -> list[str]:
    """Relative links of the README and docs/ pages that name no file of the project."""
    broken = []
    for page in [project / "README.md", *sorted((project / "docs").glob("*.md"))]:
        for target in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(project)} -> {target}")
    return broken
