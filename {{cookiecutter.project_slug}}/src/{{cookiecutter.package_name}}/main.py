"""The application: settings in, a FastAPI app with its database lifespan out."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from {{ cookiecutter.package_name }}.auth import (
    Authentication,
)
from {{ cookiecutter.package_name }}.config import (
    Settings,
    settings_or_exit,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.db.budget import (
    check_budget,
)
from {{ cookiecutter.package_name }}.db.write_cookie import (
    ReadYourWritesMiddleware,
)
from {{ cookiecutter.package_name }}.draining import (
    CloseWhileDraining,
)
from {{ cookiecutter.package_name }}.errors import (
    add_error_handlers,
)
from {{ cookiecutter.package_name }}.gc_freeze import (
    freeze_startup_objects,
)
from {{ cookiecutter.package_name }}.logs import (
    configure_logging,
    route_server_logs,
)
from {{ cookiecutter.package_name }}.routes import (
    router,
)
from {{ cookiecutter.package_name }}.telemetry import (
    Telemetry,
)


class State(TypedDict):
    """What the lifespan hands every request (``request.state``)."""

    sessionmanager: DatabaseSessionManager
    authentication: Authentication


def make_lifespan(
    settings: Settings, telemetry: Telemetry
) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    """A lifespan that owns the DatabaseSessionManager and token verification (``auth``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        route_server_logs()  # again: a launcher may have configured uvicorn's since
        async with (
            DatabaseSessionManager(settings) as sessionmanager,
            Authentication(settings) as authentication,
        ):
            await check_budget(sessionmanager)
            with telemetry.instrument_database():
                freeze_startup_objects()  # shorter full collections (gc_freeze.py)
                yield {"sessionmanager": sessionmanager, "authentication": authentication}

    return lifespan


def create_app(settings: Settings | None = None, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the app and set up the process's logs. Nothing connects until the lifespan starts.

    ``telemetry`` defaults to the process's own (``telemetry.py``).
    """
    settings = settings or settings_or_exit()
    configure_logging(settings)
    telemetry = telemetry or Telemetry.from_environment(settings.app_name)
    app = FastAPI(
        title="{{ cookiecutter.project_name }}",
        version="0.1.0",
        lifespan=make_lifespan(settings, telemetry),
    )
    add_error_handlers(app)
    if settings.database_replica_url is not None:
        app.add_middleware(ReadYourWritesMiddleware)
    telemetry.instrument_app(app)
    app.add_middleware(CloseWhileDraining)
    app.include_router(router)
    return app


app = create_app()
