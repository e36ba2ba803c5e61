"""Every command of the command line, in one place."""

from {{ cookiecutter.package_name }}.cli import check_db

COMMANDS = (check_db.COMMAND,)
