"""Every model module, imported so that ``Base.metadata`` knows all tables.

Alembic's ``env.py`` imports this module; add new model modules here.
"""

from {{ cookiecutter.package_name }}.db import (
    Base,
)
from {{ cookiecutter.package_name }}.items.models import (
    Item,
)

__all__ = ["Base", "Item"]
