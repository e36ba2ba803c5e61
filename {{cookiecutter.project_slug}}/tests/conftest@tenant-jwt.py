"""Tenant and bearer-token overrides of ``tests/fixtures.py``.

An issuer runs on loopback for the whole run (``tests/issuer.py``). Two tenants
are served and migrated, ``alpha`` and ``beta``; a request's tenant is its
token's ``tenant`` claim (``alpha`` in the tokens of ``client_headers``). The
test's own ``session`` is bound to ``alpha``, jobs get ``--tenant alpha``, and
other code enters ``alpha`` with ``test_scope()``.
"""

from collections.abc import AsyncIterator, Callable, Iterator
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
from tests.issuer import Issuer, running_issuer

TENANT = "alpha"
OTHER_TENANT = "beta"


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    """The token issuer of the tests; its tokens name tenant ``alpha`` unless told otherwise."""
    with running_issuer({"tenant": TENANT}) as issuer:
        yield issuer


@pytest.fixture(scope="session")
async def settings(issuer: Issuer) -> Settings:
    """Test settings serving two tenants, both migrated, that accept the issuer's tokens."""
    return await prepare_database(
        make_test_settings(tenants=[TENANT, OTHER_TENANT], **issuer.settings())
    )


@pytest.fixture
async def session(
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for the test's own setup and checks, in tenant ``alpha``."""
    async with test_sessionmaker() as session:
        yield bind_to_tenant(session, TENANT)


@pytest.fixture
def client_headers(issuer: Issuer) -> dict[str, str]:
    """Every test request carries a valid token for tenant ``alpha``."""
    return issuer.bearer()


@pytest.fixture
def tenant_headers(issuer: Issuer) -> Callable[[str], dict[str, str]]:
    """The headers of a request for a given tenant: a token that names it."""
    return lambda tenant: issuer.bearer(tenant=tenant)


@pytest.fixture
def tenant_refusals(issuer: Issuer) -> list[tuple[dict[str, str], int]]:
    """Requests whose token names no tenant, a malformed one or an unknown one."""
    return [
        ({}, 401),
        (issuer.bearer(tenant=None), 401),
        (issuer.bearer(tenant="Alpha"), 401),
        (issuer.bearer(tenant=["alpha"]), 401),
        (issuer.bearer(tenant="gamma"), 403),
    ]


@pytest.fixture
def test_scope() -> Callable[[], AbstractContextManager[object]]:
    """``with test_scope():`` works in tenant ``alpha``."""
    return partial(tenant_context, TENANT)


@pytest.fixture
def scope_arguments() -> list[str]:
    """Jobs run for tenant ``alpha``."""
    return ["--tenant", TENANT]
