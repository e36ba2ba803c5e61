"""Item queries and writes. They flush but never commit: the caller decides."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.items.models import (
    Item,
)
from {{ cookiecutter.package_name }}.items.schemas import (
    ItemCreate,
    ItemUpdate,
)


async def list_items(session: AsyncSession, *, after: int, limit: int) -> Sequence[Item]:
    """Up to ``limit`` items with an id above ``after``, in id order (see ``pagination.py``)."""
    query = select(Item).where(Item.id > after).order_by(Item.id).limit(limit)
    return (await session.scalars(query)).all()


async def get_item(session: AsyncSession, item_id: int) -> Item | None:
    """The item with this id, if any."""
    return await session.get(Item, item_id)


async def create_item(session: AsyncSession, data: ItemCreate) -> Item:
    """Add an item; its id and timestamp come back from the INSERT."""
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    return item


async def update_item(session: AsyncSession, item: Item, data: ItemUpdate) -> Item:
    """Apply the fields that were sent."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    await session.flush()
    return item


async def delete_item(session: AsyncSession, item: Item) -> None:
    """Delete an item."""
    await session.delete(item)
    await session.flush()
