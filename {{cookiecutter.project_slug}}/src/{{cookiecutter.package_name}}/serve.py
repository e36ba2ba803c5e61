"""The production server, run as ``python -m`` this module: the image's command.

``fastapi run`` serves the same app, but the process that supervises several
workers (``WEB_CONCURRENCY`` > 1) never imports it, so that process's own
lines (started, a worker died, stopping) would keep uvicorn's format. Here the
service's logging is set up first and uvicorn leaves it alone
(``log_config=None``): every line of every process is in ``LOG_FORMAT``.
"""

import argparse
from collections.abc import Sequence

import uvicorn

from {{ cookiecutter.package_name }}.config import (
    settings_or_exit,
)
from {{ cookiecutter.package_name }}.logs import (
    configure_logging,
    route_server_logs,
)

APP = "{{ cookiecutter.package_name }}.main:app"
PROG = "python -m {{ cookiecutter.package_name }}.serve"


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
    uvicorn.run(
        APP,
        host=args.host,
        port=args.port,
        workers=settings.web_concurrency,
        log_config=None,  # keep the service's logging, in this process and the workers
    )


if __name__ == "__main__":
    main()
