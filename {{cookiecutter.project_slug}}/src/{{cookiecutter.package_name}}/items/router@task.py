"""``/api/items``: list, create, read, update and delete items.

Every route runs in a task scope: the service reaches the request's session
through ``current_session()``. Reads take ``TaskReadSession`` (a read session,
in autocommit by default), writes ``TaskSession``; each write commits
explicitly, and the session dependency only rolls back.
"""

from fastapi import APIRouter, HTTPException, Request, Response, status

from {{ cookiecutter.package_name }}.db.task_scope import (
    TaskReadSession,
    TaskSession,
    current_session,
)
from {{ cookiecutter.package_name }}.items import (
    service,
)
from {{ cookiecutter.package_name }}.items.models import (
    Item,
)
from {{ cookiecutter.package_name }}.items.parameters import (
    CONFLICT,
    CREATED,
    NOT_FOUND,
    PAGE,
    ItemId,
    PageSize,
    PageStart,
)
from {{ cookiecutter.package_name }}.items.schemas import (
    ItemCreate,
    ItemPage,
    ItemRead,
    ItemUpdate,
)
from {{ cookiecutter.package_name }}.pagination import (
    link_next,
)

router = APIRouter(prefix="/items", tags=["items"])
READS = [TaskReadSession]
WRITES = [TaskSession]


async def _get_or_404(item_id: int) -> Item:
    item = await service.get_item(item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Item not found")
    return item


@router.get("", responses=PAGE, dependencies=READS)
async def list_items(
    request: Request,
    response: Response,
    after: PageStart,
    limit: PageSize = 20,
) -> ItemPage:
    """A page of items in id order; ``next`` (and ``Link``) give the next page."""
    found = await service.list_items(after=after, limit=limit + 1)
    page = [ItemRead.model_validate(item) for item in found[:limit]]
    more = len(found) > limit
    return ItemPage(items=page, next=link_next(request, response, page[-1].id) if more else None)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=CREATED | CONFLICT, dependencies=WRITES
)
async def create_item(data: ItemCreate, request: Request, response: Response) -> ItemRead:
    """Create an item; ``Location`` gives its URL."""
    item = await service.create_item(data)
    await current_session().commit()
    response.headers["Location"] = request.app.url_path_for("read_item", item_id=item.id)
    return ItemRead.model_validate(item)


@router.get("/{item_id}", responses=NOT_FOUND, dependencies=READS)
async def read_item(item_id: ItemId) -> ItemRead:
    """One item."""
    return ItemRead.model_validate(await _get_or_404(item_id))


@router.patch("/{item_id}", responses=NOT_FOUND | CONFLICT, dependencies=WRITES)
async def update_item(item_id: ItemId, data: ItemUpdate) -> ItemRead:
    """Change the fields that were sent."""
    item = await service.update_item(await _get_or_404(item_id), data)
    await current_session().commit()
    return ItemRead.model_validate(item)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    dependencies=WRITES,
)
async def delete_item(item_id: ItemId) -> None:
    """Delete an item."""
    await service.delete_item(await _get_or_404(item_id))
    await current_session().commit()
