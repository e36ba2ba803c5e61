"""``seed-items`` and ``purge-items``: item jobs, each in one transaction."""

import argparse

from sqlalchemy import delete

from {{ cookiecutter.package_name }}.cli.base import (
    Command,
)
from {{ cookiecutter.package_name }}.db import (
    DatabaseSessionManager,
)
from {{ cookiecutter.package_name }}.items.models import (
    Item,
)


def _seed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("count", type=int, help="how many items to create")
    parser.add_argument("--prefix", default="item", help="names are PREFIX-1 ... PREFIX-COUNT")


async def seed_items(manager: DatabaseSessionManager, args: argparse.Namespace) -> int:
    """Create COUNT items in one transaction: all of them, or none if any fails."""
    async with manager.session() as session:
        session.add_all(
            Item(name=f"{args.prefix}-{n}", description="seeded") for n in range(1, args.count + 1)
        )
        await session.commit()
    print(f"created {args.count} items")
    return 0


async def purge_items(manager: DatabaseSessionManager, _args: argparse.Namespace) -> int:
    """Delete every item in one transaction."""
    async with manager.session() as session:
        deleted = (await session.scalars(delete(Item).returning(Item.id))).all()
        await session.commit()
    print(f"deleted {len(deleted)} items")
    return 0


COMMANDS = (
    Command(
        name="seed-items",
        help="create items",
        job=seed_items,
        arguments=_seed_arguments,
        per_tenant=True,
    ),
    Command(name="purge-items", help="delete every item", job=purge_items, per_tenant=True),
)
