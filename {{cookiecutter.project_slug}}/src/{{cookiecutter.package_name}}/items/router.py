"""``/api/items``: list, create, read, update and delete items.

Reads take ``DbReadSession`` (autocommit, unless ``DATABASE_AUTOCOMMIT_READS=false``);
writes take ``DbSession`` and commit explicitly.
"""

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.db.dependencies import (
    DbReadSession,
    DbSession,
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


async def _get_or_404(session: AsyncSession, item_id: int) -> Item:
    item = await service.get_item(session, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Item not found")
    return item


@router.get("", responses=PAGE)
async def list_items(
    session: DbReadSession,
    request: Request,
    response: Response,
    after: PageStart,
    limit: PageSize = 20,
) -> ItemPage:
    """A page of items in id order; ``next`` (and ``Link``) give the next page."""
    found = await service.list_items(session, after=after, limit=limit + 1)
    page = [ItemRead.model_validate(item) for item in found[:limit]]
    more = len(found) > limit
    return ItemPage(items=page, next=link_next(request, response, page[-1].id) if more else None)


@router.post("", status_code=status.HTTP_201_CREATED, responses=CREATED | CONFLICT)
async def create_item(
    data: ItemCreate, session: DbSession, request: Request, response: Response
) -> ItemRead:
    """Create an item; ``Location`` gives its URL."""
    item = await service.create_item(session, data)
    await session.commit()
    response.headers["Location"] = request.app.url_path_for("read_item", item_id=item.id)
    return ItemRead.model_validate(item)


@router.get("/{item_id}", responses=NOT_FOUND)
async def read_item(item_id: ItemId, session: DbReadSession) -> ItemRead:
    """One item."""
    return ItemRead.model_validate(await _get_or_404(session, item_id))


@router.patch("/{item_id}", responses=NOT_FOUND | CONFLICT)
async def update_item(item_id: ItemId, data: ItemUpdate, session: DbSession) -> ItemRead:
    """Change the fields that were sent."""
    item = await service.update_item(session, await _get_or_404(session, item_id), data)
    await session.commit()
    return ItemRead.model_validate(item)


@router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_item(item_id: ItemId, session: DbSession) -> None:
    """Delete an item."""
    await service.delete_item(session, await _get_or_404(session, item_id))
    await session.commit()
