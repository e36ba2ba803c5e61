"""Item queries and writes, in the current task's session.

Nothing here is handed a session: ``current_session()`` finds the one the
request (or job) opened. They flush but never commit: the caller decides.
"""

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from {{ cookiecutter.package_name }}.db.task_scope import (
    current_session,
)
from {{ cookiecutter.package_name }}.items.models import (
    Item,
)
from {{ cookiecutter.package_name }}.items.schemas import (
    ItemCreate,
    ItemUpdate,
)

# Statements built once, with bound parameters: SQLAlchemy keeps a statement's
# cache key (which finds its compiled SQL) once computed, so a module-level
# statement computes it once, where ``session.get`` builds and keys a new one on
# every call (docs/hot-path.md has the measured difference).
PAGE = select(Item).where(Item.id > bindparam("after")).order_by(Item.id).limit(bindparam("limit"))
BY_ID = select(Item).where(Item.id == bindparam("item_id"))


async def list_items(*, after: int, limit: int) -> Sequence[Item]:
    """Up to ``limit`` items with an id above ``after``, in id order (see ``pagination.py``)."""
    return (await current_session().scalars(PAGE, {"after": after, "limit": limit})).all()


async def get_item(item_id: int) -> Item | None:
    """The item with this id, if any."""
    return (await current_session().scalars(BY_ID, {"item_id": item_id})).one_or_none()


async def create_item(data: ItemCreate) -> Item:
    """Add an item; its id and timestamp come back from the INSERT."""
    session = current_session()
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    return item


async def update_item(item: Item, data: ItemUpdate) -> Item:
    """Apply the fields that were sent."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(item, field, value)
    await current_session().flush()
    return item


async def delete_item(item: Item) -> None:
    """Delete an item."""
    session = current_session()
    await session.delete(item)
    await session.flush()
