"""The workbook writer: streamed sheets split at the row limit, headers, filters, formats,
totals, native charts, a cover; and a real client (LibreOffice) opening one."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from reports import jobs
from reports.labels import COVER
from reports.report import Requester
from reports.result import (
    BAR,
    DATE,
    DATETIME,
    INT,
    LINE,
    MONEY,
    PERCENT,
    Chart,
    Column,
    ReportResult,
    Table,
)
from reports.workbook import EXCEL_MAX_ROWS, Cover, display_width, sheet_title, write_workbook
from tests.conftest import skip_or_fail
from tests.reports.book import report_book_fixture  # noqa: F401  (fixture)

COLUMNS = (
    Column("no", ("No.", "编号")),
    Column("name", ("Name", "名称")),
    Column("count", ("Count", "数量"), INT, total=True),
    Column("amount", ("Amount", "金额"), MONEY, total=True),
    Column("rate", ("Rate", "比率"), PERCENT),
    Column("day", ("Day", "日期"), DATE),
    Column("at", ("At", "时间"), DATETIME),
)
COVER_INFO = Cover(
    title="测试报表",
    report="test",
    parameters=[("开始日期", "2025-03-01")],
    as_of=date(2025, 3, 31),
    run_by="admin",
    run_at=datetime(2025, 4, 1, 9, 30),
    timezone="Asia/Shanghai",
    role="Admin",
)


def rows(n: int):
    for i in range(1, n + 1):
        yield (
            f"R{i}",
            f"行{i}",
            i,
            Decimal(i) / 4,
            i / n,
            date(2025, 3, 1 + i % 28),
            datetime(2025, 3, 1, 9, i % 60),
        )


def values(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_a_long_table_continues_on_more_sheets_each_with_header_filter_and_freeze(tmp_path):
    table = Table("t", ("Things", "明细"), COLUMNS, rows(10), count=10, totals=True)
    seen: list[int] = []
    written = write_workbook(
        ReportResult([table]),
        tmp_path / "t.xlsx",
        COVER_INFO,
        "zh",
        max_sheet_rows=4,
        progress=seen.append,
    )
    assert written.rows == {"明细": 10}
    assert written.sheets == ["封面", "明细", "明细 (2)", "明细 (3)", "明细 (4)"]
    workbook = load_workbook(tmp_path / "t.xlsx")
    assert workbook.sheetnames == written.sheets
    data = [values(workbook[name]) for name in written.sheets[1:]]
    assert [len(d) for d in data] == [4, 4, 4, 3], "3 rows + header a sheet; totals on the last"
    for sheet_values, name in zip(data, written.sheets[1:], strict=True):
        assert sheet_values[0] == ["编号", "名称", "数量", "金额", "比率", "日期", "时间"]
        assert workbook[name].freeze_panes == "A2"
    assert [workbook[n].auto_filter.ref for n in written.sheets[1:]] == [
        "A1:G4",
        "A1:G4",
        "A1:G4",
        "A1:G2",
    ]
    assert [r[0] for d in data for r in d[1:]] == [f"R{i}" for i in range(1, 11)] + ["合计"]
    assert data[-1][-1][2:4] == [55, 13.75], "totals of every row on every sheet"
    assert seen[-1] == 10


def test_formats_widths_and_text_that_looks_like_a_formula(tmp_path):
    table = Table(
        "t",
        ("Things", "明细"),
        COLUMNS,
        [
            (
                '=HYPERLINK("http://x")',
                "bad\x00\x07 name",
                1,
                Decimal("1234.5"),
                0.256,
                date(2025, 3, 1),
                datetime(2025, 3, 1, 9, 5),
            )
        ],
        count=1,
    )
    write_workbook(ReportResult([table]), tmp_path / "t.xlsx", COVER_INFO, "en")
    sheet = load_workbook(tmp_path / "t.xlsx")["Things"]
    assert sheet["A2"].data_type == "s" and sheet["A2"].value.startswith("=HYPERLINK")
    assert sheet["B2"].value == "bad name"
    assert [sheet.cell(2, c).number_format for c in range(3, 8)] == [
        "#,##0",
        "#,##0.00",
        "0.0%",
        "yyyy-mm-dd",
        "yyyy-mm-dd hh:mm:ss",
    ]
    assert sheet["A1"].font.b and sheet["A1"].fill.fgColor.rgb.endswith("305496")
    assert sheet.column_dimensions["D"].width == 14
    assert sheet.page_setup.orientation == "landscape"
    assert display_width("逾期天数") == 8 and display_width("DPD") == 3


def test_native_charts_refer_to_the_tables_cells(tmp_path):
    bars = Table(
        "b",
        ("Buckets", "阶段"),
        (Column("bucket", ("Bucket", "阶段")), Column("n", ("Cases", "案件数"), INT)),
        [("M1", 3), ("M2", 5), ("M3", 1)],
        count=3,
        chart=Chart(BAR, ("Cases by bucket", "各阶段案件数"), "bucket", ("n",)),
    )
    lines = Table(
        "l",
        ("Trend", "走势"),
        (
            Column("month", ("Month", "月份")),
            Column("a", ("A", "甲"), PERCENT),
            Column("b", ("B", "乙"), PERCENT),
        ),
        [("2025-01", 0.1, 0.2), ("2025-02", 0.15, 0.25)],
        count=2,
        chart=Chart(LINE, ("Rates", "比率"), "month", ("a", "b")),
    )
    written = write_workbook(ReportResult([bars, lines]), tmp_path / "c.xlsx", COVER_INFO, "en")
    assert written.charts == 2
    workbook = load_workbook(tmp_path / "c.xlsx")
    bar = workbook["Buckets"]._charts[0]
    assert bar.tagname == "barChart" and bar.type == "col"
    assert bar.series[0].val.numRef.f == "'Buckets'!$B$2:$B$4"
    assert bar.series[0].cat.numRef.f == "'Buckets'!$A$2:$A$4"
    line = workbook["Trend"]._charts[0]
    assert line.tagname == "lineChart" and len(line.series) == 2
    assert line.y_axis.numFmt.formatCode == "0%"


def test_the_cover_names_the_report_its_parameters_and_the_run(tmp_path):
    empty = Table("t", ("Things", "明细"), COLUMNS, [], count=0)
    result = ReportResult([empty], summary=[(("Cases", "案件数"), 0)])
    write_workbook(result, tmp_path / "e.xlsx", COVER_INFO, "zh")
    workbook = load_workbook(tmp_path / "e.xlsx")
    cover = values(workbook["封面"])
    assert cover[0][0] == "测试报表"
    found = {row[0]: row[1] for row in cover if row and row[0]}
    assert found["报表"] == "测试报表 (test)"
    assert found["数据截至（业务日期）"] == datetime(2025, 3, 31)
    assert found["运行人"] == "admin"
    assert found["运行时间"] == datetime(2025, 4, 1, 9, 30)
    assert found["报送角色"] == "Admin"
    assert found["开始日期"] == "2025-03-01"
    assert found["明细"] == 0
    assert found["说明"] == COVER["empty"][1]
    assert values(workbook["明细"]) == [["编号", "名称", "数量", "金额", "比率", "日期", "时间"]]


def test_sheet_titles_are_what_excel_accepts():
    used: set[str] = set()
    assert sheet_title("a/b:c*d?[e]", used) == "a_b_c_d__e_"
    assert sheet_title("x" * 40, used) == "x" * 31
    assert sheet_title("x" * 40, used) == "x" * 27 + " (2)"
    assert EXCEL_MAX_ROWS == 1_048_576


def test_libreoffice_opens_a_report_and_prints_it_to_pdf(engine, report_book, tmp_path):
    """As a client would: LibreOffice Calc, headless, converts the workbook to PDF."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        skip_or_fail("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = jobs.request_run(
            session,
            "team_performance",
            {"start": "2025-03-01"},
            requester=Requester("admin", frozenset({"Admin"})),
            queued=False,
        )
    workbook = tmp_path / "team_performance.xlsx"
    assert jobs.execute(engine, run.id, out=workbook)["status"] == "finished"
    profile = tmp_path / "lo-profile"
    completed = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "pdf"),
            str(workbook),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    pdf = tmp_path / "pdf" / "team_performance.pdf"
    assert pdf.is_file(), completed.stdout + completed.stderr
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?![s\w])", data)
    assert len(pages) >= 3, "cover, teams with their chart, the trend with its chart"


def test_report_files_are_kept_under_the_report_folder(tmp_path):
    assert jobs.report_dir() == Path(tmp_path / "instance" / "reports")
