"""The generated app without its admission queue: requests wait in SQLAlchemy's pool alone.

Everything else is the generated project's own app (``BENCH_PACKAGE``); only
``Admission.slot`` (``db/admission.py``) is replaced by a block that admits
every session at once, so the benchmark can show what the queue is for. Run
with the generated project's interpreter:
``BENCH_DATABASE_URL=... DATABASE_URL=... uvicorn unqueued:app --app-dir bench/apps``.
"""

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

PACKAGE = os.environ.get("BENCH_PACKAGE", "orders_service")
Admission: Any = importlib.import_module(f"{PACKAGE}.db.admission").Admission


@asynccontextmanager
async def admit_at_once(_admission: object) -> AsyncIterator[None]:
    """No queue: the session goes straight to the pool."""
    yield


Admission.slot = admit_at_once
app = importlib.import_module(f"{PACKAGE}.main").app
