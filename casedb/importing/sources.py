"""Reading import files as streams of text rows: CSV in UTF-8 or GBK, and XLSX."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

SNIFF_BYTES = 1 << 16


class SourceError(ValueError):
    """The file as a whole cannot be read (wrong format, no header, undecodable)."""


@dataclass
class SourceRows:
    """The header and a lazy iterator of ``(row number, cells)``; row 1 is the header."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the start of the file decodes as such, else GB18030.

    GB18030 is a superset of GBK and GB2312, which is what Chinese banking exports use.
    """
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def open_rows(path: Path, encoding: str | None = None) -> SourceRows:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    if suffix in (".csv", ".txt", ".tsv", ""):
        return _csv_rows(path, encoding)
    raise SourceError(f"unsupported file type {suffix!r}: use .csv or .xlsx")


def _csv_rows(path: Path, encoding: str | None) -> SourceRows:
    encoding = encoding or detect_encoding(path)
    handle = open(path, encoding=encoding, newline="")  # noqa: SIM115  (closed by rows())
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.reader(handle, dialect)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise SourceError("the file is empty: expected a header row") from None
    except UnicodeDecodeError as exc:
        handle.close()
        raise SourceError(f"cannot decode the file as {encoding}: {exc.reason}") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        with handle:
            try:
                for number, cells in enumerate(reader, start=2):
                    if any(cells):
                        yield number, [cell.strip() for cell in cells]
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"cannot decode the file as {encoding} after row {reader.line_num}: "
                    f"{exc.reason}"
                ) from None

    return SourceRows([h.strip() for h in header], rows(), encoding)


def _xlsx_rows(path: Path) -> SourceRows:
    from openpyxl import load_workbook  # noqa: PLC0415  (heavy; only for XLSX files)

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise SourceError(f"not a readable XLSX workbook: {exc}") from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = [_cell_text(v) for v in next(iterator)]
    except StopIteration:
        workbook.close()
        raise SourceError("the first sheet is empty: expected a header row") from None
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, values in enumerate(iterator, start=2):
                cells = [_cell_text(v) for v in values[: len(header)]]
                if any(cells):
                    yield number, cells
        finally:
            workbook.close()

    return SourceRows(header, rows(), "xlsx")


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(Decimal(repr(value))) if not value.is_integer() else str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).strip()
