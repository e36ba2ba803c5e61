"""The original article's database layer, reproduced as a reference. Do not copy it.

Faithful to the article (see the template README): one module-level
``DatabaseSessionManager`` with ``pool_size=100, max_overflow=0,
pool_pre_ping=False``; ``async_sessionmaker(autocommit=False, autoflush=False)``;
an ``async_scoped_session`` keyed by ``asyncio.current_task`` that is never
``remove()``d; a ``get_db`` that runs ``SET search_path TO {SCHEMA}`` (an
f-string) on every request, rolls back on error and closes.

The model and the request/response schemas are the generated project's own
(``BENCH_PACKAGE``), so only the database layer differs. The endpoints are what
a user of the article writes: ``session.get`` and ``add`` + ``commit``.
Run with the generated project's interpreter:
``BENCH_DATABASE_URL=postgresql+asyncpg://... uvicorn article:app --app-dir bench/apps``.
"""

import importlib
import os
from asyncio import current_task
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
    create_async_engine,
)

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
Item: Any = importlib.import_module(f"{PACKAGE}.items.models").Item
_schemas = importlib.import_module(f"{PACKAGE}.items.schemas")
ItemCreate: Any = _schemas.ItemCreate
ItemRead: Any = _schemas.ItemRead

database_url = os.environ["BENCH_DATABASE_URL"]
SCHEMA = os.environ.get("BENCH_SCHEMA", "app")


class DatabaseSessionManager:
    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None
        self.session_maker: Any = None
        self.session: Any = None

    def init_db(self) -> None:
        # Creating an asynchronous engine
        self.engine = create_async_engine(
            database_url, pool_size=100, max_overflow=0, pool_pre_ping=False
        )
        # Creating an asynchronous session class
        self.session_maker = async_sessionmaker(
            autocommit=False, autoflush=False, bind=self.engine
        )
        # Creating a scoped session
        self.session = async_scoped_session(self.session_maker, scopefunc=current_task)

    async def close(self) -> None:
        if self.engine is None:
            raise Exception("DatabaseSessionManager is not initialized")
        await self.engine.dispose()


sessionmanager = DatabaseSessionManager()


async def get_db() -> AsyncIterator[AsyncSession]:
    session = sessionmanager.session()
    if session is None:
        raise Exception("DatabaseSessionManager is not initialized")
    try:
        await session.execute(text(f"SET search_path TO {SCHEMA}"))
        yield session
    except Exception:
        await session.rollback()
        raise
    finally:
        await session.close()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    sessionmanager.init_db()
    yield
    await sessionmanager.close()


app = FastAPI(lifespan=lifespan)
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@app.get("/api/items/{item_id}")
async def read_item(item_id: ItemId, session: AsyncSession = Depends(get_db)) -> ItemRead:  # noqa: B008
    item = await session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return ItemRead.model_validate(item)


@app.post("/api/items", status_code=201)
async def create_item(data: ItemCreate, session: AsyncSession = Depends(get_db)) -> ItemRead:  # noqa: B008
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()  # autoflush=False; the INSERT returns id and created_at
    created = ItemRead.model_validate(item)  # before commit() expires the object
    await session.commit()
    return created


def registry_size() -> int:
    """Sessions the scoped registry still holds (one per request served: the leak)."""
    return len(sessionmanager.session.registry.registry) if sessionmanager.session else 0


@app.get("/bench/registry")
async def registry() -> int:
    return registry_size()


@app.post("/bench/release")
async def release() -> int:
    """Not the article's: close the idle pooled connections between measurements.

    The pool keeps one connection per concurrent request seen (up to 100);
    releasing them keeps the benchmark within PostgreSQL's max_connections.
    """
    if sessionmanager.engine is not None:
        await sessionmanager.engine.dispose()
    return registry_size()
