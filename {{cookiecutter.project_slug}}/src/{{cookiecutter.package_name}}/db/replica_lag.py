"""How far each standby trails the primary, measured from the servers in the background.

Every ``POLL_SECONDS`` the replica monitor notes the primary's WAL position
with the time it asked, and each standby's replayed position. A standby that
has replayed the position the primary had at time *t* has every transaction
committed before *t*, so it trails by at most ``now - t``; a standby that is
caught up trails by about one poll. This bound needs no clock but the
monitor's own, holds however far the WAL receiver itself lags, and covers a
standby held back on purpose (``recovery_min_apply_delay``).
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.redaction import (
    describe,
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


class StandbyUnreachableError(Exception):
    """The monitor could not read a standby's position; the message says why."""


@dataclass
class LagMonitor:
    """The primary's recent positions, against which each standby's replay is timed."""

    primary: AsyncEngine
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    async def note_primary(self) -> None:
        """Note the primary's position now; a failure only lets the bound grow older."""
        asked_at = time.monotonic()
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), self.primary.connect() as conn:
                position = await conn.scalar(PRIMARY_POSITION)
        except Exception:  # no position this time: the standbys' bound just grows older
            logger.debug("replica monitor: no position from the primary", exc_info=True)
        else:
            self._samples.append((asked_at, parse_lsn(str(position))))

    async def measure(self, standby: AsyncEngine) -> tuple[int, float]:
        """A standby's replayed position, and the seconds it trails the primary by."""
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), standby.connect() as conn:
                in_recovery, position = (await conn.execute(STANDBY_POSITION)).one()
        except DatabaseUnavailableError as exc:
            raise StandbyUnreachableError(str(exc)) from exc
        except TimeoutError as exc:
            msg = f"no answer within {QUERY_TIMEOUT_SECONDS:g} s"
            raise StandbyUnreachableError(msg) from exc
        except Exception as exc:  # any failure of the poll skips the standby
            raise StandbyUnreachableError(describe(exc)) from exc
        replayed = parse_lsn(position)
        return replayed, 0.0 if not in_recovery else self.trails_by(replayed)

    def trails_by(self, replayed: int) -> float:
        """Seconds since the newest primary position the standby has replayed."""
        now = time.monotonic()
        for asked_at, position in reversed(self._samples):
            if position <= replayed:
                return now - asked_at
        return float("inf")
