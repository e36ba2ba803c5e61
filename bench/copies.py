"""Copies of the default bake with one change each: levers measured beside a control copy.

A lever earns its place in the template only if it beats the difference between
two identical copies (``again``, the control) in the same run. Each copy is the
default bake, copied, with its edits applied to the package's source (an edit
whose text is not found stops the run: a lever must never silently measure the
shipped code) and its own environment, then installed with ``uv sync``.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bench.plan import PACKAGE
from bench.servers import install


@dataclass(frozen=True)
class Copy:
    """A lever: edits to the default bake's package, and settings."""

    description: str
    edits: tuple[tuple[str, str, str], ...] = ()  # (file in the package, old text, new text)
    env: dict[str, str] = field(default_factory=dict)


BY_ID = 'BY_ID = select(Item).where(Item.id == bindparam("item_id"))'
GET_ITEM = """    return (await session.scalars(BY_ID, {"item_id": item_id})).one_or_none()"""
CREATE_ITEM = """    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    return item"""

COPIES: dict[str, Copy] = {
    "again": Copy("control: the default bake again, unchanged"),
    "session-get": Copy(
        "reads with session.get, a statement built per call (the shipped code builds it once)",
        edits=(("items/service.py", GET_ITEM, "    return await session.get(Item, item_id)"),),
    ),
    "columns": Copy(
        "reads select the four columns; the response is built from the row, no ORM object",
        edits=(
            (
                "items/service.py",
                BY_ID,
                BY_ID + "\nBY_ID_COLUMNS = select(Item.id, Item.name, Item.description,"
                " Item.created_at).where(Item.id == bindparam('item_id'))",
            ),
            (
                "items/service.py",
                GET_ITEM,
                '    found = await session.execute(BY_ID_COLUMNS, {"item_id": item_id})\n'
                "    return found.mappings().one_or_none()  # type: ignore[return-value]",
            ),
        ),
    ),
    "insert-returning": Copy(
        "writes with an ORM INSERT ... RETURNING (no unit of work, no refresh)",
        edits=(
            (
                "items/service.py",
                CREATE_ITEM,
                "    statement = insert(Item).values(**data.model_dump()).returning(Item)\n"
                "    return (await session.scalars(statement)).one()",
            ),
            (
                "items/service.py",
                "from sqlalchemy import bindparam, select",
                "from sqlalchemy import bindparam, insert, select",
            ),
        ),
    ),
    "no-access-line": Copy(
        "the access line off (LOG_LEVEL=WARNING)", env={"LOG_LEVEL": "WARNING"}
    ),
    "no-slow-query-timing": Copy(
        "the slow-query timing off (DATABASE_SLOW_QUERY_MS=0)", env={"DATABASE_SLOW_QUERY_MS": "0"}
    ),
    "ping-after-60": Copy(
        "the idle-connection ping only after 60 s idle, not 1 s: under callgrind's slowdown a"
        " pooled connection can sit idle for a second between requests at 64 connections",
        env={"DATABASE_POOL_PING_AFTER": "60"},
    ),
    "read-session-exit-stack": Copy(
        "read_session builds an AsyncExitStack even with no replica (the shipped code skips it)",
        edits=(
            (
                "db/manager.py",
                """        if self.replicas is None:  # the primary alone: no exit stack to build
            async with self.admission.slot(), self.read_sessionmaker() as primary:
                with _open(primary):
                    yield primary
            return
        async with AsyncExitStack() as stack:
            session = await self._standby_session(self.replicas, stack)
            if session is None:""",
                """        async with AsyncExitStack() as stack:
            session = None
            if self.replicas is not None:
                session = await self._standby_session(self.replicas, stack)
            if session is None:""",
            ),
        ),
    ),
    "admission-timer-always": Copy(
        "the admission queue arms its timeout for every slot (the shipped code: only to wait)",
        edits=(
            (
                "db/admission.py",
                """            if self._slots.locked():
                async with asyncio.timeout(self._timeout):
                    await self._slots.acquire()
            else:  # free now: acquire() takes it without waiting
                await self._slots.acquire()""",
                """            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()""",
            ),
        ),
    ),
    "no-pieces": Copy(
        "the app's own pieces off: access line, slow-query timing, idle-connection ping",
        env={
            "LOG_LEVEL": "WARNING",
            "DATABASE_SLOW_QUERY_MS": "0",
            "DATABASE_POOL_PRE_PING": "false",
        },
    ),
}


def make_copy(default: Path, workdir: Path, name: str, python: str) -> Path:
    """The default bake copied to ``workdir/copy-NAME``, edited and installed."""
    copy = COPIES[name]
    target = workdir / f"copy-{name}"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(default, target, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for relative, old, new in copy.edits:
        path = target / "src" / PACKAGE / relative
        text = path.read_text()
        if old not in text:
            msg = f"copy {name}: {relative} no longer holds the text this lever replaces"
            raise RuntimeError(msg)
        path.write_text(text.replace(old, new))
    install(target, python)
    return target
