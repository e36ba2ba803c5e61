"""One app, many variants of the read and write endpoints: each lever of the hot path apart.

``GET /lever/{name}/{item_id}`` reads an item the way lever ``name`` does, and
``POST /lever/{name}`` creates one, for the levers in ``WRITES``; all variants
run in the same process, so the benchmark can interleave them and compare like
with like (``python -m bench --levers``). Each variant differs from the
previous one in one respect (see ``LEVERS``). Run with a generated project's
interpreter, like the other reference apps.
"""

import importlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
Item: Any = importlib.import_module(f"{PACKAGE}.items.models").Item
ItemRead: Any = importlib.import_module(f"{PACKAGE}.items.schemas").ItemRead
ItemCreate: Any = importlib.import_module(f"{PACKAGE}.items.schemas").ItemCreate

URL = os.environ["BENCH_DATABASE_URL"]
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "15"))  # as the generated app
MAX_OVERFLOW = int(os.environ.get("BENCH_MAX_OVERFLOW", "0"))
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ITEM_COLUMNS = select(Item.id, Item.name, Item.description, Item.created_at)

# name: (what changes from the previous lever, engine keyword arguments)
LEVERS: dict[str, tuple[str, dict[str, Any]]] = {
    "orm-ping-tx": ("template before: ORM get, pre-ping, BEGIN/ROLLBACK", {"pool_pre_ping": True}),
    "orm-tx": ("pre-ping off", {}),
    "orm-ping-autocommit": ("pre-ping on, read in autocommit", {"pool_pre_ping": True}),
    "orm-autocommit": ("pre-ping off, read in autocommit", {}),
    "core-session": ("Core select on the session (autocommit)", {}),
    "core-session-ping": (
        "Core select on the session (autocommit), pre-ping",
        {"pool_pre_ping": True},
    ),
    "core-connection": ("Core on engine.connect() (autocommit engine)", {}),
    "core-no-stmt-cache": (
        "core-session without asyncpg's prepared statement cache",
        {"connect_args": {"prepared_statement_cache_size": 0}},
    ),
    "core-no-sql-cache": (
        "core-session without SQLAlchemy's compiled cache",
        {"query_cache_size": 0},
    ),
    "core-session-dict": ("core-session, returns a dict (FastAPI validates it)", {}),
    "core-session-json": ("core-session, model_dump_json into a Response", {}),
    "core-request-scope": ("core-session with the dependency's default request scope", {}),
    "raw-asyncpg": ("no SQLAlchemy: asyncpg pool.fetchrow in the endpoint", {}),
    "no-db": ("no database: the same route, validation and response, a fixed item", {}),
    "raw-asyncpg-dep": ("no SQLAlchemy: asyncpg connection from a yield dependency", {}),
    "raw-asyncpg-tx": ("raw-asyncpg-dep, the write in BEGIN/COMMIT (write only)", {}),
}
# The levers that also serve POST /lever/{name}: the layers of a write.
WRITES = ["no-db", "raw-asyncpg-dep", "raw-asyncpg-tx", "core-connection", "orm-tx"]
# Levers without a read route.
WRITE_ONLY = ["raw-asyncpg-tx"]

engines: dict[str, AsyncEngine] = {}
write_engines: dict[str, AsyncEngine] = {}  # the same pools, in transactions
raw_pools: list[asyncpg.Pool] = []
makers: dict[str, async_sessionmaker[AsyncSession]] = {}


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    chosen = os.environ.get("BENCH_LEVERS", ",".join(LEVERS)).split(",")
    for name, (_, options) in LEVERS.items():
        # Only the chosen levers: every engine keeps up to pool_size connections open.
        if name not in chosen or name.startswith("raw-"):
            continue
        engine = create_async_engine(
            URL, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, **options
        )
        engines[name] = (
            engine.execution_options(**AUTOCOMMIT) if name == "core-connection" else engine
        )
        write_engines[name] = engine
        makers[name] = async_sessionmaker(engine, expire_on_commit=False)
    if {"raw-asyncpg", "raw-asyncpg-dep", "raw-asyncpg-tx"} & set(chosen):
        raw_pools.append(
            await asyncpg.create_pool(
                URL.replace("+asyncpg", ""),
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
                reset=_keep_connection_as_is,  # as the ceiling: no reset query on release
            )
        )
    yield
    for pool in raw_pools:
        await pool.close()
    for engine in engines.values():
        await engine.dispose()  # an option engine disposes of its parent's pool


async def _keep_connection_as_is(_connection: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query, as the ceiling does (nothing to reset here)."""


def session_dependency(
    name: str, *, autocommit: bool
) -> Callable[[], AsyncIterator[AsyncSession]]:
    async def get_db() -> AsyncIterator[AsyncSession]:
        async with makers[name]() as session:
            if autocommit:
                await session.connection(execution_options=AUTOCOMMIT)
            try:
                yield session
            except Exception:
                await session.rollback()
                raise

    return get_db


router = APIRouter(prefix="/lever")


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="Item not found")


def orm_route(name: str, *, autocommit: bool) -> None:
    Session = Annotated[
        AsyncSession, Depends(session_dependency(name, autocommit=autocommit), scope="function")
    ]

    async def read(item_id: ItemId, session: Session) -> ItemRead:
        item = await session.get(Item, item_id)
        if item is None:
            raise not_found()
        return ItemRead.model_validate(item)

    router.add_api_route(f"/{name}/{{item_id}}", read, methods=["GET"])


def core_route(
    name: str,
    *,
    scope: str = "function",
    respond: Callable[[Any], Any] = lambda row: ItemRead.model_validate(row),
    response_model: Any = ItemRead,
) -> None:
    Session = Annotated[
        AsyncSession, Depends(session_dependency(name, autocommit=True), scope=scope)
    ]

    async def read(item_id: ItemId, session: Session) -> Any:
        row = (await session.execute(ITEM_COLUMNS.where(Item.id == item_id))).one_or_none()
        if row is None:
            raise not_found()
        return respond(row._mapping)

    router.add_api_route(
        f"/{name}/{{item_id}}", read, methods=["GET"], response_model=response_model
    )


async def core_connection(item_id: ItemId) -> ItemRead:
    async with engines["core-connection"].connect() as connection:
        row = (await connection.execute(ITEM_COLUMNS.where(Item.id == item_id))).one_or_none()
    if row is None:
        raise not_found()
    return ItemRead.model_validate(row._mapping)


FIXED_ITEM = {
    "id": 1,
    "name": "fixed",
    "description": "the same item every time",
    "created_at": "2026-01-01T00:00:00+00:00",
}


async def no_db(item_id: ItemId) -> ItemRead:
    return ItemRead.model_validate({**FIXED_ITEM, "id": item_id})


orm_route("orm-ping-tx", autocommit=False)
orm_route("orm-tx", autocommit=False)
orm_route("orm-ping-autocommit", autocommit=True)
orm_route("orm-autocommit", autocommit=True)
core_route("core-session")
core_route("core-session-ping")
router.add_api_route("/core-connection/{item_id}", core_connection, methods=["GET"])
router.add_api_route("/no-db/{item_id}", no_db, methods=["GET"])
core_route("core-no-stmt-cache")
core_route("core-no-sql-cache")
core_route("core-session-dict", respond=dict)
core_route(
    "core-session-json",
    respond=lambda row: Response(
        ItemRead.model_validate(row).model_dump_json(), media_type="application/json"
    ),
    response_model=None,
)
core_route("core-request-scope", scope="request")

RAW_SELECT = "SELECT id, name, description, created_at FROM items WHERE id = $1"


@router.get("/raw-asyncpg/{item_id}")
async def raw_asyncpg(item_id: ItemId) -> ItemRead:
    row = await raw_pools[0].fetchrow(RAW_SELECT, item_id)
    if row is None:
        raise not_found()
    return ItemRead.model_validate(dict(row))


async def raw_connection() -> AsyncIterator[asyncpg.Connection]:
    async with raw_pools[0].acquire() as connection:
        yield connection


@router.get("/raw-asyncpg-dep/{item_id}")
async def raw_asyncpg_dep(
    item_id: ItemId,
    connection: Annotated[asyncpg.Connection, Depends(raw_connection, scope="function")],
) -> ItemRead:
    row = await connection.fetchrow(RAW_SELECT, item_id)
    if row is None:
        raise not_found()
    return ItemRead.model_validate(dict(row))


# --- writes: one layer at a time --------------------------------------------------------------

RAW_INSERT = (
    "INSERT INTO items (name, description) VALUES ($1, $2)"
    " RETURNING id, name, description, created_at"
)
RawConnection = Annotated[asyncpg.Connection, Depends(raw_connection, scope="function")]
OrmSession = Annotated[
    AsyncSession, Depends(session_dependency("orm-tx", autocommit=False), scope="function")
]


@router.post("/no-db", status_code=201)
async def no_db_write(data: ItemCreate) -> ItemRead:
    return ItemRead.model_validate({**FIXED_ITEM, **data.model_dump()})


@router.post("/raw-asyncpg-dep", status_code=201)
async def raw_asyncpg_dep_write(data: ItemCreate, connection: RawConnection) -> ItemRead:
    row = await connection.fetchrow(RAW_INSERT, data.name, data.description)
    return ItemRead.model_validate(dict(row))


@router.post("/raw-asyncpg-tx", status_code=201)
async def raw_asyncpg_tx_write(data: ItemCreate, connection: RawConnection) -> ItemRead:
    async with connection.transaction():
        row = await connection.fetchrow(RAW_INSERT, data.name, data.description)
    return ItemRead.model_validate(dict(row))


CORE_INSERT = Item.__table__.insert().returning(*ITEM_COLUMNS.selected_columns)


@router.post("/core-connection", status_code=201)
async def core_connection_write(data: ItemCreate) -> ItemRead:
    async with write_engines["core-connection"].begin() as connection:
        row = (await connection.execute(CORE_INSERT, data.model_dump())).one()
    return ItemRead.model_validate(row._mapping)


@router.post("/orm-tx", status_code=201)
async def orm_write(data: ItemCreate, session: OrmSession) -> ItemRead:
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    await session.commit()
    return ItemRead.model_validate(item)


app = FastAPI(lifespan=lifespan)
app.include_router(router)
