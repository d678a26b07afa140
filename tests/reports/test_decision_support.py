"""The decision-support workbook: every section on a sheet of its own, and a section that cannot
be computed says why instead of failing the report."""

from __future__ import annotations

from openpyxl import load_workbook

from reports.decision_support import write_report
from tests.reports.test_forecast import _constructed


def test_the_workbook_has_every_section_and_says_what_is_missing(engine, run_import, tmp_path):
    _constructed(run_import)
    path = tmp_path / "decision_support.xlsx"
    written = write_report(engine, path, language="en")
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == written.sheets
    assert book.sheetnames[1:] == [
        "Propensity models",
        "Payday effect",
        "Contacts by local hour",
        "Contacts by channel",
        "Contacts by time window",
        "Strategy effectiveness",
        "Treatment steps",
        "Forecast backtest",
        "Forecast",
        "Champion _ challenger",
    ]
    cells = [
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    ]
    assert any("no propensity model has been trained yet" in c for c in cells)
    assert any("no payment with a known day in the period" in c for c in cells)
    assert any("2025-04" in c for c in cells), "the forecast's next month"
    assert any("too little history to backtest: 3 month(s)" in c for c in cells)
