"""Failures become clean answers: 503 / 500 with a request id / 405 / 422, never a trace.

These tests use the real session manager (not the test transaction), so what
an endpoint wrote is visible only if it was committed.
"""

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel
from sqlalchemy import Column, MetaData, String, Table, column, func, select, text

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    DbSession,
)
from {{ cookiecutter.package_name }}.errors import REQUEST_ID_HEADER
from {{ cookiecutter.package_name }}.main import create_app

# Alembic's table as a Table object, which a tenant's schema applies to.
VERSIONS = Table("alembic_version", MetaData(), Column("version_num", String))


class Note(BaseModel):
    """A body for the probe routes."""

    text: str


@pytest.fixture
def marker() -> str:
    """A value that no other test writes."""
    return f"err-{uuid.uuid4().hex[:12]}"


def probe_app(settings: Settings, marker: str) -> FastAPI:
    """The real app plus probe routes that fail in chosen ways."""
    app = create_app(settings)

    @app.post("/probe/write-then-fail")
    async def write_then_fail(session: DbSession) -> None:
        await session.execute(VERSIONS.insert().values(version_num=marker))
        msg = f"the endpoint failed after writing {marker}"
        raise RuntimeError(msg)

    @app.get("/probe/bad-sql")
    async def bad_sql(session: DbSession) -> None:
        await session.execute(select(column("no_such_column")).select_from(VERSIONS))

    @app.get("/probe/query")
    async def query(session: DbSession) -> None:
        await session.execute(text("SELECT 1"))

    @app.get("/probe/note")
    async def read_note() -> Note:
        return Note(text="read")

    @app.post("/probe/note")
    async def write_note(note: Note) -> Note:
        return note

    return app


@pytest.fixture
async def client(settings: Settings, marker: str) -> AsyncIterator[AsyncClient]:
    """A client of the probe app, on the real (not rolled-back) database."""
    async with LifespanManager(probe_app(settings, marker)) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_an_error_mid_transaction_writes_nothing_and_answers_500_with_an_id(
    client: AsyncClient,
    sessionmanager: DatabaseSessionManager,
    marker: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.post("/probe/write-then-fail")

    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "Internal server error.", "request_id": body["request_id"]}
    assert response.headers[REQUEST_ID_HEADER] == body["request_id"]
    assert marker not in response.text
    logged = caplog.text
    assert body["request_id"] in logged
    assert "Traceback" in logged
    assert marker in logged
    async with sessionmanager.session() as session:
        written = VERSIONS.c.version_num == marker
        found = await session.scalar(select(func.count()).select_from(VERSIONS).where(written))
    assert found == 0


async def test_a_database_error_is_500_without_sql_in_the_body(client: AsyncClient) -> None:
    response = await client.get("/probe/bad-sql")
    assert response.status_code == 500
    assert set(response.json()) == {"detail", "request_id"}
    assert "no_such_column" not in response.text


async def test_a_well_formed_request_id_is_kept_and_a_bad_one_replaced(
    client: AsyncClient,
) -> None:
    kept = await client.get("/health/live", headers={REQUEST_ID_HEADER: "abc-123"})
    replaced = await client.get("/health/live", headers={REQUEST_ID_HEADER: "x" * 200})
    assert kept.headers[REQUEST_ID_HEADER] == "abc-123"
    assert replaced.headers[REQUEST_ID_HEADER] != "x" * 200
    assert len(replaced.headers[REQUEST_ID_HEADER]) == len(uuid.uuid4().hex)


async def test_405_lists_every_method_of_the_path(client: AsyncClient) -> None:
    response = await client.delete("/probe/note")
    assert response.status_code == 405
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


async def test_a_body_that_is_not_utf8_is_422_like_malformed_json(client: AsyncClient) -> None:
    response = await client.post(
        "/probe/note", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_an_unreachable_database_is_503_with_retry_after(
    unreachable_settings: Settings, marker: str
) -> None:
    async with (
        LifespanManager(probe_app(unreachable_settings, marker)) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        response = await client.get("/probe/query")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json() == {"detail": "Database is unavailable, try again shortly."}
