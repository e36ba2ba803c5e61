"""The app's startup freezes what it built, once per process (``gc_freeze.py``)."""

import gc

from asgi_lifespan import LifespanManager

from {{ cookiecutter.package_name }}.config import (
    Settings,
)
from {{ cookiecutter.package_name }}.gc_freeze import (
    freeze_startup_objects,
)
from {{ cookiecutter.package_name }}.main import (
    create_app,
)


async def test_startup_freezes_once(settings: Settings) -> None:
    async with LifespanManager(create_app(settings)):
        frozen = gc.get_freeze_count()
        assert frozen > 0
    later = [[number] for number in range(1000)]  # new objects the collector tracks
    freeze_startup_objects()
    async with LifespanManager(create_app(settings)):
        assert gc.get_freeze_count() == frozen  # a second start freezes nothing more
    assert len(later) == 1000
