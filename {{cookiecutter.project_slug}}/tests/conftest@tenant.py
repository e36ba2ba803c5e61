"""Tenant overrides of ``tests/fixtures.py``.

Two tenants are served and migrated, ``alpha`` and ``beta``. Nothing sets a
tenant for a whole test: requests name theirs in ``X-Tenant`` (``alpha``, from
``client_headers``), the test's own ``session`` is bound to ``alpha``, jobs get
``--tenant alpha`` (``scope_arguments``), and other code enters ``alpha`` with
``test_scope()``. So a router mounted without the
tenant dependency finds no table, and fails its tests as it would in production.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from functools import partial

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.tenancy import (
    bind_to_tenant,
    tenant_context,
)

from tests.database import make_test_settings, prepare_database

TENANT = "alpha"
OTHER_TENANT = "beta"
# Headers that name a tenant, and the answer each must get.
TENANT_REFUSALS = [
    ({}, 422),
    ({"X-Tenant": "Alpha"}, 422),
    ({"X-Tenant": "alpha'; drop schema public; --"}, 422),
    ({"X-Tenant": ""}, 422),
    ({"X-Tenant": "gamma"}, 404),
]


@pytest.fixture(scope="session")
async def settings(
    *,
    embedded_test_database: bool,  # noqa: ARG001 - it sets TEST_DATABASE_URL
) -> Settings:
    """Test settings serving two tenants, both migrated."""
    return await prepare_database(make_test_settings(tenants=[TENANT, OTHER_TENANT]))


@pytest.fixture
async def session(
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for the test's own setup and checks, in tenant ``alpha``."""
    async with test_sessionmaker() as session:
        yield bind_to_tenant(session, TENANT)


@pytest.fixture
def client_headers() -> dict[str, str]:
    """Every test request names tenant ``alpha``."""
    return {"X-Tenant": TENANT}


@pytest.fixture
def tenant_headers() -> Callable[[str], dict[str, str]]:
    """The headers of a request for a given tenant."""
    return lambda tenant: {"X-Tenant": tenant}


@pytest.fixture
def tenant_refusals() -> list[tuple[dict[str, str], int]]:
    """Requests whose tenant is missing, malformed or unknown, and their answers."""
    return TENANT_REFUSALS


@pytest.fixture
def test_scope() -> Callable[[], AbstractContextManager[object]]:
    """``with test_scope():`` works in tenant ``alpha``."""
    return partial(tenant_context, TENANT)


@pytest.fixture
def scope_arguments() -> list[str]:
    """Jobs run for tenant ``alpha``."""
    return ["--tenant", TENANT]
