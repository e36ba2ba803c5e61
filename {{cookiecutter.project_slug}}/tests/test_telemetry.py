"""Tracing: a request is a SERVER span, its statements CLIENT spans under it.

The app runs its real lifespan and middleware against the test database, with
spans kept in memory instead of exported.
"""

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.dependencies import (
    DbSession,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)
from {{ cookiecutter.package_name }}.request_id import (
    REQUEST_ID_HEADER,
)
from {{ cookiecutter.package_name }}.telemetry import (
    Telemetry,
    exporter_class,
    exporter_names,
)

# A bound parameter's value: it must reach the database, never a span.
PARAMETER = "parameter-value-4d1c7"
REQUEST_ID_ATTRIBUTE = "http.response.header.x_request_id"


def with_probe(app: FastAPI) -> FastAPI:
    """Add a route that runs one statement with a bound parameter."""

    @app.get("/probe")
    async def probe(session: DbSession) -> dict[str, object]:
        value = await session.scalar(text("SELECT CAST(:value AS text)"), {"value": PARAMETER})
        return {"value": value, "recording": trace.get_current_span().is_recording()}

    return app


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Where the app's spans end up."""
    return InMemorySpanExporter()


@pytest.fixture
async def traced_client(
    settings: Settings, spans: InMemorySpanExporter
) -> AsyncIterator[AsyncClient]:
    """A client of an app that records its spans in ``spans``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = with_probe(create_app(settings, Telemetry(provider)))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        yield client
    provider.shutdown()


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``OTEL_*`` variable set, as in a default deployment."""
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)


def statement(span: ReadableSpan) -> str | None:
    """The SQL a database span carries (older or newer semantic conventions)."""
    attributes = span.attributes or {}
    found = attributes.get("db.statement", attributes.get("db.query.text"))
    return found if isinstance(found, str) else None


async def test_a_request_is_a_server_span_with_its_statements_under_it(
    traced_client: AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await traced_client.get("/probe")
    assert response.status_code == 200, response.text
    assert response.json() == {"value": PARAMETER, "recording": True}

    finished = spans.get_finished_spans()
    servers = [s for s in finished if s.kind is trace.SpanKind.SERVER]
    assert len(servers) == 1, [s.name for s in finished]
    server = servers[0]
    assert server.context is not None
    assert (server.attributes or {}).get("http.route") == "/probe"
    assert (server.attributes or {}).get(REQUEST_ID_ATTRIBUTE) == (
        response.headers[REQUEST_ID_HEADER],
    )

    queries = [s for s in finished if s.kind is trace.SpanKind.CLIENT and statement(s)]
    probe = [s for s in queries if "CAST(" in (statement(s) or "")]
    assert len(probe) == 1, [statement(s) for s in queries]
    assert probe[0].parent is not None
    assert probe[0].parent.span_id == server.context.span_id
    for query in queries:
        assert query.context is not None
        assert query.context.trace_id == server.context.trace_id
    for span in finished:
        assert PARAMETER not in str(dict(span.attributes or {})), span.name


async def test_a_callers_traceparent_continues_its_trace(
    traced_client: AsyncClient, spans: InMemorySpanExporter
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = await traced_client.get("/health/live", headers={"traceparent": traceparent})
    assert response.status_code == 200
    servers = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert [s.context.trace_id for s in servers if s.context] == [int(trace_id, 16)]


@pytest.mark.usefixtures("no_otel_environment")
async def test_nothing_is_traced_without_an_exporter_configured(settings: Settings) -> None:
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        pytest.skip("an OTEL_TRACES_EXPORTER of this run installed a global tracer provider")
    assert exporter_names() == []
    assert Telemetry.from_environment("probe").tracer_provider is None
    app = with_probe(create_app(settings))
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client,
    ):
        response = await client.get("/probe")
    assert response.json() == {"value": PARAMETER, "recording": False}


@pytest.mark.parametrize(
    ("names", "kinds"),
    [
        ("none", []),
        ("console", [ConsoleSpanExporter]),
        ("otlp", [OTLPSpanExporter]),
        ("console, otlp", [ConsoleSpanExporter, OTLPSpanExporter]),
    ],
)
@pytest.mark.usefixtures("no_otel_environment")
def test_otel_traces_exporter_chooses_the_exporters(
    monkeypatch: pytest.MonkeyPatch, names: str, kinds: list[type[SpanExporter]]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", names)
    assert [exporter_class(name) for name in exporter_names()] == kinds


@pytest.mark.usefixtures("no_otel_environment")
def test_otel_sdk_disabled_turns_every_exporter_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert exporter_names() == []
    assert Telemetry.from_environment("probe").tracer_provider is None


@pytest.mark.usefixtures("no_otel_environment")
def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
    with pytest.raises(ValueError, match="carrier-pigeon"):
        Telemetry.from_environment("probe")
    assert exporter_class("otlp_proto_http") is OTLPSpanExporter
