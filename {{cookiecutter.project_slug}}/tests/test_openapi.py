"""The OpenAPI document says what the app answers: every status and header, checked for real.

Each operation of the document is called with a request that passes its
validation, once with the database reachable and once with it unreachable.
Every status it answers must be declared for it, with every header the
declaration marks required; an operation that needs the database must declare
the 503.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)

Operation = tuple[str, str, dict[str, Any]]
NOT_A_DATABASE_ROUTE = {"/health/live", "/openapi.json", "/docs", "/redoc"}


def operations(spec: dict[str, Any]) -> list[Operation]:
    """(method, path, operation) for every operation in the document."""
    return [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value that ``schema`` accepts: its example, else the simplest one of its type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(spec["components"]["schemas"][name], spec)
    if "examples" in schema:
        return schema["examples"][0]
    if "anyOf" in schema:
        return example(schema["anyOf"][0], spec)
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {name: example(schema["properties"][name], spec) for name in required}
    return {"integer": schema.get("minimum", 1), "boolean": True}.get(kind or "", "openapi-probe")


async def call(
    client: AsyncClient, method: str, path: str, operation: dict[str, Any], spec: dict[str, Any]
) -> Response:
    """Call ``operation`` with values that pass its validation."""
    url, query = path, {}
    for parameter in operation.get("parameters", []):
        value = example(parameter["schema"], spec)
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = value
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    json = example(body["schema"], spec) if body else None
    return await client.request(method.upper(), url, params=query, json=json)


def check(response: Response, method: str, path: str, operation: dict[str, Any]) -> None:
    """The status is declared for the operation, and every header it promises is sent."""
    declared = operation["responses"]
    status = str(response.status_code)
    where = f"{method.upper()} {path}"
    assert status in declared, f"{where} answered {status}; declared: {sorted(declared)}"
    for header, declaration in declared[status].get("headers", {}).items():
        if declaration.get("required"):
            assert header in response.headers, f"{where} {status} lacks the {header} header"


@pytest.fixture
async def unreachable_client(
    unreachable_settings: Settings, client_headers: dict[str, str]
) -> AsyncIterator[AsyncClient]:
    """A client of the app whose database refuses every connection."""
    async with LifespanManager(create_app(unreachable_settings)) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(
            transport=transport, base_url="http://test", headers=client_headers
        ) as client:
            yield client


async def test_every_answer_is_declared_with_its_headers(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for method, path, operation in operations(spec):
        check(await call(client, method, path, operation, spec), method, path, operation)


async def test_an_unreachable_database_gives_the_declared_503_everywhere(
    unreachable_client: AsyncClient,
) -> None:
    spec = (await unreachable_client.get("/openapi.json")).json()
    database_routes = [op for op in operations(spec) if op[1] not in NOT_A_DATABASE_ROUTE]
    assert database_routes, "every variant has at least its readiness probe"
    for method, path, operation in database_routes:
        response = await call(unreachable_client, method, path, operation, spec)
        assert response.status_code == 503, f"{method.upper()} {path}: {response.status_code}"
        check(response, method, path, operation)
