"""Tenant overrides of ``tests/fixtures.py``.

Tests work as tenant ``alpha`` unless a request names another in ``X-Tenant``;
``beta`` exists too, for the isolation tests.
"""

from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.tenancy import tenant_context
from tests.fixtures import make_test_settings, prepare_database

TENANT = "alpha"
OTHER_TENANT = "beta"


@pytest.fixture(scope="session")
async def settings() -> Settings:
    """Test settings serving two tenants, both migrated."""
    return await prepare_database(make_test_settings(tenants=[TENANT, OTHER_TENANT]))


@pytest.fixture(autouse=True)
def in_tenant() -> Iterator[str]:
    """Every test, and the app it calls in-process, works in ``alpha`` by default."""
    with tenant_context(TENANT) as tenant:
        yield tenant


@pytest.fixture
def client_headers() -> dict[str, str]:
    """Every test request names tenant ``alpha``."""
    return {"X-Tenant": TENANT}
