"""Every command of the command line, in one place."""

from {{ cookiecutter.package_name }}.cli import check_db
from {{ cookiecutter.package_name }}.items import commands as items

COMMANDS = (check_db.COMMAND, items.SEED, items.PURGE)
