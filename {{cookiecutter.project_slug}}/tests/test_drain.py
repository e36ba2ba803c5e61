"""The drain on SIGTERM: readiness fails at once, the rest is served until the delay ends."""

import asyncio
import signal

import pytest
from httpx import AsyncClient

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.draining import (
    DRAIN,
    is_draining,
)
from {{ cookiecutter.package_name }}.shutdown import (
    DrainConfig,
    DrainingProcess,
    DrainingServer,
)


@pytest.fixture(autouse=True)
def not_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts outside a drain, and leaves the process as it found it."""
    monkeypatch.setattr(DRAIN, "started", False)


async def test_while_draining_ready_is_503_and_the_rest_is_served_then_closed(
    client: AsyncClient,
) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    DRAIN.started = True
    ready = await client.get("/health/ready")
    live = await client.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["status"] == "draining"
    assert ready.headers["connection"] == "close"
    assert live.status_code == 200
    assert live.headers["connection"] == "close"  # the client's next request goes elsewhere


def drain_server(settings: Settings, delay: float) -> DrainingServer:
    return DrainingServer(DrainConfig(settings.model_copy(update={"drain_delay": delay}), "", 0))


async def test_sigterm_starts_the_drain_and_only_its_delay_ends_it(settings: Settings) -> None:
    server = drain_server(settings, 0.3)
    server.handle_exit(signal.SIGTERM, None)
    assert is_draining()
    assert not await server.on_tick(1)
    deadline = server.drain_ends
    server.handle_exit(signal.SIGTERM, None)  # a repeated SIGTERM changes nothing
    assert server.drain_ends == deadline
    assert not await server.on_tick(2)
    await asyncio.sleep(0.35)
    assert await server.on_tick(3)


async def test_sigint_stops_without_waiting(settings: Settings) -> None:
    server = drain_server(settings, 60)
    server.handle_exit(signal.SIGINT, None)
    assert await server.on_tick(1)
    server.handle_exit(signal.SIGINT, None)
    assert server.force_exit


def test_workers_serve_with_the_draining_server_and_its_deadlines(settings: Settings) -> None:
    config = DrainConfig(settings, "127.0.0.1", 0)
    worker = DrainingProcess(config, [])  # built, not started
    assert isinstance(worker.server, DrainingServer)
    worker.parent_conn.close()
    worker.child_conn.close()
    assert config.timeout_graceful_shutdown == (
        settings.database_pool_timeout + settings.database_command_timeout
    )
    assert settings.in_flight_timeout == config.timeout_graceful_shutdown
    assert config.timeout_worker_healthcheck == settings.worker_healthcheck_timeout
