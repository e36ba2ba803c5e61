"""Every router of the service, in one place."""

from fastapi import APIRouter

from {{ cookiecutter.package_name }} import (
    health,
)

router = APIRouter()
router.include_router(health.router)
