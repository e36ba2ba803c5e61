"""No tracing: these hooks, which ``main.py`` calls, do nothing.

A project generated with ``observability=opentelemetry`` has a version of
this module that traces requests and database queries.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from fastapi import FastAPI


class Telemetry:
    """Tracing that is not there."""

    @classmethod
    def from_environment(cls, service_name: str) -> Self:  # noqa: ARG003
        """Nothing to read (the traced version names its service ``service_name``)."""
        return cls()

    def instrument_app(self, app: FastAPI) -> None:
        """Leave ``app`` as it is."""

    @contextmanager
    def instrument_database(self) -> Iterator[None]:
        """Nothing to trace."""
        yield
