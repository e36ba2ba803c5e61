"""A program the tests need is a skip with its install line locally, a failure in CI."""

import re

import pytest

from tests.prerequisites import PROGRAMS, Program, require
from tests.template import ROOT


@pytest.fixture
def absent(monkeypatch: pytest.MonkeyPatch) -> str:
    """A program that no machine has."""
    program = Program("this test", lambda: None, "apt-get install no-such-program")
    monkeypatch.setitem(PROGRAMS, "no-such-program", program)
    return "no-such-program"


def outcome(name: str) -> BaseException:
    """What ``require(name)`` raised: a skip or a failure (either is an outcome)."""
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception)) as raised:
        require(name)
    return raised.value


def test_a_missing_program_skips_with_the_line_that_installs_it(
    absent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    raised = outcome(absent)
    assert isinstance(raised, pytest.skip.Exception), raised
    assert "install it with: apt-get install no-such-program" in str(raised)


def test_under_ci_a_missing_program_fails_the_test(
    absent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    raised = outcome(absent)
    assert isinstance(raised, pytest.fail.Exception), raised
    assert "CI=true: nothing is skipped" in str(raised)


def test_ci_installs_every_program_the_tests_require() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    installed = set(re.findall(r"apt-get install -y -q ([\w .-]+)", script))
    packages = {word for line in installed for word in line.split()}
    for name, program in PROGRAMS.items():
        wanted = set(program.install.removeprefix("apt-get install ").split())
        assert wanted <= packages, f"{name}: .ci/run does not install {wanted - packages}"
