"""Every command of the command line.

Each public module of this package may define ``COMMANDS``, a sequence of
``Command``: add a module to add commands.
"""

import importlib
import pkgutil

from {{ cookiecutter.package_name }} import (
    cli,
)
from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)


def discover() -> list[Command]:
    """The commands of every public module in this package, sorted by name."""
    commands: list[Command] = []
    for module in pkgutil.iter_modules(cli.__path__):
        if not module.name.startswith("_"):
            imported = importlib.import_module(f"{cli.__name__}.{module.name}")
            commands.extend(getattr(imported, "COMMANDS", ()))
    return sorted(commands, key=lambda command: command.name)
