"""The ceiling: the same FastAPI endpoints on a plain asyncpg pool with hand-written SQL.

No SQLAlchemy. One round trip per read (a cached prepared statement) and one
per write (a single INSERT ... RETURNING is atomic on its own). The pool skips
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
from fastapi import FastAPI, HTTPException, Path, Request

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
_schemas = importlib.import_module(f"{PACKAGE}.items.schemas")
ItemCreate: Any = _schemas.ItemCreate
ItemRead: Any = _schemas.ItemRead

DSN = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "10"))
SELECT_ITEM = "SELECT id, name, description, created_at FROM items WHERE id = $1"
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
