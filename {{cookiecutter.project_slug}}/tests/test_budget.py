"""The connection budget, checked against the test server's real limits."""

import logging

import pytest
from asgi_lifespan import LifespanManager

from {{ cookiecutter.package_name }}.cli.__main__ import (
    run,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.budget import (
    ConnectionBudgetExceededError,
    check_budget,
    read_budget,
)
from {{ cookiecutter.package_name }}.main import (
    # Far more workers than any server allows connections for.
    create_app,
)

TOO_MANY_WORKERS = 10_000


@pytest.fixture
def direct(settings: Settings) -> Settings:
    """The test settings, if they reach PostgreSQL directly: behind PgBouncer, the
    server's connections are PgBouncer's and the budget is not checked."""
    if settings.database_pooler != "none":
        pytest.skip("the connection budget is checked only without a pooler")
    return settings


def over_budget(settings: Settings, *, strict: bool) -> Settings:
    """Settings whose pools cannot fit."""
    return settings.model_copy(
        update={"web_concurrency": TOO_MANY_WORKERS, "database_budget_strict": strict}
    )


async def test_the_documented_deployment_fits_a_default_server(direct: Settings) -> None:
    """Two workers on two replicas with the default pools fit max_connections = 100."""
    settings = direct
    deployment = settings.model_copy(update={"web_concurrency": 2, "replicas": 2})
    async with DatabaseSessionManager(deployment) as manager:
        budget = await read_budget(manager)
    assert budget.max_connections >= 100
    assert budget.needed == 2 * 2 * (settings.database_pool_size + settings.database_max_overflow)
    assert budget.fits


async def test_over_budget_warns_and_starts_when_not_strict(
    direct: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with LifespanManager(create_app(over_budget(direct, strict=False))):
            pass
    assert "connection budget exceeded" in caplog.text
    assert f"{TOO_MANY_WORKERS} workers (WEB_CONCURRENCY)" in caplog.text
    assert "DATABASE_POOL_SIZE" in caplog.text


async def test_over_budget_refuses_to_start_when_strict(direct: Settings) -> None:
    app = create_app(over_budget(direct, strict=True))
    with pytest.raises(ConnectionBudgetExceededError, match="max_connections"):
        async with LifespanManager(app):
            pass


async def test_check_db_prints_the_budget_and_fails_over_a_strict_one(
    direct: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run(["check-db"], direct) == 0
    assert "budget:       fits: primary: 1 workers" in capsys.readouterr().out
    assert await run(["check-db"], over_budget(direct, strict=True)) == 1
    assert "budget:       EXCEEDED" in capsys.readouterr().out


async def test_behind_pgbouncer_the_budget_is_left_to_pgbouncer(settings: Settings) -> None:
    behind = over_budget(settings, strict=True).model_copy(update={"database_pooler": "pgbouncer"})
    async with DatabaseSessionManager(behind) as manager:
        assert await check_budget(manager) is None


@pytest.mark.parametrize("environment", ["production", "development", "test"])
def test_the_budget_is_strict_in_production_only(environment: str) -> None:
    settings = Settings(environment=environment, database_url=PRODUCTION_URL)
    assert settings.budget_is_strict is (environment == "production")


PRODUCTION_URL = "postgresql+asyncpg://app:a-real-secret@localhost/app"
