"""Logs: one line per record, JSON or readable, each carrying its request's id.

Every logger of the service (its own, uvicorn's, SQLAlchemy's) goes through the
standard ``logging`` module to one handler on the root logger, on standard
error. Its format is ``LOG_FORMAT``: ``json`` (one JSON object per line, the
default in production) or ``console`` (readable lines, the default elsewhere).

- The request id is a context variable, set by ``RequestIdMiddleware`` for the
  duration of a request; a filter on the handler copies it onto every record
  emitted meanwhile, so any line logged while serving a request carries it.
  Fields learnt while serving it (``add_request_field``, such as the caller's
  ``sub`` with bearer tokens) go onto every later line the same way, as keys
  of the JSON lines (the console format shows the id only).
- The access line (method, path, status, duration) is ours, written once per
  request by the same middleware: uvicorn's own access log is switched off.
- uvicorn configures its loggers (``fastapi run`` and ``fastapi dev`` let it
  use its defaults, or fastapi-cli's own in a terminal) before it imports the
  app; importing it (``create_app``) then routes them here, and so does the
  lifespan, for a launcher that imported the app first. A process that never
  imports the app keeps uvicorn's format: the supervisor of several workers
  (``WEB_CONCURRENCY`` > 1) and ``fastapi dev``'s reloader, for their few
  lines (started, a worker died, stopping).
"""

import logging
import sys
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from starlette.types import Scope

from {{ cookiecutter.package_name }}.config import (
    Settings,
)

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields learnt while serving a request, such as its caller's ``sub``: the
# middleware gives each request its own dict, so the access line has them too.
REQUEST_FIELDS: ContextVar[dict[str, str] | None] = ContextVar("request_fields", default=None)

HANDLER_NAME = "{{ cookiecutter.package_name }}"
CONSOLE_FORMAT = "%(asctime)s %(levelname)-8s [%(request_id)s] %(name)s: %(message)s"
# JSON fields of every line; a record's extra fields (request_id, status...) follow.
JSON_FORMAT = "{levelname}{name}{message}"
JSON_RENAMED = {"levelname": "level", "name": "logger"}
# Record attributes left out: the standard ones, and uvicorn's copy of its message
# with terminal colours.
JSON_LEFT_OUT = [*RESERVED_ATTRS, "color_message"]

# uvicorn's server lines go to the root handler; its access log is off (ours is
# written by RequestIdMiddleware, with the duration).
SERVER_LOGGERS = {"uvicorn": True, "uvicorn.error": True, "uvicorn.access": False}

access_logger = logging.getLogger(f"{__package__}.access")


class RequestIdFilter(logging.Filter):
    """Copy the current request's id and fields, if any, onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` and the request's fields; never drop a record."""
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        fields = REQUEST_FIELDS.get()
        if fields:
            record.__dict__.update(fields)
        return True


def add_request_field(name: str, value: str) -> None:
    """Put ``name`` on every line logged for the current request from now on."""
    fields = REQUEST_FIELDS.get()
    if fields is not None:
        fields[name] = value


def make_formatter(settings: Settings) -> logging.Formatter:
    """The formatter ``LOG_FORMAT`` asks for."""
    if settings.logs_as_json:
        return JsonFormatter(
            JSON_FORMAT,
            style="{",
            rename_fields=JSON_RENAMED,
            reserved_attrs=JSON_LEFT_OUT,
            timestamp="time",
        )
    return logging.Formatter(CONSOLE_FORMAT, defaults={"request_id": "-"})


def route_server_logs() -> None:
    """Send uvicorn's lines to the root handler and switch its access log off."""
    for name, propagate in SERVER_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = propagate


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Install the root handler (replacing a previous one of ours) and route uvicorn's logs."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(make_formatter(settings))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    route_server_logs()


def log_access(scope: Scope, status: int | None, seconds: float) -> None:
    """The request's access line: method, path (no query string), status, duration."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    method, path = scope["method"], scope["path"]
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    # Built here rather than by access_logger.info(), which would also look up
    # the caller's frame: a third of the line's cost, on every request.
    record = access_logger.makeRecord(
        access_logger.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.2fms",
        (method, path, "-" if status is None else status, duration_ms),
        None,
        extra=fields,
    )
    access_logger.handle(record)
