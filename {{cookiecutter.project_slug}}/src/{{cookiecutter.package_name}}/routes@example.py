"""Every router of the service, in one place."""

from fastapi import APIRouter

from {{ cookiecutter.package_name }} import (
    api,
    health,
)
from {{ cookiecutter.package_name }}.items import router as items

router = APIRouter()
router.include_router(health.router)
router.include_router(
    items.router, prefix=api.PREFIX, dependencies=api.DEPENDENCIES, responses=api.RESPONSES
)
