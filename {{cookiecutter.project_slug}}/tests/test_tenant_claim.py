"""With bearer tokens, a request's tenant is its token's claim; ``X-Tenant`` is never read."""

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.schema import CreateTable, DropTable

from {{ cookiecutter.package_name }} import (
    api,
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
from {{ cookiecutter.package_name }}.tenancy import (
    tenant_context,
)

from tests.conftest import OTHER_TENANT, TENANT
from tests.issuer import Issuer

owner = Table("tenant_claim_probe", MetaData(), Column("tenant", String))


@pytest.fixture(scope="module")
async def owner_rows(sessionmanager: DatabaseSessionManager) -> AsyncIterator[None]:
    """In each tenant's schema, one row naming that tenant."""
    for tenant in (TENANT, OTHER_TENANT):
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                await session.execute(CreateTable(owner, if_not_exists=True))
                await session.execute(owner.insert().values(tenant=tenant))
                await session.commit()
    yield
    for tenant in (TENANT, OTHER_TENANT):
        with tenant_context(tenant):
            async with sessionmanager.session() as session:
                await session.execute(DropTable(owner, if_exists=True))
                await session.commit()


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The real app with ``/api/owner``, which reads the rows of the request's tenant."""
    router = APIRouter()

    @router.get("/owner")
    async def read_owner(session: DbSession) -> list[str]:
        return list(await session.scalars(select(owner.c.tenant)))

    app = create_app(settings)
    app.include_router(router, prefix=api.PREFIX, dependencies=api.DEPENDENCIES)
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.usefixtures("owner_rows")
async def test_the_token_names_the_tenant_whatever_x_tenant_says(
    app_client: AsyncClient, issuer: Issuer
) -> None:
    for token_tenant, header_tenant in [(TENANT, OTHER_TENANT), (OTHER_TENANT, TENANT)]:
        headers = {**issuer.bearer(tenant=token_tenant), "X-Tenant": header_tenant}
        response = await app_client.get("/api/owner", headers=headers)
        assert response.json() == [token_tenant]


async def test_the_openapi_document_asks_for_no_x_tenant(app_client: AsyncClient) -> None:
    spec = (await app_client.get("/openapi.json")).json()
    parameters = [
        parameter["name"]
        for methods in spec["paths"].values()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
    ]
    assert "X-Tenant" not in parameters
