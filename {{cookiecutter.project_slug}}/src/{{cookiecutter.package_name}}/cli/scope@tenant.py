"""Where a command works: ``--tenant ID`` for the commands that work in one tenant."""

import argparse
from contextlib import AbstractContextManager, nullcontext

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
    UsageError,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.schema import (
    validate_tenant_id,
)
from {{ cookiecutter.package_name }}.tenancy import (
    tenant_context,
)


def add_scope_arguments(parser: argparse.ArgumentParser, command: Command) -> None:
    """``--tenant`` (required) for a command that works in one tenant's tables."""
    if command.per_tenant:
        parser.add_argument(
            "--tenant",
            dest="scope_tenant",
            required=True,
            type=validate_tenant_id,
            help="the tenant to work in",
        )


def command_scope(args: argparse.Namespace, settings: Settings) -> AbstractContextManager[object]:
    """The tenant of ``--tenant``, which must be one this service serves (``TENANTS``)."""
    tenant: str | None = getattr(args, "scope_tenant", None)
    if tenant is None:
        return nullcontext()
    if tenant not in settings.tenants:
        msg = f"--tenant {tenant}: not one of TENANTS ({', '.join(settings.tenants) or 'none'})"
        raise UsageError(msg)
    return tenant_context(tenant)
