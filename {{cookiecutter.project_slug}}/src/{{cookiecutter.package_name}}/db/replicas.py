"""Read replicas: ``DbReadSession`` on a standby when it is fresh enough, else on the primary.

``DATABASE_REPLICA_URL`` lists one or more streaming standbys (each host is
one standby with a pool of its own, built like the primary's). A read session
goes to a standby, in turn, only if:

- the standby answered the monitor's last poll (a standby that is down is
  skipped, and reads go to the primary without an error);
- it trails the primary by at most ``DATABASE_REPLICA_MAX_LAG`` seconds;
- it has replayed the client's own last write (``db/read_your_writes.py``).

The lag is measured from the servers, in the background, never on a request's
path (``db/replica_lag.py``).
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.config.database_url import (
    canonical_url,
    hosts_of,
)
from {{ cookiecutter.package_name }}.db.admission import (
    Admission,
)
from {{ cookiecutter.package_name }}.db.engine import (
    create_engine_for,
)
from {{ cookiecutter.package_name }}.db.read_only import (
    ReadOnlySession,
)
from {{ cookiecutter.package_name }}.db.replica_lag import (
    POLL_SECONDS,
    LagMonitor,
    StandbyUnreachableError,
)

logger = logging.getLogger(__name__)


@dataclass
class Standby:
    """One standby: its pool, and what the monitor last learnt of it."""

    name: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    admission: Admission
    monitor: AsyncEngine
    replayed: int = -1
    lag: float = float("inf")
    problem: str | None = "not polled yet"

    def serves(self, max_lag: float, written: int | None) -> bool:
        """Whether a read may go here: up, fresh enough, past the client's last write."""
        return (
            self.problem is None
            and self.lag <= max_lag
            and (written is None or self.replayed >= written)
        )

    def state(self) -> str:
        """For the readiness probe: ``ok``, its lag, or why it is skipped."""
        if self.problem is not None:
            return f"skipped: {self.problem}"
        return f"ok, {self.lag:.1f} s behind"


@dataclass
class Replicas:
    """The standbys of ``DATABASE_REPLICA_URL``, and the monitor that keeps their lag."""

    standbys: list[Standby]
    lag: LagMonitor
    max_lag: float
    _turn: Iterator[int] = field(init=False)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._turn = itertools.cycle(range(len(self.standbys)))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        replica_url: URL,
        primary_url: URL,
        read_options: dict[str, object],
    ) -> "Replicas":
        """One pool per standby of ``replica_url``, and one connection each for the monitor.

        ``read_options`` are the execution options of the primary's read sessions,
        so that a read runs the same way wherever it goes.
        """
        monitor_settings = settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_slow_query_ms": 0.0,
                "database_pool_pre_ping": False,
            }
        )
        standbys = []
        for host, port in hosts_of(replica_url):
            url = canonical_url(
                [(host, port)],
                username=replica_url.username,
                password=replica_url.password,
                database=replica_url.database,
                query={k: str(v) for k, v in replica_url.query.items() if k != "host"},
            )
            engine = create_engine_for(url, settings, role="replica")
            standbys.append(
                Standby(
                    name=f"{host}:{port}",
                    engine=engine,
                    sessionmaker=async_sessionmaker(
                        engine.execution_options(**read_options),
                        expire_on_commit=False,
                        sync_session_class=ReadOnlySession,
                    ),
                    admission=Admission(
                        settings.database_pool_size + settings.database_max_overflow,
                        settings.database_pool_timeout,
                    ),
                    monitor=create_engine_for(url, monitor_settings, role="replica"),
                )
            )
        lag = LagMonitor(create_engine_for(primary_url, monitor_settings))
        return cls(standbys, lag, settings.database_replica_max_lag)

    def choose(self, written: int | None) -> Standby | None:
        """The next standby that may serve a read, or ``None`` for the primary."""
        for _ in self.standbys:
            standby = self.standbys[next(self._turn)]
            if standby.serves(self.max_lag, written):
                return standby
        return None

    def states(self) -> dict[str, str]:
        """Each standby's state, for the readiness probe."""
        return {standby.name: standby.state() for standby in self.standbys}

    def skip(self, standby: Standby, problem: str) -> None:
        """Send reads elsewhere until the monitor reaches ``standby`` again."""
        if standby.problem is None:
            logger.warning("standby %s skipped: %s", standby.name, problem)
        standby.problem = problem

    async def start(self) -> None:
        """Start the monitor (one per process)."""
        self._task = asyncio.create_task(self._monitor(), name="replica monitor")

    async def close(self) -> None:
        """Stop the monitor and close every standby's connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.lag.primary.dispose()
        for standby in self.standbys:
            await standby.engine.dispose()
            await standby.monitor.dispose()

    async def _monitor(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """Note the primary's position, then each standby's replay and lag."""
        await self.lag.note_primary()
        for standby in self.standbys:
            try:
                standby.replayed, standby.lag = await self.lag.measure(standby.monitor)
            except StandbyUnreachableError as exc:
                self.skip(standby, str(exc))
                continue
            if standby.problem is not None:
                logger.info("standby %s serves reads again", standby.name)
            standby.problem = None
