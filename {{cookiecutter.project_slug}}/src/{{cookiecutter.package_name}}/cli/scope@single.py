"""Where a command works: this service has one set of tables, so nothing to choose."""

import argparse
from contextlib import AbstractContextManager, nullcontext

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)


def add_scope_arguments(_parser: argparse.ArgumentParser, _command: Command) -> None:
    """No arguments: every command works on the one set of tables."""


def command_scope(
    _args: argparse.Namespace, _settings: Settings
) -> AbstractContextManager[object]:
    """Nothing to enter."""
    return nullcontext()
