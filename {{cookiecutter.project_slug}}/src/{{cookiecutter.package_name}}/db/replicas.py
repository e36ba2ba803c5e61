"""Read replicas: ``DbReadSession`` on a standby when it is fresh enough, else on the primary.

``DATABASE_REPLICA_URL`` lists one or more streaming standbys (each host is
one standby with a pool of its own, built like the primary's). A read session
goes to a standby, in turn, only if:

- the standby answered the lag monitor's last poll (``db/replica_monitor.py``):
  one that is down, or stopped answering, is skipped and reads go to the
  primary without an error (a read already running on it when it stops
  answering waits out its statement deadline, then answers 503);
- it trails the primary by at most ``DATABASE_REPLICA_MAX_LAG`` seconds;
- it has replayed the client's own last write (``db/read_your_writes.py``);
- its pool has a connection free: a busy standby sends the read to the primary
  rather than queue it.
"""

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.config.database_hosts import (
    hosts_of,
)
from {{ cookiecutter.package_name }}.config.database_url import (
    canonical_url,
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
from {{ cookiecutter.package_name }}.db.replica_monitor import (
    LagMonitor,
    Position,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standby:
    """One standby's pool, and where its reads take turns."""

    name: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    admission: Admission


class Replicas:
    """The standbys of ``DATABASE_REPLICA_URL``, their pools and their lag monitor."""

    def __init__(
        self,
        settings: Settings,
        replica_url: URL,
        primary_url: URL,
        read_options: dict[str, object],
    ) -> None:
        """One pool per standby of ``replica_url``, and one monitor connection per server.

        ``read_options`` are the execution options of the primary's read sessions,
        so that a read runs the same way wherever it goes.
        """
        self.max_lag = settings.database_replica_max_lag
        monitoring = settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_max_overflow": 0,
                "database_slow_query_ms": 0.0,
                "database_pool_pre_ping": False,
            }
        )
        self.standbys: list[Standby] = []
        monitored: dict[str, AsyncEngine] = {}
        for host, port in hosts_of(replica_url):
            url = canonical_url(
                [(host, port)],
                username=replica_url.username,
                password=replica_url.password,
                database=replica_url.database,
                query={k: str(v) for k, v in replica_url.query.items() if k != "host"},
            )
            engine = create_engine_for(url, settings, role="replica")
            name = f"{host}:{port}"
            self.standbys.append(
                Standby(
                    name=name,
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
                )
            )
            monitored[name] = create_engine_for(url, monitoring, role="replica")
        self.monitor = LagMonitor(create_engine_for(primary_url, monitoring), monitored)
        self._engines = [*monitored.values(), self.monitor.primary]
        self._turn = itertools.cycle(range(len(self.standbys)))
        self._task: asyncio.Task[None] | None = None

    def choose(self, written: int | None) -> Standby | None:
        """The next standby that may serve a read, or ``None`` for the primary."""
        for _ in self.standbys:
            standby = self.standbys[next(self._turn)]
            if self._serves(self.monitor.positions[standby.name], written) and not (
                standby.admission.busy()
            ):
                return standby
        return None

    def _serves(self, position: Position, written: int | None) -> bool:
        return (
            position.problem is None
            and position.lag <= self.max_lag
            and (written is None or position.replayed >= written)
        )

    def states(self) -> dict[str, str]:
        """Each standby's state for the readiness probe (the reasons are in the log)."""
        states = {}
        for standby in self.standbys:
            position = self.monitor.positions[standby.name]
            if position.problem is not None:
                states[standby.name] = "skipped"
            elif position.lag > self.max_lag:
                states[standby.name] = "behind"
            else:
                states[standby.name] = f"ok, {position.lag:.1f} s behind"
        return states

    def skip(self, standby: Standby, problem: str) -> None:
        """Send reads elsewhere until the monitor reaches ``standby`` again."""
        if self.monitor.positions[standby.name].problem is None:
            logger.warning("standby %s skipped: %s", standby.name, problem)
        self.monitor.positions[standby.name] = Position(problem=problem)

    async def start(self) -> None:
        """Start the lag monitor (one per process)."""
        self._task = asyncio.create_task(self.monitor.run(), name="replica monitor")

    async def close(self) -> None:
        """Stop the monitor and close every standby's connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for engine in (*self._engines, *(standby.engine for standby in self.standbys)):
            await engine.dispose()
