"""Schema-per-tenant: each request works in the schema of the tenant it names.

A request names its tenant (``api.py``), which must be on the ``TENANTS``
allow-list, and never reaches a default schema. With bearer tokens
(``auth=jwt``) the tenant is the token's claim. Without them it is the
``X-Tenant`` header, trusted as sent: anyone who can reach the service reads
any tenant's rows by changing one header, so the service must sit behind a
gateway the team controls that sets the header from the caller's identity,
never one that passes a client's header through.

Every transaction puts the session's tenant schema into every table name it
sends: SQLAlchemy's ``schema_translate_map`` on the session's connection,
which costs no statement and stays on that connection object alone, never on
the pooled connection. A commit in the middle of a request keeps the tenant.

A session belongs to one tenant: the one it first works in (or is bound to
with ``bind_to_tenant``). Entering ``tenant_context`` for another tenant while
such a session is open, or using the session under another tenant, raises
``TenantSwitchError``: otherwise its open transaction would keep writing to
the first tenant, and its identity map would hand back the first tenant's
objects. Open a new session inside the new tenant instead.

Connections keep an empty ``search_path``, so SQL written by hand (``text()``)
sees no table at all inside or outside a tenant: name tables through the
models or Core ``Table`` objects.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection
from sqlalchemy.event import listens_for
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from {{ cookiecutter.package_name }}.db.manager import (
    OPEN_SESSIONS,
)
from {{ cookiecutter.package_name }}.schema import (
    tenant_schema,
)

_current_schema: ContextVar[str | None] = ContextVar("tenant_schema", default=None)
BOUND_SCHEMA = "tenant_schema"


class TenantSwitchError(RuntimeError):
    """A session of one tenant was about to work in another."""


def _refuse_switch(bound: str, wanted: str) -> TenantSwitchError:
    return TenantSwitchError(
        f"this session works in {bound}; it cannot work in {wanted} too:"
        " close it (commit or roll back first) and open a new session in the new tenant"
    )


@contextmanager
def tenant_context(tenant: str) -> Iterator[str]:
    """Work in ``tenant``'s schema until the block ends (requests, jobs, tests)."""
    schema = tenant_schema(tenant)
    for session in OPEN_SESSIONS.get():
        bound = session.info.get(BOUND_SCHEMA)
        if bound is not None and bound != schema:
            raise _refuse_switch(bound, schema)
    token = _current_schema.set(schema)
    try:
        yield tenant
    finally:
        _current_schema.reset(token)


def bind_to_tenant(session: AsyncSession, tenant: str) -> AsyncSession:
    """Make ``session`` work in ``tenant``, whatever ``tenant_context`` says (tests, jobs)."""
    schema = tenant_schema(tenant)
    bound = session.info.setdefault(BOUND_SCHEMA, schema)
    if bound != schema:
        raise _refuse_switch(bound, schema)
    return session


@listens_for(Session, "after_begin")
def _enter_tenant_schema(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    current = _current_schema.get()
    bound = session.info.get(BOUND_SCHEMA)
    if bound is not None and current is not None and bound != current:
        raise _refuse_switch(bound, current)
    schema = bound or current
    if schema is not None:
        session.info[BOUND_SCHEMA] = schema
    # Tables without a schema (every model's) are sent as "<schema>".<table>; outside
    # a tenant, as they are (no table is on the empty search_path).
    connection.execution_options(schema_translate_map={None: schema} if schema else None)


@listens_for(Session, "before_flush")
def _flush_in_own_tenant(session: Session, *_: object) -> None:
    current = _current_schema.get()
    bound = session.info.get(BOUND_SCHEMA)
    if bound is not None and current is not None and bound != current:
        raise _refuse_switch(bound, current)
