"""Schema-per-tenant: each request works in the schema of the tenant it names.

A request names its tenant in the ``X-Tenant`` header, which must be on the
``TENANTS`` allow-list: a missing or malformed header is a 400, an unknown
tenant a 404, and neither ever reaches a default schema.

Every transaction a session begins inside a tenant puts the tenant's schema
into every table name it sends: SQLAlchemy's ``schema_translate_map`` on the
session's connection, which costs no statement and stays on that connection
object alone, never on the pooled connection. A commit in the middle of a
request keeps the tenant: the next transaction gets it again.

Connections keep their empty ``search_path``, so SQL written by hand
(``text()``) sees no table at all inside or outside a tenant: name tables
through the models or Core ``Table`` objects.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated

from fastapi import Header, HTTPException, status
from sqlalchemy import Connection
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session, SessionTransaction

from {{ cookiecutter.package_name }}.db import SessionManager
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
        # Tables without a schema (every model's) are sent as "<schema>".<table>.
        connection.execution_options(schema_translate_map={None: schema})


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
