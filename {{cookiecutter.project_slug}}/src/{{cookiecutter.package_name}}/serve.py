"""The production server, run as ``python -m`` this module: the image's command.

``fastapi run`` serves the same app, but the process that supervises several
workers (``WEB_CONCURRENCY`` > 1) never imports it, so that process's own
lines (started, a worker died, stopping) would keep uvicorn's format. Here the
service's logging is set up first and uvicorn leaves it alone
(``log_config=None``): every line of every process is in ``LOG_FORMAT``.

On SIGTERM the server drains before it stops (``draining.py``, and
docs/kubernetes.md for the numbers): ``/health/ready`` answers 503 at once and
everything else is served for ``DRAIN_DELAY`` seconds, while load balancers
take the instance out; then uvicorn's graceful shutdown stops accepting,
gives the requests in flight up to ``SHUTDOWN_TIMEOUT`` and closes the pools.
A repeated SIGTERM does not cut the drain short; SIGINT (Ctrl-C) keeps
uvicorn's behaviour: stop now, and at once the second time. The uvicorn
classes that do it are in ``shutdown.py``.
"""

import argparse
import contextlib
from collections.abc import Sequence

from uvicorn.config import STARTUP_FAILURE

from {{ cookiecutter.package_name }}.config import (
    Settings,
    settings_or_exit,
)
from {{ cookiecutter.package_name }}.logs import (
    configure_logging,
    route_server_logs,
)
from {{ cookiecutter.package_name }}.shutdown import (
    DrainConfig,
    DrainingServer,
    DrainingSupervisor,
)

PROG = "python -m {{ cookiecutter.package_name }}.serve"


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; exit 3 (uvicorn's code) if the app never started."""
    config = DrainConfig(settings, host, port)
    if config.workers > 1:
        DrainingSupervisor(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = DrainingServer(config)
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT, raised again after the shutdown
        server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the app with ``WEB_CONCURRENCY`` workers until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog=PROG, description="Serve the app in production.")
    # In a container the server listens on every interface.
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    configure_logging(settings)
    route_server_logs()
    serve(settings, args.host, args.port)


if __name__ == "__main__":
    main()
