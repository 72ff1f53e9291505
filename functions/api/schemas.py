"""Request and response bodies shared by the routers (documented in the OpenAPI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, Self, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict

from functions.dal.pagination import MAX_PAGE_SIZE, Page
from protocol.topics import WORKER_ID_PATTERN

T = TypeVar("T")
S = TypeVar("S")

# Paging query parameters every list endpoint takes: ``?limit=&cursor=``.
Limit = Annotated[
    int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (default 50)")
]
Cursor = Annotated[
    str | None,
    Query(max_length=2048, description="The next_cursor of the previous page, as given"),
]
WorkerId = Annotated[str, Path(pattern=WORKER_ID_PATTERN)]
# Ids the platform makes (listings, leases, rules…): short, URL-safe.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Body(BaseModel):
    """Request bodies: unknown fields are refused, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page[S], view: Callable[[S], T]) -> Self:
        """A page of the data layer's records, each shown as ``view`` shows it."""
        return cls(items=[view(record) for record in page.items], next_cursor=page.cursor)
