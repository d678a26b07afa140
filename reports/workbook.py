"""Writing a report as an Excel workbook (openpyxl), streamed, with native charts.

Every workbook is written in openpyxl's write-only mode, so a million-row case export streams to
disk in constant memory (``bench/report_export.py``): each sheet goes to its own temporary file
row by row and nothing is kept but the running totals.

* A cover sheet first: the report's name, every parameter, the data's as-of (business) date, who
  ran it and when, for which role, whether personal data is masked, the rows of each table, and
  "no data matches" when nothing did. It is written last (its rows are only known at the end)
  but created first, so it is the sheet a workbook opens on.
* A sheet per table: a bold header row, frozen, with an autofilter over the data; number formats
  by column kind (``#,##0.00`` money, ``#,##0`` counts, ``0.0%`` rates, ``yyyy-mm-dd`` dates);
  widths from the header and kind (a Chinese character counts twice); and a totals row for
  tables that have one.
* A table longer than a sheet (Excel's 1,048,576 rows, header included; ``max_sheet_rows``)
  continues on "name (2)", "name (3)" ..., each with its header, freeze and filter; the totals
  come once, after the last row.
* Chart-shaped tables (aging, roll rates, team performance, strategy) get a native Excel bar or
  line chart (``openpyxl.chart``) beside the data, referring to its cells, so it redraws when
  someone edits the numbers and prints in LibreOffice as in Excel.

Text cells that start with ``=`` are written as text, never as formulas (customer names and
notes come from outside), and characters XML cannot hold are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import MethodType
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from reports.labels import COVER, say
from reports.result import (
    BAR,
    DATE,
    DATETIME,
    INT,
    MONEY,
    NUMBER,
    PERCENT,
    Column,
    ReportResult,
    Table,
)

# Excel's limit, header row included.
EXCEL_MAX_ROWS = 1_048_576
MAX_CELL_TEXT = 32_767
MAX_SHEET_TITLE = 31
PROGRESS_EVERY = 5_000
# A chart goes under a table of at most this many rows (header included), beside a longer one.
CHART_BELOW_ROWS = 40
PAPER_A4 = "9"  # Worksheet.PAPERSIZE_A4 (write-only sheets lack the constant)

NUMBER_FORMATS = {
    MONEY: "#,##0.00",
    INT: "#,##0",
    NUMBER: "#,##0.00",
    PERCENT: "0.0%",
    DATE: "yyyy-mm-dd",
    DATETIME: "yyyy-mm-dd hh:mm:ss",
}
WIDTHS = {MONEY: 14, INT: 10, NUMBER: 12, PERCENT: 10, DATE: 12, DATETIME: 20}
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="305496")
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
TOTAL_FONT = Font(bold=True)
TOTAL_BORDER = Border(top=Side(style="thin"), bottom=Side(style="double"))
TITLE_FONT = Font(bold=True, size=16)
LABEL_FONT = Font(bold=True)
NOTE_FONT = Font(italic=True, color="C00000")
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Cover:
    """What the cover sheet says about the run."""

    title: str
    report: str
    parameters: Sequence[tuple[str, str]]
    as_of: date | None
    run_by: str
    run_at: datetime
    timezone: str
    role: str | None = None
    schedule: str | None = None
    pii_full: bool = False


@dataclass
class Written:
    """What was written: data rows per table and the sheets in order."""

    rows: dict[str, int] = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)
    charts: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clean_text(value: str) -> str:
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) > MAX_CELL_TEXT:
        value = value[: MAX_CELL_TEXT - 1] + "…"
    return value


def sheet_title(text: str, used: set[str]) -> str:
    base = _SHEET_TITLE_BAD.sub("_", text).strip("'")[:MAX_SHEET_TITLE] or "Sheet"
    title, number = base, 2
    while title.lower() in used:
        suffix = f" ({number})"
        title = base[: MAX_SHEET_TITLE - len(suffix)] + suffix
        number += 1
    used.add(title.lower())
    return title


def _values_to_row(sheet: Any, values: Sequence[Any], row_idx: int) -> Iterator[Any]:
    """``WriteOnlyWorksheet._values_to_row`` taking ready cells as they are."""
    cell = WriteOnlyCell(sheet)
    for col_idx, value in enumerate(values, 1):
        if value is None:
            continue
        if isinstance(value, Cell):
            value.column, value.row = col_idx, row_idx
            yield value
            continue
        cell.value = value
        cell.column, cell.row = col_idx, row_idx
        yield cell
        if cell.has_style:
            cell = WriteOnlyCell(sheet)


class _Styled:
    """A column's number format on its values: one write-only cell per column and sheet, reused
    row after row (the writer serialises a row before the next is appended)."""

    def __init__(self, writer: _SheetWriter, number_format: str) -> None:
        self.writer = writer
        self.number_format = number_format
        self.cell: WriteOnlyCell | None = None

    def __call__(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        sheet = self.writer.sheets[-1]
        if self.cell is None or self.cell.parent is not sheet:
            self.cell = WriteOnlyCell(sheet)
            self.cell.number_format = self.number_format
        self.cell.value = value
        return self.cell


class _SheetWriter:
    """One table, over as many sheets as its rows need."""

    def __init__(
        self,
        workbook: Workbook,
        table: Table,
        language: str,
        used_titles: set[str],
        max_sheet_rows: int,
    ) -> None:
        if max_sheet_rows < 3:
            raise ValueError("max_sheet_rows must leave room for a header and rows")
        self.workbook = workbook
        self.table = table
        self.language = language
        self.used = used_titles
        self.max_rows = max_sheet_rows
        self.columns = table.columns
        self.headers = [say(c.label, language) for c in self.columns]
        self.sheets: list[Any] = []
        self.sheet_rows = 0  # rows written on the current sheet, header included
        self.data_rows = 0
        self.first_data_rows: list[tuple[Any, int]] = []  # (sheet, last data row)
        self.totals = [Decimal(0) if c.total else None for c in self.columns]
        self._templates = [self._template(c) for c in self.columns]
        self._new_sheet()

    def _template(self, column: Column) -> _Styled | None:
        """How a value of the column becomes a cell: None for plain values."""
        number_format = NUMBER_FORMATS.get(column.kind)
        return _Styled(self, number_format) if number_format else None

    def _new_sheet(self) -> None:
        title = say(self.table.title, self.language)
        if self.sheets:
            title = f"{title} ({len(self.sheets) + 1})"
        sheet = self.workbook.create_sheet(sheet_title(title, self.used))
        # openpyxl turns each value into a cell here; its own version takes a styled cell
        # (every money, count and date cell) through a ValueError and a repr. Same output, ~20 %
        # faster on a million rows (bench/report_export.py). openpyxl is pinned (3.1.5).
        sheet._values_to_row = MethodType(_values_to_row, sheet)
        for index, column in enumerate(self.columns, start=1):
            width = column.width or max(
                WIDTHS.get(column.kind, 14), display_width(self.headers[index - 1]) + 3
            )
            sheet.column_dimensions[get_column_letter(index)].width = min(width, 60)
        sheet.freeze_panes = "A2"
        _print_setup(sheet)
        header = []
        for text in self.headers:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
            header.append(cell)
        sheet.append(header)
        self.sheets.append(sheet)
        self.sheet_rows = 1

    def _close_sheet_filter(self) -> None:
        sheet = self.sheets[-1]
        last = max(self.sheet_rows, 1)
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{last}"
        self.first_data_rows.append((sheet, last))

    def append(self, row: Sequence[Any]) -> None:
        if self.sheet_rows >= self.max_rows:
            self._close_sheet_filter()
            self._new_sheet()
        values = []
        for index, value in enumerate(row):
            if isinstance(value, str):
                value = clean_text(value)
                if value.startswith("="):
                    cell = WriteOnlyCell(self.sheets[-1], value=value)
                    cell.data_type = "s"
                    values.append(cell)
                    continue
            total = self.totals[index]
            if total is not None and isinstance(value, int | float | Decimal):
                self.totals[index] = total + (
                    value if isinstance(value, Decimal) else Decimal(str(value))
                )
            template = self._templates[index]
            values.append(template(value) if template is not None else value)
        self.sheets[-1].append(values)
        self.sheet_rows += 1
        self.data_rows += 1

    def finish(self) -> None:
        self._close_sheet_filter()
        if self.table.totals and self.data_rows:
            if self.sheet_rows >= self.max_rows:
                self._new_sheet()
            cells = []
            for index, column in enumerate(self.columns):
                value: Any = self.totals[index]
                if index == 0 and value is None:
                    value = say(COVER["total"], self.language)
                cell = WriteOnlyCell(self.sheets[-1], value=value)
                cell.font, cell.border = TOTAL_FONT, TOTAL_BORDER
                if value is not None and column.kind in NUMBER_FORMATS:
                    cell.number_format = NUMBER_FORMATS[column.kind]
                cells.append(cell)
            self.sheets[-1].append(cells)
            self.sheet_rows += 1
        if self.table.note:
            self.sheets[-1].append([])
            note = WriteOnlyCell(self.sheets[-1], value=say(self.table.note, self.language))
            note.font = Font(italic=True)
            self.sheets[-1].append([note])

    def add_chart(self) -> bool:
        spec = self.table.chart
        if spec is None or not self.data_rows:
            return False
        sheet, last = self.first_data_rows[0]
        chart = BarChart() if spec.kind == BAR else LineChart()
        if spec.kind == BAR:
            chart.type = "col"
            if spec.stacked:
                chart.grouping, chart.overlap = "stacked", 100
        chart.title = say(spec.title, self.language)
        if spec.y_title:
            chart.y_axis.title = say(spec.y_title, self.language)
        if spec.x_title:
            chart.x_axis.title = say(spec.x_title, self.language)
        # openpyxl 3.1 hides axes unless told otherwise; LibreOffice and Excel then draw none.
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        kinds = {c.key: c.kind for c in self.columns}
        if all(kinds[key] == PERCENT for key in spec.series):
            chart.y_axis.numFmt = "0%"
        chart.height, chart.width = 9, max(16, min(32, 2 + last * 1.2))
        for key in spec.series:
            column = self.table.column_index(key) + 1
            data = Reference(sheet, min_col=column, min_row=1, max_row=last)
            chart.add_data(data, titles_from_data=True)
        for series in chart.series:
            series.smooth = False
        category = self.table.column_index(spec.category) + 1
        chart.set_categories(Reference(sheet, min_col=category, min_row=2, max_row=last))
        # Below a short table (it prints on the same page), beside a long one.
        if last <= CHART_BELOW_ROWS:
            anchor = f"A{last + (3 if self.table.totals else 2) + (2 if self.table.note else 0)}"
        else:
            anchor = f"{get_column_letter(len(self.columns) + 2)}2"
        sheet.add_chart(chart, anchor)
        return True


def _print_setup(sheet: Any) -> None:
    """Landscape, as wide as the page, the header row on every printed page."""
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = PAPER_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def write_workbook(
    result: ReportResult,
    path: Path,
    cover: Cover,
    language: str,
    max_sheet_rows: int = EXCEL_MAX_ROWS,
    progress: Callable[[int], None] | None = None,
) -> Written:
    """Write ``result`` to ``path`` (xlsx); ``progress(rows)`` every few thousand rows."""
    workbook = Workbook(write_only=True)
    used: set[str] = set()
    cover_sheet = workbook.create_sheet(sheet_title(say(COVER["sheet"], language), used))
    written = Written(sheets=[cover_sheet.title])
    done = 0
    for table in result.tables:
        writer = _SheetWriter(workbook, table, language, used, max_sheet_rows)
        for row in table.rows:
            writer.append(row)
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
        writer.finish()
        written.rows[say(table.title, language)] = writer.data_rows
        written.sheets.extend(sheet.title for sheet in writer.sheets)
        written.charts += writer.add_chart()
    _write_cover(cover_sheet, result, cover, language, written)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    workbook.save(partial)
    partial.replace(path)
    if progress is not None:
        progress(done)
    return written


def _write_cover(
    sheet: Any, result: ReportResult, cover: Cover, language: str, written: Written
) -> None:
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 70
    sheet.page_setup.paperSize = PAPER_A4
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0

    def label(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = LABEL_FONT
        return cell

    def line(key: str, value: Any, number_format: str | None = None) -> None:
        cell = WriteOnlyCell(sheet, value=value)
        cell.alignment = Alignment(wrap_text=True, vertical="top", horizontal="left")
        if number_format:
            cell.number_format = number_format
        sheet.append([label(say(COVER[key], language)), cell])

    title = WriteOnlyCell(sheet, value=cover.title)
    title.font = TITLE_FONT
    sheet.append([title])
    sheet.append([])
    line("report", f"{cover.title} ({cover.report})")
    line("as_of", cover.as_of, "yyyy-mm-dd")
    line("run_by", cover.run_by)
    line("run_at", cover.run_at, "yyyy-mm-dd hh:mm:ss")
    line("timezone", cover.timezone)
    if cover.role:
        line("role", cover.role)
    if cover.schedule:
        line("schedule", cover.schedule)
    line("pii", say(COVER["full" if cover.pii_full else "masked"], language))
    line("language", "中文" if language == "zh" else "English")
    sheet.append([])
    sheet.append([label(say(COVER["parameters"], language))])
    if cover.parameters:
        for name, value in cover.parameters:
            sheet.append([name, value])
    else:
        sheet.append([say(COVER["none"], language)])
    sheet.append([])
    sheet.append([label(say(COVER["rows"], language))])
    for table_title, rows in written.rows.items():
        count = WriteOnlyCell(sheet, value=rows)
        count.number_format, count.alignment = "#,##0", Alignment(horizontal="left")
        sheet.append([table_title, count])
    if result.summary:
        sheet.append([])
        for text, value in result.summary:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, float) and 0 <= value <= 1:
                cell.number_format = "0.0%"
            elif isinstance(value, Decimal):
                cell.number_format = "#,##0.00"
            cell.alignment = Alignment(horizontal="left")
            sheet.append([label(say(text, language)), cell])
    if result.empty_message or written.total_rows == 0:
        sheet.append([])
        note = WriteOnlyCell(sheet, value=say(result.empty_message or COVER["empty"], language))
        note.font = NOTE_FONT
        sheet.append([label(say(COVER["note"], language)), note])
    sheet.append([])
    sheet.append([say(COVER["generated"], language)])
