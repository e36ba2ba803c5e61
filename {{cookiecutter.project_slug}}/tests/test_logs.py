"""Logs: JSON or readable lines, the request id on every line of a request, slow queries.

The app is served with its real lifespan on the test database; its log lines
are read from the handler ``configure_logging`` installs, pointed at a buffer.
"""

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
)
from {{ cookiecutter.package_name }}.logs import (
    configure_logging,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)
from {{ cookiecutter.package_name }}.request_id import (
    # A bound parameter's value: it must never reach the log.
    REQUEST_ID_HEADER,
)

HIDDEN_VALUE = "s3cret-parameter-value"
SLOW_QUERY_MS = 50.0
# Probe routes that fail: each answers 500 and logs one error line.
FAILING_PATHS = ["/probe/fail", "/probe/bad-sql", "/probe/unsendable", "/probe/refused"]


def probe_app(settings: Settings) -> FastAPI:
    """The real app plus probe routes: a slow query, a failing one, a failing endpoint."""
    app = create_app(settings)

    @app.get("/probe/slow")
    async def slow(session: DbSession) -> None:
        await session.execute(
            text("SELECT pg_sleep(:delay), CAST(:hidden AS text)"),
            {"delay": SLOW_QUERY_MS * 2 / 1000, "hidden": HIDDEN_VALUE},
        )

    @app.get("/probe/sleep")
    async def sleep(session: DbSession) -> None:
        await session.execute(text("SELECT pg_sleep(2)"))

    @app.get("/probe/bad-sql")
    async def bad_sql(session: DbSession) -> None:
        await session.execute(
            text("SELECT no_such_column WHERE CAST(:v AS text) IS NOT NULL"),
            {"v": HIDDEN_VALUE},
        )

    @app.get("/probe/unsendable")
    async def unsendable(session: DbSession) -> None:
        # The driver cannot send text as an integer; its message quotes the value.
        await session.execute(text("SELECT CAST(:n AS integer)"), {"n": HIDDEN_VALUE})

    @app.get("/probe/refused")
    async def refused(session: DbSession) -> None:
        # The server refuses the value (SQLSTATE 22P02); its message quotes it.
        await session.execute(
            text("SELECT CAST(CAST(:t AS text) AS integer)"), {"t": HIDDEN_VALUE}
        )

    @app.get("/probe/fail")
    async def fail() -> None:
        msg = "the endpoint failed"
        raise RuntimeError(msg)

    return app


@pytest.fixture
def restore_logging(settings: Settings) -> Iterator[None]:
    """Put the test run's own logging back after the test."""
    yield
    configure_logging(settings)


async def serve(
    settings: Settings, *requests: tuple[str, dict[str, str]]
) -> tuple[list[str], list[str]]:
    """Serve ``requests`` (path, headers) in turn; their request ids, and every log line."""
    buffer = io.StringIO()
    app = probe_app(settings)
    configure_logging(settings, stream=buffer)
    ids = []
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        for path, headers in requests:
            response = await client.get(path, headers=headers)
            ids.append(response.headers[REQUEST_ID_HEADER])
    return ids, buffer.getvalue().splitlines()


@pytest.fixture
def json_settings(settings: Settings) -> Settings:
    """The test settings with JSON logs and a low slow-query threshold."""
    return settings.model_copy(
        update={"log_format": "json", "database_slow_query_ms": SLOW_QUERY_MS}
    )


@pytest.mark.usefixtures("restore_logging")
async def test_json_lines_carry_the_request_id_on_every_line_of_a_request(
    json_settings: Settings,
) -> None:
    ids, lines = await serve(
        json_settings,
        ("/health/live", {REQUEST_ID_HEADER: "trace-1234"}),
        *[(path, {}) for path in FAILING_PATHS],
    )

    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert ids[0] == "trace-1234"
    by_id = {rid: [r for r in records if r.get("request_id") == rid] for rid in ids}
    access = [r for r in records if r["logger"].endswith(".access")]
    assert len(access) == len(ids)
    statuses = [200] + [500] * len(FAILING_PATHS)
    for rid, path, status in zip(ids, ["/health/live", *FAILING_PATHS], statuses, strict=True):
        line = next(r for r in by_id[rid] if r["logger"].endswith(".access"))
        assert line["method"] == "GET"
        assert line["path"] == path
        assert line["status"] == status
        assert line["duration_ms"] >= 0
        assert line["level"] == "INFO"
        assert isinstance(line["time"], str)
    for rid in ids[1:]:
        errors = [r for r in by_id[rid] if r["level"] == "ERROR"]
        assert len(errors) == 1, by_id[rid]
        assert "Traceback" in errors[0]["exc_info"]
    assert "no_such_column" in json.dumps(by_id[ids[2]])
    assert "SQLSTATE 22P02" in json.dumps(by_id[ids[4]])
    assert HIDDEN_VALUE not in "\n".join(lines)
    # Lines outside a request (startup, shutdown) carry no request id.
    assert any("request_id" not in r for r in records)


@pytest.mark.usefixtures("restore_logging")
async def test_a_slow_query_is_logged_with_its_statement_and_never_its_parameters(
    json_settings: Settings,
) -> None:
    ids, lines = await serve(json_settings, ("/probe/slow", {}))

    records = [json.loads(line) for line in lines]
    slow = [r for r in records if r["logger"].endswith("slow_queries")]
    assert len(slow) == 1, records
    assert slow[0]["level"] == "WARNING"
    assert slow[0]["request_id"] == ids[0]
    assert "pg_sleep" in slow[0]["statement"]
    assert slow[0]["duration_ms"] >= SLOW_QUERY_MS
    assert HIDDEN_VALUE not in "\n".join(lines)


@pytest.mark.usefixtures("restore_logging")
async def test_a_slow_query_cancelled_by_the_server_deadline_is_logged_too(
    json_settings: Settings,
) -> None:
    """The slowest statements of all, those ``statement_timeout`` cancels, show their SQL."""
    deadline = SLOW_QUERY_MS * 3 / 1000
    cancelling = json_settings.model_copy(update={"database_statement_timeout": deadline})
    ids, lines = await serve(cancelling, ("/probe/sleep", {}))

    records = [json.loads(line) for line in lines]
    slow = [r for r in records if r["logger"].endswith("slow_queries")]
    assert len(slow) == 1, records
    assert slow[0]["error"] == "QueryCanceledError"
    assert slow[0]["request_id"] == ids[0]
    assert "pg_sleep" in slow[0]["statement"]
    assert slow[0]["duration_ms"] >= deadline * 1000


@pytest.mark.usefixtures("restore_logging")
async def test_fast_queries_and_a_zero_threshold_log_no_slow_query(
    json_settings: Settings,
) -> None:
    off = json_settings.model_copy(update={"database_slow_query_ms": 0.0})
    _, lines = await serve(off, ("/probe/slow", {}), ("/health/ready", {}))
    assert not [line for line in lines if "slow_queries" in line]
    _, lines = await serve(json_settings, ("/health/ready", {}))
    assert not [line for line in lines if "slow_queries" in line]


@pytest.mark.usefixtures("restore_logging")
async def test_console_lines_are_readable_and_carry_the_request_id(settings: Settings) -> None:
    console = settings.model_copy(update={"log_format": "console"})
    _, lines = await serve(console, ("/health/live", {REQUEST_ID_HEADER: "trace-5678"}))

    access = [line for line in lines if ".access:" in line]
    assert len(access) == 1, lines
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +\[trace-5678\] \S+\.access:"
        r" GET /health/live 200 \d+\.\d\dms",
        access[0],
    ), access[0]
    assert not [line for line in lines if line.startswith("{")]


@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_lines_go_through_the_same_handler_and_its_access_log_is_off(
    json_settings: Settings,
) -> None:
    buffer = io.StringIO()
    configure_logging(json_settings, stream=buffer)

    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)

    record = json.loads(buffer.getvalue())
    assert record["logger"] == "uvicorn.error"
    assert record["message"] == "Started server process [1]"
    # uvicorn writes no access line when its logger has nowhere to go.
    assert not logging.getLogger("uvicorn.access").hasHandlers()


def test_logs_are_json_in_production_unless_set_otherwise() -> None:
    url = SecretStr("postgresql+asyncpg://app:a-real-secret@db:5432/app")
    assert Settings(environment="production", database_url=url).logs_as_json
    assert not Settings(environment="development").logs_as_json
    assert not Settings(
        environment="production", database_url=url, log_format="console"
    ).logs_as_json
    assert Settings(environment="development", log_format="json").logs_as_json
    assert Settings.model_validate({"log_level": "debug"}).log_level == "DEBUG"


@pytest.mark.usefixtures("restore_logging")
async def test_a_warning_level_drops_the_access_lines(json_settings: Settings) -> None:
    quiet = json_settings.model_copy(update={"log_level": "WARNING"})
    _, lines = await serve(quiet, ("/health/live", {}), ("/probe/slow", {}))
    loggers = [json.loads(line)["logger"] for line in lines]
    assert len(loggers) == 1, lines
    assert loggers[0].endswith(".db.slow_queries"), lines
