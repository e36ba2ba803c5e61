"""Bearer-token overrides of ``tests/fixtures.py``.

An issuer runs on loopback for the whole run (``tests/issuer.py``); the app
under test verifies its tokens as it would an identity provider's, and every
request of ``client`` carries a valid one.
"""

from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.config import (
    Settings,
)

from tests.database import make_test_settings, prepare_database
from tests.issuer import Issuer, running_issuer


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    """The token issuer of the tests."""
    with running_issuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
async def settings(issuer: Issuer) -> Settings:
    """Test settings that accept the test issuer's tokens."""
    return await prepare_database(make_test_settings(**issuer.settings()))


@pytest.fixture
def client_headers(issuer: Issuer) -> dict[str, str]:
    """Every test request carries a valid token."""
    return issuer.bearer()
