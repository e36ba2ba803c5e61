"""Every model module, imported so that ``Base.metadata`` knows all tables.

Alembic's ``env.py`` imports this module; add new model modules here.
"""

from {{ cookiecutter.package_name }}.db import (
    Base,
)

__all__ = ["Base"]
