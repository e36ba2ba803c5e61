"""How far each standby trails the primary, measured from the servers in the background.

Every ``POLL_SECONDS`` the monitor notes the primary's WAL position with the
time it asked, and each standby's replayed position. A standby that has
replayed the position the primary had at time *t* has every transaction
committed before *t*, so it trails by at most ``now - t``; a standby that is
caught up trails by about one poll. This bound needs no clock but the
monitor's own, holds however far the WAL receiver itself lags, and covers a
standby held back on purpose (``recovery_min_apply_delay``). A promoted
standby trails nothing.

It runs on a request's path never: a read only looks at the last figures.
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
    root_cause,
)

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
QUERY_TIMEOUT_SECONDS = 1.0
# Positions of the primary kept for the lag bound: a minute of polls.
SAMPLES = int(60 / POLL_SECONDS)
PRIMARY_POSITION = text("SELECT pg_current_wal_lsn()::text")
STANDBY_POSITION = text(
    "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery()"
    " THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text"
)


def parse_lsn(lsn: str) -> int:
    """A WAL position (``16/B374D848``) as a number that orders like it."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class Position:
    """What the monitor last learnt of one standby."""

    replayed: int = -1
    lag: float = float("inf")
    problem: str | None = "not polled yet"


class LagMonitor:
    """Polls the primary and each standby (one connection each) and keeps their positions."""

    def __init__(self, primary: AsyncEngine, standbys: dict[str, AsyncEngine]) -> None:
        """Watch ``standbys`` (by name) against ``primary``."""
        self.primary = primary
        self._standbys = standbys
        self.positions = {name: Position() for name in standbys}
        self._samples: deque[tuple[float, int]] = deque(maxlen=SAMPLES)

    async def run(self) -> None:
        """Poll until cancelled; one failing poll never stops the next."""
        while True:
            try:
                await self.poll()
            except Exception:  # a bug here must not leave stale figures behind
                logger.exception("replica monitor: poll failed; standbys skipped until it works")
                for position in self.positions.values():
                    position.problem = "the monitor failed"
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """Note the primary's position, then each standby's replay and lag."""
        asked_at = time.monotonic()
        try:
            position = await self._query(self.primary, PRIMARY_POSITION)
        except Exception:  # no position this time: the standbys' bound just grows older
            logger.debug("replica monitor: no position from the primary", exc_info=True)
        else:
            self._samples.append((asked_at, parse_lsn(str(position[0]))))
        for name, engine in self._standbys.items():
            self._note(name, await self._standby_position(engine))

    async def _standby_position(self, engine: AsyncEngine) -> Position:
        try:
            in_recovery, replayed = await self._query(engine, STANDBY_POSITION)
        except DatabaseUnavailableError as exc:
            return Position(problem=str(exc))
        except TimeoutError:
            return Position(problem=f"no answer within {QUERY_TIMEOUT_SECONDS:g} s")
        except Exception as exc:  # noqa: BLE001 - any failure of the poll skips the standby
            # The monitor's statements carry no values: the driver's message is safe to show.
            cause = root_cause(exc)
            return Position(problem=f"{type(cause).__name__}: {cause}".splitlines()[0])
        at = parse_lsn(str(replayed))
        return Position(replayed=at, lag=self._trails_by(at) if in_recovery else 0.0, problem=None)

    def _note(self, name: str, found: Position) -> None:
        before = self.positions[name].problem
        if found.problem is not None and before is None:
            logger.warning("standby %s skipped: %s", name, found.problem)
        elif found.problem is None and before is not None:
            logger.info("standby %s answers the monitor again", name)
        self.positions[name] = found

    async def _query(self, engine: AsyncEngine, statement: TextClause) -> tuple[object, ...]:
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), engine.connect() as conn:
            return tuple((await conn.execute(statement)).one())

    def _trails_by(self, replayed: int) -> float:
        """Seconds since the newest primary position the standby has replayed."""
        now = time.monotonic()
        for asked_at, position in reversed(self._samples):
            if position <= replayed:
                return now - asked_at
        return float("inf")
