"""Every router of the service, in one place."""

from fastapi import APIRouter

from {{ cookiecutter.package_name }} import (
    api,
    health,
)
from {{ cookiecutter.package_name }}.items import (
    router as items,
)
from {{ cookiecutter.package_name }}.responses import (
    include_api_router,
)

router = APIRouter()
router.include_router(health.router)
include_api_router(
    router,
    items.router,
    prefix=api.PREFIX,
    dependencies=api.DEPENDENCIES,
    responses=api.RESPONSES,
)
