"""``check-db``: can this service reach its database, how is it configured, does it fit?"""

import argparse
import sys

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.budget import (
    read_budget,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
)

QUERY = text(
    "SELECT current_setting('server_version') AS version, current_database() AS database,"
    " current_user AS user, current_schema() AS schema,"
    " current_setting('search_path') AS search_path"
)


async def check_db(manager: DatabaseSessionManager, _args: argparse.Namespace) -> int:
    """Connect and print the settings; exit 1 if unreachable, or over a strict budget."""
    url = manager.settings.database_url_object.render_as_string(hide_password=True)
    try:
        async with manager.session() as session:
            row = (await session.execute(QUERY)).one()
        budget = await read_budget(manager)
    except DatabaseUnavailableError as exc:
        print(f"cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as exc:
        print(f"cannot reach {url}: {describe(exc)}", file=sys.stderr)
        return 1
    pool = manager.engine.pool
    verdict = "fits" if budget.fits else "EXCEEDED"
    print(f"database:     {url}")
    print(f"server:       PostgreSQL {row.version}")
    print(f"connected as: {row.user} to {row.database}")
    print(f"schema:       {row.schema} (search_path: {row.search_path})")
    print(f"pool:         {pool.status()}")
    print(f"pooler:       {manager.settings.database_pooler}")
    print(f"budget:       {verdict}: {budget.describe()}")
    return 0 if budget.fits or not manager.settings.budget_is_strict else 1


COMMANDS = (Command(name="check-db", help="check that the database answers", job=check_db),)
