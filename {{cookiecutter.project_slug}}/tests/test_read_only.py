"""Read sessions refuse every write before it is sent, and commit nothing.

Whatever ``DATABASE_AUTOCOMMIT_READS`` says: in autocommit a write would be
committed at once, so the refusal must come first. The probe table is made for
these tests and dropped afterwards; its rows are counted through a write session.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Sequence, Table, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateTable, DropTable

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
    ReadOnlySessionError,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    is_read,
)

Scope = Callable[[], AbstractContextManager[object]]


class Base(DeclarativeBase):
    """Models of these tests only."""


class Probe(Base):
    """A row a read session must never write."""

    __tablename__ = "read_only_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    note: Mapped[str]


PROBES = Table("read_only_probe", Base.metadata)
# The sequence behind the probe's id (a SERIAL): nextval() writes.
PROBE_IDS = Sequence("read_only_probe_id_seq", metadata=Base.metadata)


@pytest.fixture(params=[True, False], ids=["autocommit", "transaction"])
async def reader(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[DatabaseSessionManager]:
    """A session manager whose reads run in autocommit, or in a transaction."""
    chosen = settings.model_copy(update={"database_autocommit_reads": request.param})
    async with DatabaseSessionManager(chosen) as manager:
        yield manager


@pytest.fixture
async def probe_table(
    sessionmanager: DatabaseSessionManager, test_scope: Scope
) -> AsyncIterator[None]:
    """The probe table, empty, for one test."""
    with test_scope():
        async with sessionmanager.session() as session:
            await session.execute(CreateTable(PROBES, if_not_exists=True))
            await session.commit()
    yield
    with test_scope():
        async with sessionmanager.session() as session:
            await session.execute(DropTable(PROBES, if_exists=True))
            await session.commit()


async def add_and_flush(session: AsyncSession) -> None:
    session.add(Probe(id=1, note="written"))
    await session.flush()


async def add_and_commit(session: AsyncSession) -> None:
    session.add(Probe(id=2, note="written"))
    await session.commit()


async def orm_insert(session: AsyncSession) -> None:
    await session.execute(insert(Probe).values(id=3, note="written"))


async def core_update(session: AsyncSession) -> None:
    await session.execute(update(PROBES).values(note="changed"))


async def hand_written_insert(session: AsyncSession) -> None:
    await session.execute(text("INSERT INTO read_only_probe (id, note) VALUES (4, 'written')"))


async def insert_in_a_cte(session: AsyncSession) -> None:
    inserted = "INSERT INTO read_only_probe VALUES (5, 'x') RETURNING id"
    await session.execute(text(f"WITH new AS ({inserted}) SELECT * FROM new"))  # noqa: S608


async def locking_read(session: AsyncSession) -> None:
    await session.execute(select(Probe).with_for_update())


async def ddl(session: AsyncSession) -> None:
    await session.execute(text("CREATE TABLE read_only_other (id int)"))


WRITES = [
    add_and_flush,
    add_and_commit,
    orm_insert,
    core_update,
    hand_written_insert,
    insert_in_a_cte,
    locking_read,
    ddl,
]


@pytest.mark.usefixtures("probe_table")
@pytest.mark.parametrize("write", WRITES, ids=[w.__name__ for w in WRITES])
async def test_a_read_session_refuses_every_write_and_commits_nothing(
    reader: DatabaseSessionManager,
    sessionmanager: DatabaseSessionManager,
    test_scope: Scope,
    write: Callable[[AsyncSession], Awaitable[None]],
) -> None:
    with test_scope():
        with pytest.raises(ReadOnlySessionError, match="DbSession"):
            async with reader.read_session() as session:
                await write(session)
        async with sessionmanager.session() as session:
            assert await session.scalar(select(func.count()).select_from(Probe)) == 0


@pytest.mark.usefixtures("probe_table")
async def test_a_read_session_reads(
    reader: DatabaseSessionManager, sessionmanager: DatabaseSessionManager, test_scope: Scope
) -> None:
    with test_scope():
        async with sessionmanager.session() as session:
            session.add(Probe(id=7, note="stored"))
            await session.commit()
        async with reader.read_session() as session:
            assert (await session.get(Probe, 7)) is not None
            assert await session.scalar(text("SELECT count(*) FROM (VALUES (1)) AS v")) == 1


@pytest.mark.parametrize(
    ("statement", "reads"),
    [
        ("SELECT * FROM items WHERE id = $1", True),
        ("  /* note */ select 1", True),
        ("WITH a AS (SELECT 1) SELECT * FROM a", True),
        ("SELECT 'insert into x' AS text", True),
        ('SELECT "delete" FROM t', True),
        ("SELECT updated_at, inserted FROM t", True),
        ("SHOW search_path", True),
        ("SELECT t.update, t.delete, t.insert FROM t WHERE t.delete = 1", True),
        ("SAVEPOINT sa_savepoint_1", True),
        ("ROLLBACK TO SAVEPOINT sa_savepoint_1", True),
        ("INSERT INTO items (name) VALUES ($1)", False),
        ("update items set name = $1", False),
        ('UPDATE "items" SET name = $1', False),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", False),
        ("SELECT * INTO copy FROM t", False),
        ("SELECT * FROM t FOR NO KEY UPDATE", False),
        ("SELECT * FROM t FOR SHARE", False),
        ("SET search_path = x", False),
        ("CALL refresh()", False),
        ("EXPLAIN ANALYZE DELETE FROM t", False),
        ("", False),
    ],
)
def test_which_statements_read(statement: str, reads: bool) -> None:  # noqa: FBT001
    assert is_read(statement) is reads


@pytest.mark.usefixtures("probe_table")
async def test_a_read_session_in_a_transaction_may_nest_a_savepoint(
    settings: Settings, test_scope: Scope
) -> None:
    in_transaction = settings.model_copy(update={"database_autocommit_reads": False})
    async with DatabaseSessionManager(in_transaction) as manager:
        with test_scope():
            async with manager.read_session() as session, session.begin_nested():
                assert await session.scalar(select(func.count()).select_from(Probe)) == 0


@pytest.mark.usefixtures("probe_table")
async def test_a_function_that_writes_is_a_bug_not_a_failover(
    settings: Settings, test_scope: Scope
) -> None:
    """In a READ ONLY transaction the server refuses it (25006): the pool stays as it is."""
    in_transaction = settings.model_copy(update={"database_autocommit_reads": False})
    async with DatabaseSessionManager(in_transaction) as manager:
        with test_scope(), pytest.raises(DBAPIError) as refused:
            async with manager.read_session() as session:
                await session.execute(select(PROBE_IDS.next_value()))
    assert getattr(refused.value.orig, "sqlstate", None) == "25006"
    assert not refused.value.connection_invalidated
