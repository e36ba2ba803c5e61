"""What a command is."""

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)

Job = Callable[[DatabaseSessionManager, argparse.Namespace], Awaitable[int]]


def no_arguments(_parser: argparse.ArgumentParser) -> None:
    """For commands that take no arguments."""


class UsageError(ValueError):
    """The command line asks for something this service cannot do; one line says what."""


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, one-line help, arguments and the job it runs.

    The job returns the process exit code. A ``per_tenant`` command works in
    one tenant's tables: with schema-per-tenant, it takes ``--tenant``.
    """

    name: str
    help: str
    job: Job
    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    per_tenant: bool = False
