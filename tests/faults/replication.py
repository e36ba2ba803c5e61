"""A primary and its streaming standby, made for one test and thrown away.

Both are ``ThrowawayCluster``s on free loopback ports: the primary from
``initdb``, the standby from ``pg_basebackup -R`` of it. The methods do what a
managed failover or an operator does to them, and wait until it took effect.
"""

import asyncio
import time

import asyncpg

from tests.faults.cluster import ThrowawayCluster


async def _value(url: str, query: str) -> object:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


def value(url: str, query: str) -> object:
    """The first value of ``query`` on a connection of its own."""
    return asyncio.run(_value(url, query))


class ReplicatedPair:
    """``primary`` and ``standby``, both running once made."""

    def __init__(self, **settings: str) -> None:
        """Make and start both with ``settings``; the standby streams when this returns."""
        self.primary = ThrowawayCluster()
        self.primary.start(**settings)
        self.standby = ThrowawayCluster(standby_of=self.primary)
        self.standby.start(**settings)
        self.wait_until_caught_up()

    @property
    def clusters(self) -> dict[str, ThrowawayCluster]:
        """Both servers, by role at the start."""
        return {"primary": self.primary, "standby": self.standby}

    def url(self, cluster: ThrowawayCluster, database: str = "postgres") -> str:
        """An asyncpg URL of ``database`` on ``cluster``."""
        return f"postgresql://postgres@127.0.0.1:{cluster.port}/{database}"

    def wait_until_caught_up(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed all the primary has written."""
        target = value(self.url(self.primary), "SELECT pg_current_wal_lsn()::text")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        deadline = time.monotonic() + timeout
        while not value(self.url(self.standby), query):
            if time.monotonic() > deadline:
                msg = f"the standby did not replay up to {target} within {timeout} s"
                raise TimeoutError(msg)
            time.sleep(0.05)

    def hold_standby_back(self, seconds: float) -> None:
        """Keep the standby ``seconds`` behind the primary (``recovery_min_apply_delay``)."""
        self._set(self.standby, "recovery_min_apply_delay", f"{int(seconds * 1000)}ms")

    def fence_primary(self, timeout: float = 10) -> None:
        """Make the primary refuse writes while it keeps running, as a managed failover does.

        Returns once no transaction is left writing: ``default_transaction_read_only``
        applies to transactions begun after each backend has read the new setting, so
        a write already under way may still commit after the reload.
        """
        self._set(self.primary, "default_transaction_read_only", "on")
        writing = "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # twice in a row, 0.1 s apart
            quiet = quiet + 1 if value(self.url(self.primary), writing) == 0 else 0
            if time.monotonic() > deadline:
                msg = f"transactions still writing on the fenced primary after {timeout} s"
                raise TimeoutError(msg)
            time.sleep(0.1)

    def _set(self, cluster: ThrowawayCluster, name: str, setting: str) -> None:
        async def apply() -> None:
            connection = await asyncpg.connect(self.url(cluster), timeout=10)
            try:
                await connection.execute(f"ALTER SYSTEM SET {name} = '{setting}'")
                await connection.execute("SELECT pg_reload_conf()")
            finally:
                await connection.close()

        asyncio.run(apply())

    def destroy(self) -> None:
        """Stop both and remove their files."""
        self.standby.destroy()
        self.primary.destroy()
