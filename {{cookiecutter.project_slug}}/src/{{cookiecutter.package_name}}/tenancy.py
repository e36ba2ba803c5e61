"""Schema-per-tenant: each request works in the schema of the tenant it names.

A request names its tenant in the ``X-Tenant`` header, which must be on the
``TENANTS`` allow-list: a missing or malformed header is a 400, an unknown
tenant a 404, and neither ever reaches a default schema.

Every transaction a session begins inside a tenant first runs
``set_config('search_path', <tenant schema>, true)``. The setting is local to
the transaction: nothing stays on the pooled connection for its next user, and
a commit in the middle of a request does not lose the tenant, because the next
transaction sets it again.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

from fastapi import Header, HTTPException, status
from sqlalchemy import Connection
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session, SessionTransaction

from {{ cookiecutter.package_name }}.db import (
    SessionManager,
    set_local_search_path,
)
from {{ cookiecutter.package_name }}.schema import (
    tenant_schema,
    validate_tenant_id,
)

_current_schema: ContextVar[str | None] = ContextVar("tenant_schema", default=None)


@contextmanager
def tenant_context(tenant: str) -> Iterator[str]:
    """Work in ``tenant``'s schema until the block ends (requests, jobs, tests)."""
    token = _current_schema.set(tenant_schema(tenant))
    try:
        yield tenant
    finally:
        _current_schema.reset(token)


@listens_for(Session, "after_begin")
def _enter_tenant_schema(
    _session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    schema = _current_schema.get()
    if schema is not None:
        connection.execute(set_local_search_path(schema))


async def use_request_tenant(
    manager: SessionManager,
    x_tenant: Annotated[str | None, Header(description="The tenant to work in")] = None,
) -> AsyncIterator[str]:
    """Run the request in the tenant named by ``X-Tenant``."""
    if x_tenant is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="The X-Tenant header is required")
    try:
        tenant = validate_tenant_id(x_tenant)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"X-Tenant: {exc}") from None
    if tenant not in manager.settings.tenants:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Unknown tenant")
    with tenant_context(tenant):
        yield tenant
