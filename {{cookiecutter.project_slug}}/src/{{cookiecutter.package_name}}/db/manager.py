"""The process's engine and session factory, owned by one object."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.db.admission import (
    Admission,
)
from {{ cookiecutter.package_name }}.db.deadlines import (
    invalidate_on_timeout,
    server_deadlines,
)
from {{ cookiecutter.package_name }}.db.liveness import (
    check_liveness_on_checkout,
)
from {{ cookiecutter.package_name }}.db.pooler import (
    TRANSACTION_POOLER_CONNECT_ARGS,
    apply_per_transaction,
)
from {{ cookiecutter.package_name }}.db.slow_queries import (
    log_slow_queries,
)

# A job's client deadline trails the server's, so the server cancels first.
JOB_CLIENT_MARGIN_SECONDS = 5.0


class DatabaseSessionManager:
    """Owns the async engine (its connection pool) and the session factory.

    Create one per process where its lifetime is clear: in the app's lifespan,
    or with ``async with`` in a script. Creating it does not connect; disposing
    it closes every pooled connection.
    """

    def __init__(self, settings: Settings, *, job: bool = False) -> None:
        """Build the engine and session factory from ``settings``.

        ``job=True`` gives the longer deadline of migrations and command-line
        jobs (``DATABASE_JOB_TIMEOUT``) instead of a request's.
        """
        self.settings = settings
        if job:
            server_timeout = settings.database_job_timeout
            client_timeout = server_timeout + JOB_CLIENT_MARGIN_SECONDS
        else:
            server_timeout = settings.database_statement_timeout
            client_timeout = settings.database_command_timeout
        connection_settings = {
            **settings.schema_server_settings(),
            **server_deadlines(server_timeout, settings.database_idle_in_transaction_timeout),
        }
        behind_pgbouncer = settings.database_pooler == "pgbouncer"
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url_object,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            # The connection returned last goes out first: under light load a
            # few connections stay busy and skip the idle ping (db/liveness.py)
            # while the rest sit idle, instead of every one idling in turn.
            pool_use_lifo=True,
            pool_timeout=settings.database_pool_timeout,
            pool_recycle=settings.database_pool_recycle,
            echo=settings.database_echo,
            # Errors and echoed SQL show the statement, never its parameters.
            hide_parameters=True,
            connect_args={
                "timeout": settings.database_connect_timeout,
                "command_timeout": client_timeout,
                "server_settings": {
                    "application_name": settings.app_name,
                    **({} if behind_pgbouncer else connection_settings),
                },
                **(TRANSACTION_POOLER_CONNECT_ARGS if behind_pgbouncer else {}),
            },
        )
        invalidate_on_timeout(self.engine)
        if settings.database_pool_pre_ping:
            check_liveness_on_checkout(
                self.engine,
                settings.database_pool_ping_after,
                ping_in_transaction=behind_pgbouncer,
            )
        if settings.database_slow_query_ms:
            log_slow_queries(self.engine, settings.database_slow_query_ms)
        if behind_pgbouncer:
            apply_per_transaction(self.engine, connection_settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # With DATABASE_AUTOCOMMIT_READS (the default), reads run in autocommit:
        # one round trip per query, no BEGIN/ROLLBACK. Not behind PgBouncer,
        # where the connection settings must travel with every transaction.
        reads_in_autocommit = settings.database_autocommit_reads and not behind_pgbouncer
        read_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if reads_in_autocommit
            else self.engine
        )
        self.read_sessionmaker = async_sessionmaker(read_engine, expire_on_commit=False)
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
        """Like ``session()``, for endpoints that only read.

        With ``DATABASE_AUTOCOMMIT_READS`` (the default; not behind PgBouncer)
        each query runs on its own, as its own snapshot: a read whose queries
        must agree should use ``session()``.
        """
        async with self.admission.slot(), self.read_sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session that is rolled back on error and always closed.

        It never commits: call ``await session.commit()`` when the work is done.
        ``async with`` shields the close from cancellation, so a cancelled
        request still returns its connection to the pool.
        """
        async with self.admission.slot(), self.sessionmaker() as session:
            try:
                yield session
            except Exception:
                await session.rollback()
                raise
