"""The command line's entry point.

``python -m {{ cookiecutter.package_name }}.cli COMMAND``
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.package_name }}.cli.base import (
    UsageError,
)
from {{ cookiecutter.package_name }}.cli.commands import (
    discover,
)
from {{ cookiecutter.package_name }}.cli.scope import (
    add_scope_arguments,
    command_scope,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
    settings_or_exit,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
)

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.cli.base import (
        Command,
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.cli",
        description="Jobs that use the service's database outside requests.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in discover():
        subparser = subcommands.add_parser(command.name, help=command.help)
        command.arguments(subparser)
        add_scope_arguments(subparser, command)
        subparser.set_defaults(command_object=command)
    return parser


async def run(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Parse ``argv``, run the command with a fresh session manager, return the exit code.

    A database that cannot be reached is one line on standard error (in
    production, the full error); a failed statement leaves nothing written.
    """
    args = build_parser().parse_args(argv)
    command: Command = args.command_object
    settings = settings or settings_or_exit()
    try:
        scope = command_scope(args, settings)
    except UsageError as exc:
        print(f"{command.name}: {exc}", file=sys.stderr)
        return 2
    async with DatabaseSessionManager(settings, job=True) as manager:
        try:
            with scope:
                return await command.job(manager, args)
        except DatabaseUnavailableError as exc:
            if settings.environment == "production":
                raise
            print(f"{command.name}: cannot reach the database: {exc}", file=sys.stderr)
            return 1
        except DBAPIError as exc:
            # The session rolled back: nothing of this command was written.
            print(f"{command.name} failed, nothing written: {describe(exc)}", file=sys.stderr)
            return 1


def main() -> None:
    """Run the command line and exit with the command's exit code."""
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
