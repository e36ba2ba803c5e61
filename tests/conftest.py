"""Fixtures shared by the template's tests."""

from collections.abc import Iterator

import pytest

from tests import postgres, template
from tests.template import ROOT


def pytest_configure(config: pytest.Config) -> None:
    """Render this template whatever directory pytest was started from."""
    config.option.template = str(ROOT)


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL (maintenance database) of the PostgreSQL server the tests use."""
    try:
        url, server = postgres.find_server(tmp_path_factory.mktemp("postgres"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield url
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def fresh_database(pg_admin_url: str) -> Iterator[str]:
    """The name of a new, empty database, dropped after the test."""
    name = postgres.create_database(pg_admin_url)
    yield name
    postgres.drop_database(pg_admin_url, name)


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest):
    """Record a measured figure; all of them are printed at the end of the run."""

    def record(text: str) -> None:
        request.config.stash.setdefault(FIGURES, []).append(f"{request.node.name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Print the figures the tests measured."""
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def install_variant(tmp_path_factory: pytest.TempPathFactory):
    """Bake and ``uv sync`` a variant once per run; the same answers give the same project."""
    from tests.faults.service import InstalledVariant

    installed: dict[tuple[tuple[str, str], ...], InstalledVariant] = {}

    def install(answers: dict[str, str]) -> InstalledVariant:
        # Answers left out are the defaults: {} and the defaults spelt out are one project.
        key = tuple(sorted({**template.DEFAULT_ANSWERS, **answers}.items()))
        if key not in installed:
            output = tmp_path_factory.mktemp("variant")
            installed[key] = InstalledVariant.install(answers, output)
        return installed[key]

    return install
