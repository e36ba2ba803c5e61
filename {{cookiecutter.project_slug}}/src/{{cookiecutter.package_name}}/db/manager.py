"""The process's engine and session factories, owned by one object."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db.admission import (
    Admission,
)
from {{ cookiecutter.package_name }}.db.credentials import (
    PasswordSource,
)
from {{ cookiecutter.package_name }}.db.engine import (
    create_engine_for,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    READ_ONLY,
    ReadOnlySession,
)
from {{ cookiecutter.package_name }}.db.readiness import (
    # The innermost session the current task opened through a manager, while it is open.
    PrimaryCheck,
)

OPEN_SESSION: ContextVar[AsyncSession | None] = ContextVar("open_session", default=None)


class DatabaseSessionManager:
    """Owns the async engine (its connection pool) and the session factories.

    Create one per process where its lifetime is clear: in the app's lifespan,
    or with ``async with`` in a script. Creating it does not connect; disposing
    it closes every pooled connection.
    """

    def __init__(
        self, settings: Settings, *, job: bool = False, password: PasswordSource | None = None
    ) -> None:
        """Build the engine and session factories from ``settings``.

        ``job=True`` gives the longer deadline of migrations and command-line
        jobs (``DATABASE_JOB_TIMEOUT``) instead of a request's. ``password``
        supplies the password for each new connection (``db/credentials.py``).
        """
        self.settings = settings
        self.engine = create_engine_for(
            settings.database_url_object, settings, job=job, password=password
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # With DATABASE_AUTOCOMMIT_READS (the default), reads run in autocommit:
        # one round trip per query, no BEGIN/ROLLBACK. Not behind PgBouncer,
        # where the connection settings must travel with every transaction;
        # there, and when it is off, a read is a READ ONLY transaction.
        in_autocommit = settings.database_autocommit_reads and settings.database_pooler == "none"
        transaction = (
            {"isolation_level": "AUTOCOMMIT"} if in_autocommit else {"postgresql_readonly": True}
        )
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}, **transaction),
            expire_on_commit=False,
            sync_session_class=ReadOnlySession,
        )
        self.readiness = PrimaryCheck(self.engine)
        # Sessions take turns for the pool's connections (see db/admission.py).
        self.admission = Admission(
            settings.database_pool_size + settings.database_max_overflow,
            settings.database_pool_timeout,
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        """Use the manager for the duration of a block."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Dispose of the engine when the block ends."""
        await self.close()

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: any flush or write statement raises.

        With ``DATABASE_AUTOCOMMIT_READS`` (the default; not behind PgBouncer)
        each query runs on its own, as its own snapshot: a read whose queries
        must agree should use ``session()``. See ``db/read_only.py``.
        """
        async with self.admission.slot(), self.read_sessionmaker() as session:
            token = OPEN_SESSION.set(session)
            try:
                yield session
            finally:
                OPEN_SESSION.reset(token)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session that is rolled back on error and always closed.

        It never commits: call ``await session.commit()`` when the work is done.
        ``async with`` shields the close from cancellation, so a cancelled
        request still returns its connection to the pool.
        """
        async with self.admission.slot(), self.sessionmaker() as session:
            token = OPEN_SESSION.set(session)
            try:
                yield session
            except Exception:
                await session.rollback()
                raise
            finally:
                OPEN_SESSION.reset(token)
