"""One page of a list: its items and the numbers the templates and the API's links need."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with what templates and API links need."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def window(self, radius: int = 2) -> range:
        """The page numbers to link around this one: ``2 * radius + 1`` of them when there are.

        The window keeps its width at either end of the list (pages 1-5 on page
        1), so the links do not shift about as a reader moves along.
        """
        width = 2 * radius + 1
        first = max(1, min(self.page - radius, self.pages - width + 1))
        return range(first, min(self.pages, first + width - 1) + 1)

    @property
    def out_of_range(self) -> bool:
        """True for a page past the last one (page 1 of an empty list is in range)."""
        return self.page > self.pages
