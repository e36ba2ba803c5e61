"""What the API accepts and returns for items."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from {{ cookiecutter.package_name }}.items.models import (
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
)

# PostgreSQL text cannot hold NUL characters: refuse them at the boundary.
_NO_NUL = r"^[^\x00]*$"

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    Field(pattern=_NO_NUL, examples=["widget"]),
]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX_LENGTH), Field(pattern=_NO_NUL)
]


class ItemCreate(BaseModel):
    """A new item."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    # Optional, but not nullable: an explicit null is refused.
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            msg = "name cannot be null"
            raise ValueError(msg)
        return value


class ItemRead(BaseModel):
    """An item as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: datetime


class ItemPage(BaseModel):
    """A page of items in id order, and where the next one is."""

    items: list[ItemRead]
    next: str | None = Field(description="The next page's URL; null on the last page")
