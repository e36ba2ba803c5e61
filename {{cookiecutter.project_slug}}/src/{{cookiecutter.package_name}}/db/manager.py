"""The process's engines and session factories, owned by one object."""

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Self

from sqlalchemy.exc import TimeoutError as PoolTimeoutError
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
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    READ_ONLY,
    ReadOnlySession,
)
from {{ cookiecutter.package_name }}.db.read_your_writes import (
    WriteSession,
    written_position,
)
from {{ cookiecutter.package_name }}.db.readiness import (
    PrimaryCheck,
)
from {{ cookiecutter.package_name }}.db.replica_monitor import (
    parse_lsn,
)
from {{ cookiecutter.package_name }}.db.replicas import (
    Replicas,
)

# The sessions the current task opened through a manager and has not closed yet.
OPEN_SESSIONS: ContextVar[tuple[AsyncSession, ...]] = ContextVar("open_sessions", default=())


@contextmanager
def _open(session: AsyncSession) -> Iterator[None]:
    """Count ``session`` among the task's open sessions for the block."""
    token = OPEN_SESSIONS.set((*OPEN_SESSIONS.get(), session))
    try:
        yield
    finally:
        OPEN_SESSIONS.reset(token)


class DatabaseSessionManager:
    """Owns the async engines (their connection pools) and the session factories.

    Create one per process where its lifetime is clear: in the app's lifespan,
    or with ``async with`` in a script. Creating it does not connect; entering
    it starts the read replicas' monitor, if any; leaving it closes every
    pooled connection.
    """

    def __init__(
        self, settings: Settings, *, job: bool = False, password: PasswordSource | None = None
    ) -> None:
        """Build the engines and session factories from ``settings``.

        ``job=True`` gives the longer deadline of migrations and command-line
        jobs (``DATABASE_JOB_TIMEOUT``) instead of a request's, and reads on the
        primary. ``password`` supplies the password for each new connection
        (``db/credentials.py``).
        """
        self.settings = settings
        url = settings.database_url_object
        self.engine = create_engine_for(url, settings, job=job, password=password)
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=WriteSession
        )
        # With DATABASE_AUTOCOMMIT_READS (the default), reads run in autocommit:
        # one round trip per query, no BEGIN/ROLLBACK. Not behind PgBouncer,
        # where the connection settings must travel with every transaction;
        # there, and when it is off, a read is a READ ONLY transaction.
        in_autocommit = settings.database_autocommit_reads and settings.database_pooler == "none"
        read_options: dict[str, object] = {
            READ_ONLY: True,
            **(
                {"isolation_level": "AUTOCOMMIT"}
                if in_autocommit
                else {"postgresql_readonly": True}
            ),
        }
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(**read_options),
            expire_on_commit=False,
            sync_session_class=ReadOnlySession,
        )
        replica_url = settings.replica_url_object
        self.replicas = (
            Replicas(settings, replica_url, url, read_options)
            if replica_url is not None and not job
            else None
        )
        self.readiness = PrimaryCheck(self.engine)
        # Sessions take turns for the pool's connections (see db/admission.py).
        self.admission = Admission(
            settings.database_pool_size + settings.database_max_overflow,
            settings.database_pool_timeout,
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        if self.replicas is not None:
            await self.replicas.close()
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        """Use the manager for the duration of a block."""
        if self.replicas is not None:
            await self.replicas.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Dispose of the engines when the block ends."""
        await self.close()

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: any flush or write statement raises.

        It runs on a read replica when one is up, fresh enough and not busy (see
        ``db/replicas.py``), else on the primary. With ``DATABASE_AUTOCOMMIT_READS``
        (the default; not behind PgBouncer) each query runs on its own, as its
        own snapshot: a read whose queries must agree should use ``session()``.
        See ``db/read_only.py``.
        """
        if self.replicas is None:  # the primary alone: no exit stack to build
            async with self.admission.slot(), self.read_sessionmaker() as primary:
                with _open(primary):
                    yield primary
            return
        async with AsyncExitStack() as stack:
            session = await self._standby_session(self.replicas, stack)
            if session is None:
                await stack.enter_async_context(self.admission.slot())
                session = await stack.enter_async_context(self.read_sessionmaker())
            with _open(session):
                yield session

    @staticmethod
    async def _standby_session(replicas: Replicas, stack: AsyncExitStack) -> AsyncSession | None:
        """A read session on a standby, connected already; ``None`` to read on the primary."""
        written = written_position()
        try:
            position = parse_lsn(written) if written else None
        except ValueError:  # a cookie that is not a position: read on the primary
            return None
        standby = replicas.choose(position)
        if standby is None:
            return None
        attempt = AsyncExitStack()
        try:
            await attempt.enter_async_context(standby.admission.slot())
            session = await attempt.enter_async_context(standby.sessionmaker())
            await session.connection()  # a standby that is down gives way to the primary
        except DatabaseUnavailableError as exc:
            await attempt.aclose()
            replicas.skip(standby, str(exc))
            return None
        except PoolTimeoutError:  # busy after all: the primary serves this read
            await attempt.aclose()
            return None
        except BaseException:
            await attempt.aclose()
            raise
        await stack.enter_async_context(attempt)
        return session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session that is rolled back on error and always closed.

        It never commits: call ``await session.commit()`` when the work is done.
        ``async with`` shields the close from cancellation, so a cancelled
        request still returns its connection to the pool.
        """
        async with self.admission.slot(), self.sessionmaker() as session:
            with _open(session):
                try:
                    yield session
                except Exception:
                    await session.rollback()
                    raise
