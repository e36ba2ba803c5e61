"""Entry point: ``python -m {{ cookiecutter.package_name }}.cli COMMAND``."""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.package_name }}.cli.commands import discover
from {{ cookiecutter.package_name }}.config import (
    Settings,
    get_settings,
)
from {{ cookiecutter.package_name }}.db import DatabaseSessionManager

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.cli.base import Command


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
        subparser.set_defaults(command_object=command)
    return parser


async def run(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Parse ``argv``, run the command with a fresh session manager, return the exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.command_object
    async with DatabaseSessionManager(settings or get_settings(), job=True) as manager:
        try:
            return await command.job(manager, args)
        except DBAPIError as exc:
            # The session rolled back: nothing of this command was written.
            print(f"{command.name} failed, nothing written: {exc.orig}", file=sys.stderr)
            return 1


def main() -> None:
    """Run the command line and exit with the command's exit code."""
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
