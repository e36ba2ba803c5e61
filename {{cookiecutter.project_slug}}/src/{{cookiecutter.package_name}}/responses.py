"""Answers every route may give, declared so the OpenAPI document matches behaviour.

``include_api_router`` mounts a resource router under ``/api`` with what every
``/api`` route shares (``api.py``): its dependencies and the answers they may
give, plus the 503 of a database that cannot serve. Where a route declares the
same status itself (a 404 of its own beside the unknown tenant's), the two
descriptions are joined, so neither hides the other.
"""

from typing import Any

from fastapi import APIRouter, params, status
from fastapi.routing import APIRoute
from pydantic import BaseModel

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    """An error answer."""

    detail: str


RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer"},
    }
}
DATABASE_UNAVAILABLE: Responses = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "description": "The database is unavailable, busy, or past its deadline: try again later",
        "model": ErrorDetail,
        "headers": RETRY_AFTER_HEADER,
    }
}


def merge_responses(shared: Responses, own: Responses) -> Responses:
    """``own`` over ``shared``, with the descriptions of a status both declare joined."""
    merged = {**shared, **own}
    for code in shared.keys() & own.keys():
        first, second = shared[code].get("description"), own[code].get("description")
        if first and second and first != second:
            merged[code] = {**shared[code], **own[code], "description": f"{second}; or: {first}"}
    return merged


def include_api_router(
    app_router: APIRouter,
    resource: APIRouter,
    *,
    prefix: str,
    dependencies: list[params.Depends],
    responses: Responses,
) -> None:
    """Mount ``resource`` under ``prefix`` with the shared dependencies and answers."""
    shared = merge_responses(DATABASE_UNAVAILABLE, responses)
    for route in resource.routes:
        if isinstance(route, APIRoute):
            route.responses = merge_responses(shared, route.responses)
    app_router.include_router(resource, prefix=prefix, dependencies=dependencies)
