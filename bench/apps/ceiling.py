"""The ceiling: the same FastAPI endpoints on a plain asyncpg pool with hand-written SQL.

No SQLAlchemy. One round trip per read (a cached prepared statement), per page
of the list (the same keyset query and cursors as the generated app) and per
write (a single INSERT ... RETURNING is atomic on its own). The pool skips
asyncpg's reset query on release, which these endpoints never need (they leave
no session state behind): this is the fastest honest use of the driver, the
upper bound the generated app is compared with.

The model's table and the request/response schemas are the generated
project's (``BENCH_PACKAGE``). Run with the generated project's interpreter:
``BENCH_DATABASE_URL=postgresql://... uvicorn ceiling:app --app-dir bench/apps``.
"""

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, HTTPException, Path, Request, Response

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
_schemas = importlib.import_module(f"{PACKAGE}.items.schemas")
_parameters = importlib.import_module(f"{PACKAGE}.items.parameters")
ItemCreate: Any = _schemas.ItemCreate
ItemRead: Any = _schemas.ItemRead
ItemPage: Any = _schemas.ItemPage
PageSize: Any = _parameters.PageSize
PageStart: Any = _parameters.PageStart
link_next: Any = importlib.import_module(f"{PACKAGE}.pagination").link_next

DSN = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))
SELECT_ITEM = "SELECT id, name, description, created_at FROM items WHERE id = $1"
LIST_ITEMS = (
    "SELECT id, name, description, created_at FROM items WHERE id > $1 ORDER BY id LIMIT $2"
)
INSERT_ITEM = (
    "INSERT INTO items (name, description) VALUES ($1, $2)"
    " RETURNING id, name, description, created_at"
)


async def _keep_connection_as_is(_connection: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (no LISTEN, locks or SET to undo here)."""


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    async with asyncpg.create_pool(
        DSN, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=_keep_connection_as_is
    ) as pool:
        yield {"pool": pool}


app = FastAPI(lifespan=lifespan)
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@app.get("/api/items/{item_id}")
async def read_item(item_id: ItemId, request: Request) -> ItemRead:
    row = await request.state.pool.fetchrow(SELECT_ITEM, item_id)
    if row is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return ItemRead.model_validate(dict(row))


@app.post("/api/items", status_code=201)
async def create_item(data: ItemCreate, request: Request) -> ItemRead:
    row = await request.state.pool.fetchrow(INSERT_ITEM, data.name, data.description)
    return ItemRead.model_validate(dict(row))


@app.get("/api/items")
async def list_items(
    request: Request, response: Response, after: PageStart, limit: PageSize = 20
) -> ItemPage:
    rows = await request.state.pool.fetch(LIST_ITEMS, after, limit + 1)
    page = [ItemRead.model_validate(dict(row)) for row in rows[:limit]]
    more = len(rows) > limit
    return ItemPage(items=page, next=link_next(request, response, page[-1].id) if more else None)
