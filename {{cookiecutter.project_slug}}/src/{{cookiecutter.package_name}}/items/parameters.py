"""What the item routes accept in paths and queries, and the answers they document."""

from typing import Annotated, Any

from fastapi import Path, Query, status

from {{ cookiecutter.package_name }}.pagination import (
    page_start,
)

MAX_ID = 2**31 - 1  # the id column is a PostgreSQL integer

ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page")]
# The id after which the page starts, from the request's cursor (0: the first page).
PageStart = Annotated[int, page_start(MAX_ID)]

Responses = dict[int | str, dict[str, Any]]
CREATED: Responses = {
    status.HTTP_201_CREATED: {
        "description": "Created",
        "headers": {
            "Location": {
                "description": "The new item's URL",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    }
}
PAGE: Responses = {
    status.HTTP_200_OK: {
        "headers": {
            "Link": {
                "description": 'The next page, as <url>; rel="next" (absent on the last page)',
                "schema": {"type": "string"},
            }
        },
    }
}
NOT_FOUND: Responses = {status.HTTP_404_NOT_FOUND: {"description": "No item with this id"}}
CONFLICT: Responses = {status.HTTP_409_CONFLICT: {"description": "An item with this name exists"}}
