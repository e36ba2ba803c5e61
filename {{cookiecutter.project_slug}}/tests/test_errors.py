"""Failures become clean answers: 503 / 409 / 500 with a request id / 405 / 422, never a trace.

These tests use the real session manager (not the test transaction), so what
an endpoint wrote is visible only if it was committed. The probe routes that
reach the database are mounted under ``/api``, like every resource.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel
from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    column,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
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
from {{ cookiecutter.package_name }}.request_id import (
    # Alembic's table as a Table object, which a tenant's schema applies to.
    REQUEST_ID_HEADER,
)

VERSIONS = Table("alembic_version", MetaData(), Column("version_num", String))
# A table with a CHECK constraint, made for these tests.
AMOUNTS = Table(
    "errors_probe_amounts",
    MetaData(),
    Column("amount", Integer, CheckConstraint("amount > 0", name="positive")),
)
Scope = Callable[[], AbstractContextManager[object]]


class Note(BaseModel):
    """A body for the probe routes."""

    text: str


@pytest.fixture
def marker() -> str:
    """A value that no other test writes."""
    return f"err-{uuid.uuid4().hex[:12]}"


def database_probes(marker: str) -> APIRouter:
    """Routes that fail in chosen ways inside the database layer."""
    router = APIRouter()

    @router.post("/probe/write-then-fail")
    async def write_then_fail(session: DbSession) -> None:
        await session.execute(VERSIONS.insert().values(version_num=marker))
        msg = f"the endpoint failed after writing {marker}"
        raise RuntimeError(msg)

    @router.get("/probe/bad-sql")
    async def bad_sql(session: DbSession) -> None:
        await session.execute(select(column("no_such_column")).select_from(VERSIONS))

    @router.get("/probe/query")
    async def query(session: DbSession) -> None:
        await session.execute(text("SELECT 1"))

    @router.post("/probe/duplicate")
    async def duplicate(session: DbSession) -> None:
        await session.execute(VERSIONS.insert().values(version_num=marker))
        await session.execute(VERSIONS.insert().values(version_num=marker))

    @router.post("/probe/not-null")
    async def not_null(session: DbSession) -> None:
        await session.execute(VERSIONS.insert().values(version_num=None))

    @router.post("/probe/check")
    async def check(session: DbSession) -> None:
        await session.execute(AMOUNTS.insert().values(amount=-1))

    @router.post("/probe/wrapped")
    async def wrapped(session: DbSession) -> None:
        await session.execute(VERSIONS.insert().values(version_num=marker))
        try:
            await session.execute(VERSIONS.insert().values(version_num=marker))
        except IntegrityError as exc:
            msg = "the import failed"
            raise RuntimeError(msg) from exc

    return router


def probe_app(settings: Settings, marker: str) -> FastAPI:
    """The real app plus probe routes that fail in chosen ways."""
    app = create_app(settings)
    app.include_router(database_probes(marker), prefix=api.PREFIX, dependencies=api.DEPENDENCIES)

    @app.get("/probe/note")
    async def read_note() -> Note:
        return Note(text="read")

    @app.post("/probe/note")
    async def write_note(note: Note) -> Note:
        return note

    @app.get("/probe/file")
    async def missing_file() -> str:
        return await asyncio.to_thread(Path("/nonexistent/probe").read_text)

    @app.get("/probe/own-deadline")
    async def own_deadline() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    return app


@pytest.fixture
async def client(
    settings: Settings, marker: str, client_headers: dict[str, str]
) -> AsyncIterator[AsyncClient]:
    """A client of the probe app, on the real (not rolled-back) database."""
    async with LifespanManager(probe_app(settings, marker)) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(
            transport=transport, base_url="http://test", headers=client_headers
        ) as client:
            yield client


@pytest.fixture
async def amounts(
    sessionmanager: DatabaseSessionManager, test_scope: Scope
) -> AsyncIterator[None]:
    """The CHECK probe table, for the duration of a test."""
    with test_scope():
        async with sessionmanager.session() as session:
            await session.execute(CreateTable(AMOUNTS, if_not_exists=True))
            await session.commit()
    yield
    with test_scope():
        async with sessionmanager.session() as session:
            await session.execute(DropTable(AMOUNTS, if_exists=True))
            await session.commit()


async def test_an_error_mid_transaction_writes_nothing_and_answers_500_with_an_id(
    client: AsyncClient,
    sessionmanager: DatabaseSessionManager,
    marker: str,
    caplog: pytest.LogCaptureFixture,
    test_scope: Scope,
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.post("/api/probe/write-then-fail")

    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "Internal server error.", "request_id": body["request_id"]}
    assert response.headers[REQUEST_ID_HEADER] == body["request_id"]
    assert marker not in response.text
    logged = caplog.text
    assert body["request_id"] in logged
    assert "Traceback" in logged
    assert marker in logged
    with test_scope():
        async with sessionmanager.session() as session:
            written = VERSIONS.c.version_num == marker
            query = select(func.count()).select_from(VERSIONS).where(written)
            found = await session.scalar(query)
    assert found == 0


async def test_a_database_error_is_500_without_sql_in_the_body(client: AsyncClient) -> None:
    response = await client.get("/api/probe/bad-sql")
    assert response.status_code == 500
    assert set(response.json()) == {"detail", "request_id"}
    assert "no_such_column" not in response.text


@pytest.mark.parametrize("path", ["/probe/file", "/probe/own-deadline"])
async def test_the_codes_own_os_and_timeout_errors_are_500_with_their_traceback(
    client: AsyncClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """Only the database layer's failures are 503s; a bug must not look like an outage."""
    with caplog.at_level(logging.ERROR):
        response = await client.get(path)
    assert response.status_code == 500
    assert "Traceback" in caplog.text
    assert ("FileNotFoundError" if "file" in path else "TimeoutError") in caplog.text


async def test_a_conflict_is_409_and_a_broken_constraint_a_500(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert (await client.post("/api/probe/duplicate")).status_code == 409
        assert (await client.post("/api/probe/not-null")).status_code == 500
    assert "NotNullViolationError" in caplog.text


@pytest.mark.usefixtures("amounts")
async def test_a_check_violation_is_a_500(client: AsyncClient) -> None:
    assert (await client.post("/api/probe/check")).status_code == 500


async def test_a_wrapped_database_error_is_logged_without_its_values(
    client: AsyncClient, caplog: pytest.LogCaptureFixture, marker: str
) -> None:
    """``raise X from db_error``: the chained error's DETAIL, which quotes the row, stays out."""
    with caplog.at_level(logging.ERROR):
        response = await client.post("/api/probe/wrapped")
    assert response.status_code == 500
    assert "the import failed" in caplog.text
    assert "UniqueViolationError" in caplog.text
    assert marker not in caplog.text


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
    unreachable_settings: Settings,
    marker: str,
    client_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        LifespanManager(probe_app(unreachable_settings, marker)) as manager,
        AsyncClient(
            transport=ASGITransport(app=manager.app),
            base_url="http://test",
            headers=client_headers,
        ) as client,
    ):
        with caplog.at_level(logging.WARNING):
            response = await client.get("/api/probe/query")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json() == {"detail": "Database is unavailable, try again shortly."}
    assert "nothing listens there" in caplog.text
    assert "Traceback" not in caplog.text
