"""Schema-per-tenant: each request works only in its tenant's schema.

These tests use the real app and real sessions (no test transaction), a small
pool so that connections are reused across tenants, and a probe table created
in each tenant's schema for the duration of the module.
"""

import argparse
import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.schema import CreateTable, DropSchema, DropTable

from {{ cookiecutter.package_name }} import (
    api,
)
from {{ cookiecutter.package_name }}.cli.__main__ import (
    run,
)
from {{ cookiecutter.package_name }}.cli.base import (
    Command,
    UsageError,
)
from {{ cookiecutter.package_name }}.cli.scope import (
    add_scope_arguments,
    command_scope,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)
from {{ cookiecutter.package_name }}.schema import (
    tenant_schema,
)
from {{ cookiecutter.package_name }}.tenancy import (
    TenantSwitchError,
    tenant_context,
)

from tests.conftest import OTHER_TENANT, TENANT

TENANTS = (TENANT, OTHER_TENANT)
# The headers of a request for a tenant (tests/conftest.py: the header, or a token).
TenantHeaders = Callable[[str], dict[str, str]]
probe = Table("tenancy_probe", MetaData(), Column("id", Integer), Column("tenant", String))


@pytest.fixture(scope="module")
async def probe_tables(
    sessionmanager: DatabaseSessionManager,
) -> AsyncIterator[None]:
    """The probe table in each tenant's schema, dropped afterwards."""
    for tenant in TENANTS:
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                await session.execute(CreateTable(probe, if_not_exists=True))
                await session.commit()
    yield
    for tenant in TENANTS:
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                await session.execute(DropTable(probe, if_exists=True))
                await session.commit()


def probe_router() -> APIRouter:
    """Routes that write twice, committing in between, and read back what they wrote."""
    router = APIRouter()

    @router.get("/probe/search-path")
    async def search_path(session: DbSession) -> str:
        return str(await session.scalar(text("SHOW search_path")))

    @router.get("/probe/count")
    async def count_rows(session: DbSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(probe)) or 0)

    @router.post("/probe/{tenant}/{number}")
    async def write_twice(tenant: str, number: int, session: DbSession) -> dict[str, Any]:
        await session.execute(probe.insert().values(id=number, tenant=tenant))
        await session.commit()
        await asyncio.sleep(0)  # let other requests interleave
        await session.execute(probe.insert().values(id=-number, tenant=tenant))
        await session.commit()
        written = select(probe.c.tenant).where(probe.c.id.in_([number, -number]))
        return {"tenants": list(await session.scalars(written))}

    return router


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The real app on a pool of two connections, with the probe routes under /api."""
    # Two connections, so that tenants share them; a long pool timeout, so that 200
    # queued requests on a slow machine wait for them rather than answer 503.
    small_pool = settings.model_copy(
        update={"database_pool_size": 2, "database_max_overflow": 0, "database_pool_timeout": 60}
    )
    app = create_app(small_pool)
    app.include_router(probe_router(), prefix=api.PREFIX, dependencies=api.DEPENDENCIES)
    # The same routes mounted as a mistake would mount them: without the tenant dependency.
    app.include_router(probe_router(), prefix="/unscoped")
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.usefixtures("probe_tables")
async def test_concurrent_writes_stay_in_their_tenant(
    app_client: AsyncClient, sessionmanager: DatabaseSessionManager, tenant_headers: TenantHeaders
) -> None:
    requests = [(TENANTS[n % 2], n) for n in range(1, 201)]
    headers = {tenant: tenant_headers(tenant) for tenant in TENANTS}

    async def write(tenant: str, number: int) -> dict[str, Any]:
        response = await app_client.post(f"/api/probe/{tenant}/{number}", headers=headers[tenant])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    answers = await asyncio.gather(*(write(tenant, number) for tenant, number in requests))

    assert [a["tenants"] for a in answers] == [[t, t] for t, _ in requests]
    for tenant in TENANTS:
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                rows = (await session.execute(select(probe.c.tenant, probe.c.id))).all()
        assert {row.tenant for row in rows} == {tenant}
        expected = {n for t, n in requests if t == tenant}
        assert {row.id for row in rows} == expected | {-n for n in expected}


async def test_missing_malformed_or_unknown_tenant_is_refused(
    app_client: AsyncClient, tenant_refusals: list[tuple[dict[str, str], int]]
) -> None:
    for headers, status in tenant_refusals:
        response = await app_client.post("/api/probe/x/1", headers=headers)
        assert response.status_code == status, headers
        assert "detail" in response.json()


@pytest.mark.usefixtures("probe_tables")
async def test_a_router_mounted_without_the_tenant_dependency_reaches_no_table(
    app_client: AsyncClient, tenant_headers: TenantHeaders
) -> None:
    """Such a router fails every test that uses it, as it would fail in production."""
    headers = tenant_headers(TENANT)
    assert (await app_client.get("/api/probe/count", headers=headers)).is_success
    unscoped = await app_client.get("/unscoped/probe/count", headers=headers)
    assert unscoped.status_code == 500


async def test_the_tenant_variable_of_old_jobs_has_no_effect_on_the_app(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tenant_headers: TenantHeaders
) -> None:
    """``TENANT`` in a shared ``.env`` never puts the web app's connections in a schema."""
    monkeypatch.setenv("TENANT", TENANT)
    app = create_app(settings.model_copy())
    app.include_router(probe_router(), prefix=api.PREFIX, dependencies=api.DEPENDENCIES)
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        path = await client.get("/api/probe/search-path", headers=tenant_headers(OTHER_TENANT))
    assert path.json() == ""


@pytest.mark.usefixtures("probe_tables")
async def test_in_a_tenant_only_tables_named_through_sqlalchemy_are_reached(
    sessionmanager: DatabaseSessionManager,
) -> None:
    """The tenant's schema goes into table objects' names; hand-written SQL sees no table."""
    with tenant_context(TENANT):
        async with sessionmanager.session() as session:
            rows = await session.scalar(select(func.count()).select_from(probe))
            assert isinstance(rows, int)
            with pytest.raises(ProgrammingError, match="does not exist"):
                await session.execute(text("SELECT count(*) FROM tenancy_probe"))


async def test_outside_a_tenant_no_schema_is_reachable(
    sessionmanager: DatabaseSessionManager,
) -> None:
    async def current_schema() -> str | None:
        async with sessionmanager.session() as session:
            schema: str | None = await session.scalar(text("SELECT current_schema()"))
        return schema

    # A task with an empty context runs outside every tenant.
    outside = asyncio.create_task(current_schema(), context=contextvars.Context())
    assert await outside is None


@pytest.mark.usefixtures("probe_tables")
async def test_switching_tenant_inside_an_open_session_raises_and_writes_nothing(
    sessionmanager: DatabaseSessionManager,
) -> None:
    marker = -uuid.uuid4().int % 1_000_000 - 1
    with tenant_context(TENANT):
        async with sessionmanager.session() as session:
            await session.execute(probe.insert().values(id=marker, tenant=TENANT))
            with (
                pytest.raises(TenantSwitchError, match="open a new session"),
                tenant_context(OTHER_TENANT),
            ):
                await session.execute(probe.insert().values(id=marker, tenant=OTHER_TENANT))
            await session.rollback()
    for tenant in TENANTS:
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                query = select(func.count()).select_from(probe).where(probe.c.id == marker)
                assert await session.scalar(query) == 0


@pytest.mark.usefixtures("probe_tables")
async def test_a_session_cannot_carry_one_tenants_objects_into_another(
    sessionmanager: DatabaseSessionManager,
) -> None:
    """Reused across tenants, a session's identity map would hand back the first one's rows."""
    async with sessionmanager.session() as session:
        with tenant_context(TENANT):
            await session.execute(select(func.count()).select_from(probe))
            await session.commit()
        with pytest.raises(TenantSwitchError), tenant_context(OTHER_TENANT):
            pass


@pytest.mark.usefixtures("probe_tables")
async def test_a_session_opened_inside_another_does_not_hide_it(
    sessionmanager: DatabaseSessionManager,
) -> None:
    with tenant_context(TENANT):
        async with sessionmanager.session() as outer:
            await outer.execute(select(func.count()).select_from(probe))
            async with sessionmanager.read_session():
                with pytest.raises(TenantSwitchError), tenant_context(OTHER_TENANT):
                    pass


def test_jobs_name_their_tenant_and_it_must_be_served(settings: Settings) -> None:
    async def job(_manager: DatabaseSessionManager, _args: argparse.Namespace) -> int:
        return 0

    parser = argparse.ArgumentParser()
    add_scope_arguments(parser, Command("job", "a job", job, per_tenant=True))
    with pytest.raises(SystemExit):
        parser.parse_args([])
    with pytest.raises(UsageError, match="not one of TENANTS"):
        command_scope(parser.parse_args(["--tenant", "gamma"]), settings)
    with command_scope(parser.parse_args(["--tenant", TENANT]), settings):
        pass


async def test_create_tenant_creates_and_migrates_its_schema(
    settings: Settings, sessionmanager: DatabaseSessionManager
) -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    try:
        assert await run(["create-tenant", tenant], settings) == 0
        async with sessionmanager.session() as session:
            version_table = await session.scalar(
                text("SELECT to_regclass(:name)"),
                {"name": f"{tenant_schema(tenant)}.alembic_version"},
            )
        assert version_table is not None
    finally:
        async with sessionmanager.session() as session:
            await session.execute(DropSchema(tenant_schema(tenant), cascade=True, if_exists=True))
            await session.commit()


async def test_create_tenant_refuses_a_malformed_id(settings: Settings) -> None:
    assert await run(["create-tenant", "Bad-Tenant"], settings) == 2
