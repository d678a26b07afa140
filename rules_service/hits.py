"""What a decision table answers for one case: the rows that hit, and the hit-policy breach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """A row that decided, with its outputs; the row id is what decision provenance records."""

    row_id: str
    outputs: Mapping[str, Any]


class UniqueHitError(Exception):
    """A UNIQUE table matched more than one row: the table, not the case, is wrong."""

    def __init__(self, table: str, row_ids: Sequence[str]) -> None:
        self.table = table
        self.row_ids = tuple(row_ids)
        super().__init__(
            f"table {table}: hit policy UNIQUE but rows {', '.join(self.row_ids)} all match"
        )
