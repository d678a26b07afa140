"""What a report produces, whatever it is written as: tables of typed columns, the charts drawn from
them, and lines for the cover sheet.

A :class:`Table`'s rows are an iterable of value sequences in column order, already in the
report's language and in local time; a big table's rows are a generator over a database cursor,
read once, by whichever writer the run's format picks (:mod:`reports.workbook` for xlsx,
:func:`write_json` for json, :mod:`reports.png` for png). A chart's table holds its rows in a list
(a handful of buckets, teams or months), since the chart and the PNG read them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from reports.labels import Text, say

TEXT = "text"
INT = "int"
MONEY = "money"
NUMBER = "number"
PERCENT = "percent"
DATE = "date"
DATETIME = "datetime"

BAR = "bar"
LINE = "line"


@dataclass(frozen=True)
class Column:
    key: str
    label: Text
    kind: str = TEXT
    # Summed in the table's totals row.
    total: bool = False
    # Characters; None: from the kind and the header.
    width: float | None = None


@dataclass(frozen=True)
class Chart:
    """A native chart over one table: ``category`` column on the x axis, one series per column
    in ``series``."""

    kind: str
    title: Text
    category: str
    series: tuple[str, ...]
    y_title: Text | None = None
    x_title: Text | None = None
    stacked: bool = False


@dataclass
class Table:
    key: str
    title: Text
    columns: tuple[Column, ...]
    rows: Iterable[Sequence[Any]]
    # Rows to expect (for progress); None when unknown.
    count: int | None = None
    totals: bool = False
    chart: Chart | None = None
    note: Text | None = None

    def column_index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)


@dataclass
class ReportResult:
    tables: list[Table]
    # Extra (label, value) lines for the cover sheet: headline numbers.
    summary: list[tuple[Text, Any]] = field(default_factory=list)
    # Said on the cover (and by the CLI) when there is nothing to show.
    empty_message: Text | None = None
    # The report's own JSON document (a str is written as it is), when it has one (roll rates:
    # the transition matrix); otherwise write_json writes the tables.
    document: Callable[[], Any] | None = None

    @property
    def charts(self) -> list[Table]:
        return [t for t in self.tables if t.chart is not None]


def plain(value: Any) -> Any:
    """A cell value as JSON has it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def write_json(
    result: ReportResult,
    out: IO[str],
    meta: dict[str, Any],
    language: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the result as JSON to ``out``, streaming table rows; returns the rows written.

    A report with its own document (roll rates) is written as exactly that document.
    """
    if result.document is not None:
        document = result.document()
        if not isinstance(document, str):
            document = json.dumps(document, ensure_ascii=False, indent=2, default=plain)
        out.write(document)
        out.write("\n")
        return sum(len(t.rows) for t in result.tables if isinstance(t.rows, list))
    written = 0
    out.write("{")
    out.write(f'"report": {json.dumps(meta, ensure_ascii=False, default=plain)}')
    if result.summary:
        summary = {say(label, language): plain(value) for label, value in result.summary}
        out.write(f', "summary": {json.dumps(summary, ensure_ascii=False, default=plain)}')
    if result.empty_message:
        message = json.dumps(say(result.empty_message, language), ensure_ascii=False)
        out.write(f', "message": {message}')
    out.write(', "tables": {')
    for index, table in enumerate(result.tables):
        columns = [
            {"key": c.key, "label": say(c.label, language), "kind": c.kind} for c in table.columns
        ]
        out.write("," if index else "")
        out.write(f"{json.dumps(table.key)}: {{")
        out.write(f'"title": {json.dumps(say(table.title, language), ensure_ascii=False)}, ')
        out.write(f'"columns": {json.dumps(columns, ensure_ascii=False)}, "rows": [')
        for number, row in enumerate(table.rows):
            out.write(",\n" if number else "\n")
            out.write(json.dumps([plain(v) for v in row], ensure_ascii=False, default=plain))
            written += 1
            if progress is not None and written % 5000 == 0:
                progress(written)
        out.write("]}")
    out.write("}}\n")
    return written
