"""Fixtures: a migrated test database, and per-test isolation by rollback.

Loaded as a pytest plugin (``-p tests.fixtures`` in pyproject.toml), so a
``conftest.py`` can override any of them.

The tests use ``TEST_DATABASE_URL`` if it is set, else the configured database
with ``_test`` appended to its name. That database is created if missing and
migrated with the project's own Alembic migrations once per run. On a machine
where neither is configured and nothing answers at the default address, in
development, the run uses the embedded PostgreSQL of ``devdb.py``.

Each test runs inside one outer transaction that is rolled back at the end.
Sessions join it with ``join_transaction_mode="create_savepoint"``: an
application ``commit()`` or ``rollback()`` only ends a SAVEPOINT, so a test's
own setup survives whatever the endpoint does. The app's read sessions stay
read sessions there (``ReadOnlySession``): a route that writes through
``DbReadSession`` fails its tests as it would fail in production.
"""

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, nullcontext

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    get_db,
    get_read_db,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    ReadOnlySession,
)
from {{ cookiecutter.package_name }}.devdb import (
    embedded_applies,
    embedded_database,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)

from tests.database import make_test_settings, prepare_database

# A test that uses any of these fixtures needs PostgreSQL: it is marked ``database``,
# and ``pytest -m "not database"`` (the pre-commit hook) leaves it out.
DATABASE_FIXTURES = frozenset({"embedded_test_database", "settings"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "database: needs PostgreSQL (set by the fixtures it uses)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the database through its fixtures."""
    for item in items:
        if DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def embedded_test_database() -> Iterator[bool]:
    """Point ``TEST_DATABASE_URL`` at the embedded server when no server is configured.

    Yields whether it did. Only tests that need a database start it.
    """
    configured = Settings()
    if "TEST_DATABASE_URL" in os.environ or not embedded_applies(configured):
        yield False
        return
    name = f"{configured.database_url_object.database}_test"
    with embedded_database(name) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_DATABASE_URL", url)
        yield True


@pytest.fixture(scope="session")
async def settings(
    *,
    embedded_test_database: bool,  # noqa: ARG001 - it sets TEST_DATABASE_URL
) -> Settings:
    """Settings pointing at the migrated test database."""
    return await prepare_database(make_test_settings())


@pytest.fixture
def unreachable_settings(settings: Settings) -> Settings:
    """The test settings pointed at a port that refuses connections.

    Port 1 on loopback answers every connection attempt with a refusal: a real,
    immediate failure, no mock.
    """
    url = settings.database_url_object.difference_update_query(["host"])
    url = url.set(host="127.0.0.1", port=1)
    return settings.model_copy(
        update={"database_url": SecretStr(url.render_as_string(hide_password=False))}
    )


@pytest.fixture(scope="session")
async def sessionmanager(settings: Settings) -> AsyncIterator[DatabaseSessionManager]:
    """A session manager on the test database, shared by the whole run."""
    async with DatabaseSessionManager(settings) as manager:
        yield manager


@pytest.fixture
async def connection(sessionmanager: DatabaseSessionManager) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with sessionmanager.engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
def test_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to the test's transaction; their commits end a SAVEPOINT."""
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def test_read_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Read sessions in the test's transaction: any flush or write statement raises."""
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
        sync_session_class=ReadOnlySession,
    )


@pytest.fixture
async def session(
    test_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for the test's own setup and checks."""
    async with test_sessionmaker() as session:
        yield session


@pytest.fixture
def client_headers() -> dict[str, str]:
    """Headers every request of ``client`` carries (e.g. credentials)."""
    return {}


@pytest.fixture
def test_scope() -> Callable[[], AbstractContextManager[object]]:
    """Where a test's own sessions work: ``with test_scope(): ...`` (here, anywhere)."""
    return nullcontext


@pytest.fixture
def scope_arguments() -> list[str]:
    """Command-line arguments that say where a job works (none needed here)."""
    return []


@pytest.fixture
async def client(
    settings: Settings,
    test_sessionmaker: async_sessionmaker[AsyncSession],
    test_read_sessionmaker: async_sessionmaker[AsyncSession],
    client_headers: dict[str, str],
) -> AsyncIterator[AsyncClient]:
    """An HTTP client for the app, whose sessions join the test's transaction."""
    app = create_app(settings)

    async def get_test_db() -> AsyncIterator[AsyncSession]:
        async with test_sessionmaker() as session:
            yield session

    async def get_test_read_db() -> AsyncIterator[AsyncSession]:
        async with test_read_sessionmaker() as session:
            yield session

    app.dependency_overrides[get_db] = get_test_db
    app.dependency_overrides[get_read_db] = get_test_read_db
    async with (
        LifespanManager(app) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://test",
            headers=client_headers,
        ) as client,
    ):
        yield client
