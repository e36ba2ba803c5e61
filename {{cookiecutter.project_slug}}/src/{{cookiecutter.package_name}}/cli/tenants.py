"""``create-tenant``: create a tenant's schema and migrate it to the latest revision."""

import argparse
import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.schema import (
    tenant_schema,
    validate_tenant_id,
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tenant", help="tenant id: lowercase letters, digits and '_'")
    parser.add_argument(
        "--alembic-config", type=Path, default=Path("alembic.ini"), help="path to alembic.ini"
    )


async def create_tenant(manager: DatabaseSessionManager, args: argparse.Namespace) -> int:
    """Create (or bring up to date) the schema of one tenant."""
    try:
        tenant = validate_tenant_id(args.tenant)
    except ValueError as exc:
        print(f"create-tenant: {exc}", file=sys.stderr)
        return 2
    config = Config(args.alembic_config)
    config.attributes["settings"] = manager.settings
    config.attributes["tenant"] = tenant
    # Alembic's env.py runs its own event loop: give it a thread.
    await asyncio.to_thread(command.upgrade, config, "head")
    print(f"tenant {tenant}: schema {tenant_schema(tenant)} is migrated")
    if tenant not in manager.settings.tenants:
        print(f"add {tenant} to TENANTS to serve its requests")
    return 0


COMMANDS = (
    Command(
        name="create-tenant",
        help="create and migrate a tenant's schema",
        job=create_tenant,
        arguments=_arguments,
    ),
)
