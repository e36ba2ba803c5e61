"""The migrations and the models agree."""

from alembic import command

from {{ cookiecutter.package_name }}.config import (
    Settings,
)

from tests.database import alembic_config


def test_models_match_the_migrations(settings: Settings) -> None:
    """Nothing for autogenerate to write: fails after a model change without its revision."""
    command.check(alembic_config(settings))
