"""The example items API, end to end against PostgreSQL."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.items.models import (
    Item,
)


async def create(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create an item through the API and return its JSON."""
    response = await client.post("/api/items", json={"name": "widget", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_then_read(client: AsyncClient) -> None:
    created = await create(client, description="a small part")
    assert created["name"] == "widget"
    assert created["description"] == "a small part"
    assert created["id"] > 0
    assert created["created_at"]

    response = await client.get(f"/api/items/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_create_commits_the_row(client: AsyncClient, session: AsyncSession) -> None:
    created = await create(client)
    stored = await session.get(Item, created["id"])
    assert stored is not None
    assert stored.name == "widget"


async def test_list_is_paginated_oldest_first(client: AsyncClient) -> None:
    ids = [(await create(client, name=f"item-{n}"))["id"] for n in range(5)]

    first = await client.get("/api/items", params={"limit": 2})
    rest = await client.get("/api/items", params={"limit": 10, "offset": 2})

    assert [item["id"] for item in first.json()] == ids[:2]
    assert [item["id"] for item in rest.json()] == ids[2:]


async def test_update_changes_only_the_fields_sent(client: AsyncClient) -> None:
    created = await create(client, description="old")
    response = await client.patch(f"/api/items/{created['id']}", json={"description": "new"})
    assert response.status_code == 200
    assert response.json() == {**created, "description": "new"}


async def test_delete_removes_the_item(client: AsyncClient) -> None:
    created = await create(client)
    response = await client.delete(f"/api/items/{created['id']}")
    assert response.status_code == 204
    assert (await client.get(f"/api/items/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/items/999999"),
        ("PATCH", "/api/items/999999"),
        ("DELETE", "/api/items/999999"),
    ],
)
async def test_missing_item_is_404(client: AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={} if method == "PATCH" else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "Item not found"}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": 12},
        {"name": "nul\u0000byte"},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "description": "d" * 1001},
    ],
)
async def test_bad_input_is_422(client: AsyncClient, payload: dict[str, Any]) -> None:
    response = await client.post("/api/items", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/api/items/0", "/api/items/abc", "/api/items/99999999999", "/api/items?limit=0"]
)
async def test_bad_path_or_query_is_422(client: AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 422


async def test_update_refuses_a_null_name(client: AsyncClient) -> None:
    created = await create(client)
    response = await client.patch(f"/api/items/{created['id']}", json={"name": None})
    assert response.status_code == 422


async def test_duplicate_name_is_409_and_keeps_the_test_setup(
    client: AsyncClient, session: AsyncSession
) -> None:
    # Setup written by the test itself, in the test's transaction.
    session.add(Item(name="taken"))
    await session.commit()

    response = await client.post("/api/items", json={"name": "taken"})
    assert response.status_code == 409

    # The endpoint's rollback ended only its own SAVEPOINT: the setup survives.
    count = await session.scalar(
        select(func.count()).select_from(Item).where(Item.name == "taken")
    )
    assert count == 1
    listed = await client.get("/api/items")
    assert [item["name"] for item in listed.json()] == ["taken"]
