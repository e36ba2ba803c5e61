"""``dev``: migrate, then serve with reload; on a machine without PostgreSQL, an embedded one.

Without ``DATABASE_URL`` (environment or ``.env``), in development, and with
nothing answering at localhost:5432, the embedded PostgreSQL of ``devdb.py``
serves this run and stops with it. Otherwise the configured database is used.
"""

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from types import FrameType

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.failures import (
    DatabaseUnavailableError,
)
from {{ cookiecutter.package_name }}.db.provision import (
    create_database_if_missing,
)
from {{ cookiecutter.package_name }}.devdb import (
    embedded_applies,
    embedded_database,
)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on")


def _serve(command: Sequence[str], env: dict[str, str]) -> int:
    """Run ``command`` until it exits, passing it SIGINT, SIGTERM and SIGHUP."""
    child = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603

    def forward(signum: int, _frame: FrameType | None) -> None:
        # A closed terminal (SIGHUP) stops the server like SIGTERM.
        child.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # Ended by a signal (uvicorn re-raises SIGINT once shut down): the shell's 128 + N.
    return 128 - code if code < 0 else code


async def database_ready(settings: Settings) -> bool:
    """Create the configured database if it is missing; say in one line why it cannot be."""
    try:
        if await create_database_if_missing(settings):
            print(f"Created the database {settings.database_url_object.database}")
    except DatabaseUnavailableError as exc:
        print(f"dev: cannot reach the database: {exc}", file=sys.stderr)
        return False
    return True


def serve_dev(settings: Settings, fastapi_args: Sequence[str] = ()) -> int:
    """Migrate the database (an embedded one if it applies), serve with reload; the exit code."""
    # Until the server runs, these unwind like Ctrl-C, stopping what was started.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.default_int_handler)
    env = dict(os.environ)
    try:
        with ExitStack() as stack:
            if embedded_applies(settings):
                database = settings.database_url_object.database or "postgres"
                env["DATABASE_URL"] = stack.enter_context(embedded_database(database))
                print(f"No database configured or answering: embedded PostgreSQL ({database})")
            migrate = subprocess.run(
                [sys.executable, "-m", "alembic", "upgrade", "head"], env=env, check=False
            )
            if migrate.returncode != 0:
                return migrate.returncode
            return _serve([sys.executable, "-m", "fastapi", "dev", *fastapi_args], env)
    except KeyboardInterrupt:
        return 130


async def dev(manager: DatabaseSessionManager, args: argparse.Namespace) -> int:
    """The ``dev`` command: a configured database that is missing is created first."""
    settings = manager.settings
    if not embedded_applies(settings) and not await database_ready(settings):
        return 1
    return serve_dev(settings, ["--host", args.host, "--port", str(args.port)])


COMMANDS = [
    Command(
        "dev",
        "migrate, then serve with reload (an embedded PostgreSQL if none is configured or up)",
        dev,
        _arguments,
    )
]
