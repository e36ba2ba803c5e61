"""uvicorn's worker server and supervisor, made to drain on SIGTERM (see ``serve.py``).

uvicorn has no hook for a drain, so the worker's server, the process that
builds it and the supervisor of several workers are subclassed here, in a
module of their own: each worker gets them pickled, by module name.
pyproject.toml pins the uvicorn releases whose internals this relies on.
"""

import logging
import math
import os
import signal
import time
from types import FrameType

import uvicorn
from uvicorn.supervisors import multiprocess

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.draining import (
    start_draining,
)

APP = "{{ cookiecutter.package_name }}.main:app"

logger = logging.getLogger(__name__)


class DrainConfig(uvicorn.Config):
    """uvicorn's configuration plus the drain delay.

    Each spawned worker gets the configuration pickled, so the delay travels with it.
    """

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        """Serve the app on ``host:port`` with the settings' workers and deadlines."""
        super().__init__(
            APP,
            host=host,
            port=port,
            workers=settings.web_concurrency,
            log_config=None,  # keep the service's logging, in this process and the workers
            timeout_graceful_shutdown=math.ceil(settings.in_flight_timeout),
            timeout_worker_healthcheck=settings.worker_healthcheck_timeout,
        )
        self.drain_delay = settings.drain_delay


class DrainingServer(uvicorn.Server):
    """One worker's server: SIGTERM starts the drain, the shutdown follows its delay."""

    def __init__(self, config: DrainConfig) -> None:
        """A server that has not been asked to stop."""
        super().__init__(config)
        self.drain_delay = config.drain_delay
        self.drain_ends: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Run by the signal handler, between any two steps of the loop: set flags only."""
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        if self.drain_ends is None:
            start_draining()
            self.drain_ends = time.monotonic() + self.drain_delay
        # Not recorded among the captured signals: uvicorn would raise it again
        # after the shutdown, and the process would end by SIGTERM instead of 0.

    async def on_tick(self, counter: int) -> bool:
        """Every 0.1 s: report the drain once, and end it when its delay is over."""
        if self.drain_ends is not None and not self.should_exit:
            if not self._drain_logged:
                self._drain_logged = True
                logger.info(
                    "SIGTERM: /health/ready answers 503; serving for %g s more", self.drain_delay
                )
            if time.monotonic() >= self.drain_ends:
                logger.info("drain over: no new connections; finishing requests in flight")
                self.should_exit = True
        return await super().on_tick(counter)


class DrainingProcess(multiprocess.Process):
    """A worker process whose server drains (uvicorn's builds a plain ``Server``)."""

    config: DrainConfig

    @property
    def server(self) -> uvicorn.Server:
        """The worker's server, built in the worker process on first use."""
        if self._server is None:
            self._server = DrainingServer(self.config)
        return self._server


class DrainingSupervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor of several workers, with draining workers.

    It passes SIGTERM on (uvicorn's way), and SIGINT as SIGINT too, so that
    ``kill -INT`` stops the workers without a drain, as Ctrl-C does. Then it
    closes its own copy of the listening socket: the socket closes with the
    last worker's, when the drain is over, and later connections are refused
    at once instead of waiting unanswered in its backlog until it exits.
    """

    stop_now = False

    def run(self) -> None:
        """Start the workers and supervise them until a signal stops them."""
        # uvicorn builds every worker (first ones, replacements) from this module name.
        multiprocess.Process = DrainingProcess  # type: ignore[misc]
        super().run()

    def handle_int(self) -> None:
        """SIGINT: stop, and have the workers stop without draining."""
        self.stop_now = True
        super().handle_int()

    def terminate_all(self) -> None:
        """Pass the signal on to every worker, then let go of the listening socket."""
        for process in self.processes if self.stop_now else []:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGINT)
        super().terminate_all()  # SIGTERM: it no longer starts a drain after SIGINT
        for sock in self.sockets:
            sock.close()
