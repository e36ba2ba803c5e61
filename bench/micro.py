"""Per-query cost of the database layer alone, without HTTP: CPU microseconds per call.

Run with a generated project's interpreter, against a migrated and seeded
database (for example one ``python -m bench --keep`` left behind)::

    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/DB \\
        path/to/project/.venv/bin/python bench/micro.py

Each line reads one item by id the way it names, 3,000 times after 200
warm-up calls, and prints wall and CPU microseconds per read. It shows where
the time between the generated app and raw asyncpg goes: pool checkout and
check-in, the pre-ping, BEGIN/ROLLBACK, the ORM.
"""

import asyncio
import importlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
Item: Any = importlib.import_module(f"{PACKAGE}.items.models").Item
URL = os.environ["BENCH_DATABASE_URL"]
CALLS = 3_000
COLUMNS = select(Item.id, Item.name, Item.description, Item.created_at)


def item_id() -> int:
    return random.randint(1, 1000)


async def measure(name: str, read: Callable[[], Awaitable[object]]) -> None:
    for _ in range(200):
        await read()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        await read()
    wall_us = (time.perf_counter() - wall) / CALLS * 1e6
    cpu_us = (time.process_time() - cpu) / CALLS * 1e6
    print(f"{name:58s} {wall_us:6.0f} us wall {cpu_us:6.0f} us cpu")


async def main() -> None:
    pinged = create_async_engine(URL, pool_size=5, max_overflow=10, pool_pre_ping=True)
    plain = create_async_engine(URL, pool_size=5, max_overflow=10)
    autocommit = plain.execution_options(isolation_level="AUTOCOMMIT")
    sessions = async_sessionmaker(pinged, expire_on_commit=False)
    unpinged_sessions = async_sessionmaker(plain, expire_on_commit=False)

    async def generated() -> object:
        async with sessions() as session:
            return await session.get(Item, item_id())

    async def no_ping() -> object:
        async with unpinged_sessions() as session:
            return await session.get(Item, item_id())

    async def no_ping_autocommit() -> object:
        async with unpinged_sessions(bind=autocommit) as session:
            return await session.get(Item, item_id())

    async def core_checkout_autocommit() -> object:
        async with autocommit.connect() as connection:
            return (await connection.execute(COLUMNS.where(Item.id == item_id()))).one()

    async with autocommit.connect() as held:

        async def core_held_connection() -> object:
            return (await held.execute(COLUMNS.where(Item.id == item_id()))).one()

        reads = [
            ("ORM session.get, pre-ping, BEGIN/ROLLBACK (the generated app)", generated),
            ("ORM session.get, no pre-ping", no_ping),
            ("ORM session.get, no pre-ping, autocommit", no_ping_autocommit),
            ("Core, pool checkout per read, autocommit", core_checkout_autocommit),
            ("Core on one connection held throughout (no checkout)", core_held_connection),
        ]
        for name, read in reads:
            await measure(name, read)

    pool = await asyncpg.create_pool(URL.replace("+asyncpg", ""), min_size=1, max_size=5)
    sql = "SELECT id, name, description, created_at FROM items WHERE id = $1"

    async def raw() -> object:
        async with pool.acquire() as connection:
            return await connection.fetchrow(sql, item_id())

    await measure("raw asyncpg: pool acquire + fetchrow (the ceiling)", raw)
    await pool.close()
    for engine in (pinged, plain):
        await engine.dispose()


if __name__ == "__main__":
    try:
        import uvloop  # what the served apps run on
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
