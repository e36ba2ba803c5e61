"""The example items API, end to end against PostgreSQL."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.items.models import (
    Item,
)
from {{ cookiecutter.package_name }}.pagination import (
    encode_cursor,
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


async def walk(client: AsyncClient, limit: int, between_pages: Any = None) -> list[list[int]]:
    """Follow ``next`` from the first page to the last; the ids of each page."""
    pages: list[list[int]] = []
    url: str | None = f"/api/items?limit={limit}"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        url = body["next"]
        assert (url is None) == ("Link" not in response.headers)
        if url is not None:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
            if between_pages is not None:
                await between_pages(len(pages))
    return pages


async def test_a_walk_sees_every_item_once_in_id_order(client: AsyncClient) -> None:
    ids = [(await create(client, name=f"item-{n}"))["id"] for n in range(25)]

    pages = await walk(client, limit=7)

    assert [len(page) for page in pages] == [7, 7, 7, 4]
    assert [item for page in pages for item in page] == ids


async def test_a_walk_stays_right_while_items_come_and_go(client: AsyncClient) -> None:
    """Every item there at the start and not deleted before its page: once, and none twice."""
    ids = [(await create(client, name=f"walk-{n}"))["id"] for n in range(30)]
    seen_then_deleted, deleted_ahead = ids[2], ids[20]
    added: list[int] = []

    async def meanwhile(pages_read: int) -> None:
        if pages_read == 1:
            for item in (seen_then_deleted, deleted_ahead):
                assert (await client.delete(f"/api/items/{item}")).status_code == 204
        if pages_read <= 3:
            added.append((await create(client, name=f"added-{pages_read}"))["id"])

    walked = [
        item for page in await walk(client, limit=5, between_pages=meanwhile) for item in page
    ]

    assert len(walked) == len(set(walked))
    assert walked == sorted(walked)
    assert deleted_ahead not in walked
    assert set(ids) - {deleted_ahead} <= set(walked)
    assert set(added) <= set(walked)


# Rows of ``items`` this transaction has read so far, whichever way (the
# transaction's own statistics, current at once, unlike the server-wide views).
ROWS_READ = text(
    "SELECT coalesce(sum(coalesce(idx_tup_fetch, 0) + seq_tup_read), 0)"
    " FROM pg_stat_xact_user_tables WHERE relname = 'items'"
)


async def test_a_deep_page_reads_no_more_rows_than_the_first(
    client: AsyncClient, session: AsyncSession
) -> None:
    """Keyset pages read their own rows at any depth (``OFFSET`` would read every row skipped)."""
    await session.execute(insert(Item), [{"name": f"bulk-{n}"} for n in range(10_000)])
    await session.flush()
    deepest = await session.scalar(select(func.max(Item.id)))
    assert deepest is not None
    read = []
    first_page: dict[str, str | int] = {"limit": 20}
    for params in (first_page, {**first_page, "cursor": encode_cursor(deepest - 100)}):
        before = await session.scalar(ROWS_READ)
        response = await client.get("/api/items", params=params)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 20
        read.append(await session.scalar(ROWS_READ) - before)
    assert read[0] <= 21, read  # the page, and one more to know whether a next one exists
    assert read[1] <= 21, read


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "garbage",
        "azE6LTU",  # k1:-5
        "azE6OTk5OTk5OTk5OTk5",  # beyond the id column's range
        "eDE6MTA",  # another version
        "a" * 65,
    ],
)
async def test_a_malformed_or_tampered_cursor_is_422_saying_so(
    client: AsyncClient, cursor: str
) -> None:
    response = await client.get("/api/items", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


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
    assert [item["name"] for item in listed.json()["items"]] == ["taken"]
