"""Traces of requests and database queries, set up by the standard ``OTEL_*`` variables.

- ``OTEL_TRACES_EXPORTER``: ``console``, ``otlp`` (OTLP over HTTP, to
  ``OTEL_EXPORTER_OTLP_ENDPOINT``) or any exporter an installed package
  registers, comma-separated. Unset or ``none``: nothing is traced or exported
  (OpenTelemetry's own default would be ``otlp``).
- ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
  ``OTEL_BSP_*`` and the exporters' own variables work as the SDK documents.
- ``OTEL_SDK_DISABLED=true`` turns everything off.

Each request is a SERVER span that carries the request id it answered with
(``http.response.header.x_request_id``). Each statement asyncpg sends is a
CLIENT span under it: the SQL text in ``db.statement``, never its parameters.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Self

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE,
    get_custom_headers,
)

from {{ cookiecutter.package_name }}.request_id import (
    REQUEST_ID_HEADER,
)

# Where installed packages register their span exporters, by name.
EXPORTER_ENTRY_POINTS = "opentelemetry_traces_exporter"
# "otlp" is OTLP over HTTP/protobuf: the OTLP exporter this project installs.
EXPORTER_ALIASES = {"otlp": "otlp_proto_http"}


def exporter_class(name: str) -> type[SpanExporter]:
    """The span exporter an installed package registers as ``name``."""
    name = EXPORTER_ALIASES.get(name, name)
    found = entry_points(group=EXPORTER_ENTRY_POINTS, name=name)
    if not found:
        msg = f"{OTEL_TRACES_EXPORTER}: no installed package provides an exporter {name!r}"
        raise ValueError(msg)
    exporter = next(iter(found)).load()
    if not (isinstance(exporter, type) and issubclass(exporter, SpanExporter)):
        msg = f"{OTEL_TRACES_EXPORTER}: {name!r} is not a span exporter"
        raise TypeError(msg)
    return exporter


def exporter_names() -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (none when unset or disabled)."""
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return []
    names = (name.strip() for name in os.environ.get(OTEL_TRACES_EXPORTER, "").split(","))
    return [name for name in names if name not in ("", "none")]


class Telemetry:
    """Where the service's spans go: a tracer provider, or nowhere (``None``)."""

    def __init__(self, tracer_provider: TracerProvider | None) -> None:
        """Send spans to ``tracer_provider``; ``None`` traces nothing at all."""
        self.tracer_provider = tracer_provider

    @classmethod
    def from_environment(cls, service_name: str) -> Self:
        """The process's tracing, as the ``OTEL_*`` variables describe it.

        The first call with an exporter configured makes the process's global
        tracer provider (so ``trace.get_tracer()`` in the code's own modules
        reports there too); later calls reuse it. ``service_name`` names the
        service unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` do.
        """
        exporters = [exporter_class(name) for name in exporter_names()]
        if not exporters:
            return cls(None)
        configured = trace.get_tracer_provider()
        if isinstance(configured, TracerProvider):
            return cls(configured)
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: service_name}))
        provider = TracerProvider(resource=resource)
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter()))
        trace.set_tracer_provider(provider)
        return cls(provider)

    def instrument_app(self, app: FastAPI) -> None:
        """Make each request to ``app`` a SERVER span carrying its request id."""
        if self.tracer_provider is None:
            return
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            http_capture_headers_server_response=[
                REQUEST_ID_HEADER,
                *get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE),
            ],
            # One span per request, not one more per ASGI message.
            exclude_spans=["receive", "send"],
        )

    @contextmanager
    def instrument_database(self) -> Iterator[None]:
        """Trace every statement asyncpg sends during the block; then flush the spans.

        asyncpg's instrumentation covers the whole process: the lifespan turns
        it on at startup and off at shutdown. If something else turned it on
        first (such as ``opentelemetry-instrument``), it is left to that owner.
        """
        if self.tracer_provider is None:
            yield
            return
        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        owner = not instrumentor.is_instrumented_by_opentelemetry
        if owner:
            instrumentor.instrument(tracer_provider=self.tracer_provider)
        try:
            yield
        finally:
            if owner:
                instrumentor.uninstrument()
            self.tracer_provider.force_flush()
