"""How an import kind is described: the file's columns, its references, its key and its events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from casedb.importing.fields import Parser, text
from casedb.importing.writer import WriteResult


@dataclass(frozen=True)
class Column:
    """One column of the file. ``target`` is the table column it fills (default: same name)."""

    name: str
    parse: Parser = field(default_factory=text)
    required: bool = False
    target: str | None = None
    # Other headers accepted for this column, e.g. the Chinese header of a bank's export.
    aliases: tuple[str, ...] = ()
    # Value stored when the cell is empty (columns that are not required).
    empty: Any = None
    doc: str = ""

    @property
    def column(self) -> str:
        return self.target or self.name


@dataclass(frozen=True)
class Reference:
    """A file column holding another record's external id, resolved to that record's row id.

    ``carry`` copies more columns of the referenced row, e.g. a case's ``customer_id``.
    """

    column: str
    model: type
    key: str
    target: str
    carry: tuple[tuple[str, str], ...] = ()


EventsHook = Callable[[Session, WriteResult], list[dict[str, Any]]]
# Folds the payload of a later event about the same case into an earlier one.
PayloadMerge = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
DeriveHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ImportKind:
    name: str
    model: type
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str
    references: tuple[Reference, ...] = ()
    derive: DeriveHook | None = None
    events: EventsHook | None = None
    # When set, events about the same case are held and merged over the whole file, so a
    # file of a million payments tells the rules service once per case, not once per batch.
    merge_payload: PayloadMerge | None = None
    insert_only: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)
