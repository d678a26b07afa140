"""Benchmark: a 1,000,000-row case export as an Excel workbook.

Side by side, each in a child process of its own (so its peak memory is its own), writing the
same generated rows — the 28 columns of the case list export (``reports.listings.CaseList``),
Chinese headers, money, counts, dates and times — with the same furniture: a cover sheet, a
styled header, frozen panes, an autofilter, column widths, number formats and a totals row, and
the same split across sheets beyond Excel's 1,048,576 rows:

- ours: ``reports.workbook.write_workbook`` (openpyxl's write-only mode), exactly as a report
  job writes it;
- peer: xlsxwriter in ``constant_memory`` mode (the fastest streaming xlsx writer in Python).

Reports seconds (wall and CPU), the time ratio ours / peer, the peak resident memory (VmHWM) of
both, and ours at 100,000 rows against 1,000,000 (memory must not grow with the rows). Results
go to ``bench/out/report_export.json``.

Usage: python bench/report_export.py [--rows 1000000] [--small 100000] [--verify]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payments_import import peak_rss_mb

OUT = Path(__file__).resolve().parent / "out"
EXCEL_MAX_ROWS = 1_048_576
STATUSES = ["催收中", "已承诺还款", "法诉", "新案"]
BUCKETS = [("M1", 15), ("M2", 45), ("M3", 75), ("M4+", 120)]
TEAMS = ["电话催收一组", "电话催收二组", "早期提醒组", "大额专案组", "法务组"]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]


def case_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` rows shaped like the case export's (same columns, kinds and value sizes)."""
    opened = date(2025, 1, 1)
    due = datetime(2025, 4, 1, 9, 0)
    for i in range(count):
        bucket, dpd = BUCKETS[i % 4]
        principal = Decimal(1000 + (i * 37) % 90000) / 10
        interest = Decimal((i * 13) % 5000) / 100
        fees = Decimal((i * 7) % 2000) / 100
        yield (
            f"K{i:09d}",
            NAMES[i % 8],
            f"1101011990{i % 10000:04d}****{i % 9973:04d}"[:18],
            f"138****{i % 10000:04d}",
            f"L{i:09d}",
            "信用卡" if i % 3 else "现金贷",
            ["北京", "上海", "广东", "江苏"][i % 4],
            STATUSES[i % 4],
            opened + timedelta(days=i % 90),
            None,
            dpd + i % 15,
            bucket,
            principal,
            interest,
            fees,
            principal + interest + fees,
            principal + interest,
            principal * 3,
            "CNY",
            ["LOW", "MEDIUM", "HIGH"][i % 3],
            (i * 31) % 1000,
            ["P1", "P2", "P3"][i % 3],
            TEAMS[i % 5],
            f"催收员{i % 400:03d}",
            "gentle_reminder" if i % 2 else "intensive_calls",
            "call",
            due + timedelta(minutes=i % 10000),
            "否",
        )


def _columns() -> tuple[Any, ...]:
    from reports.listings import CaseList  # noqa: PLC0415

    return CaseList().columns("zh")


def write_ours(path: Path, rows: int, max_sheet_rows: int) -> dict[str, Any]:
    from reports.result import ReportResult, Table  # noqa: PLC0415
    from reports.workbook import Cover, write_workbook  # noqa: PLC0415

    table = Table("cases", ("Cases", "案件清单"), _columns(), case_rows(rows), rows, totals=True)
    cover = Cover(
        title="案件清单导出",
        report="cases",
        parameters=[("状态", "催收中, 已承诺还款, 法诉, 新案")],
        as_of=date(2025, 3, 31),
        run_by="bench",
        run_at=datetime(2025, 4, 1, 9, 0),
        timezone="Asia/Shanghai",
    )
    written = write_workbook(
        ReportResult([table]), path, cover, "zh", max_sheet_rows=max_sheet_rows
    )
    return {"rows": written.total_rows, "sheets": written.sheets}


def write_peer(path: Path, rows: int, max_sheet_rows: int) -> dict[str, Any]:
    import xlsxwriter  # noqa: PLC0415

    from reports.workbook import NUMBER_FORMATS, WIDTHS, display_width  # noqa: PLC0415

    columns = _columns()
    headers = [c.label[1] for c in columns]
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    header_format = workbook.add_format(
        {"bold": True, "font_color": "#FFFFFF", "bg_color": "#305496", "align": "center",
         "valign": "vcenter", "text_wrap": True}
    )  # fmt: skip
    formats = [
        workbook.add_format({"num_format": NUMBER_FORMATS[c.kind]})
        if c.kind in NUMBER_FORMATS
        else None
        for c in columns
    ]
    total_format = workbook.add_format({"bold": True, "top": 1, "bottom": 6})
    totals = [Decimal(0) if c.total else None for c in columns]
    cover = workbook.add_worksheet("封面")
    cover.set_column(0, 0, 30)
    cover.set_column(1, 1, 70)
    for r, (label, value) in enumerate(
        [
            ("报表", "案件清单导出 (cases)"),
            ("数据截至（业务日期）", "2025-03-31"),
            ("运行人", "bench"),
        ]
    ):
        cover.write(r, 0, label)
        cover.write(r, 1, value)
    sheets: list[str] = []
    sheet = None
    row_number = 0

    def new_sheet() -> Any:
        name = "案件清单" if not sheets else f"案件清单 ({len(sheets) + 1})"
        ws = workbook.add_worksheet(name)
        sheets.append(name)
        for index, column in enumerate(columns):
            width = column.width or max(
                WIDTHS.get(column.kind, 14), display_width(headers[index]) + 3
            )
            ws.set_column(index, index, min(width, 60))
        ws.freeze_panes(1, 0)
        ws.write_row(0, 0, headers, header_format)
        return ws

    def close_filter(ws: Any, last: int) -> None:
        ws.autofilter(0, 0, last, len(columns) - 1)

    written = 0
    for values in case_rows(rows):
        if sheet is None or row_number >= max_sheet_rows:
            if sheet is not None:
                close_filter(sheet, row_number - 1)
            sheet = new_sheet()
            row_number = 1
        for index, value in enumerate(values):
            if value is None:
                continue
            if totals[index] is not None:
                totals[index] += value
            if isinstance(value, Decimal):
                value = float(value)
            if isinstance(value, datetime | date):
                sheet.write_datetime(row_number, index, value, formats[index])
            elif formats[index] is not None:
                sheet.write_number(row_number, index, value, formats[index])
            else:
                sheet.write(row_number, index, value)
        row_number += 1
        written += 1
    close_filter(sheet, row_number - 1)
    if row_number >= max_sheet_rows:
        sheet = new_sheet()
        row_number = 1
    for index, total in enumerate(totals):
        value = "合计" if index == 0 else (float(total) if total is not None else None)
        if value is not None:
            sheet.write(row_number, index, value, total_format)
    workbook.close()
    return {"rows": written, "sheets": ["封面", *sheets]}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, rows: int, out: Path, max_sheet_rows: int) -> None:
    started, cpu = time.perf_counter(), _cpu_seconds()
    found = (write_ours if kind == "ours" else write_peer)(out, rows, max_sheet_rows)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    print(
        json.dumps(
            {
                "writer": kind,
                "rows": found["rows"],
                "sheets": len(found["sheets"]),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "rows_per_second": round(found["rows"] / seconds),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "file_mb": round(out.stat().st_size / 1e6, 1),
            }
        )
    )


def measure(kind: str, rows: int, folder: Path, max_sheet_rows: int) -> dict[str, Any]:
    out = folder / f"{kind}_{rows}.xlsx"
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--rows", str(rows), "--out", str(out),
         "--max-sheet-rows", str(max_sheet_rows)],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    found["path"] = str(out)
    print(json.dumps({k: v for k, v in found.items() if k != "path"}), flush=True)
    return found


def verify(path: str, rows: int) -> None:
    """Read the workbook back (openpyxl read-only): the data rows add up to ``rows``."""
    from openpyxl import load_workbook  # noqa: PLC0415

    workbook = load_workbook(path, read_only=True)
    data = 0
    for sheet in workbook.worksheets[1:]:
        for row in sheet.iter_rows(min_row=2, max_col=1, values_only=True):
            if row[0] is not None and row[0] != "合计":
                data += 1
    assert data == rows, f"{path}: {data} rows, expected {rows}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--max-sheet-rows", type=int, default=EXCEL_MAX_ROWS)
    parser.add_argument("--verify", action="store_true", help="read the files back")
    parser.add_argument("--child", choices=["ours", "peer"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.out, args.max_sheet_rows)
        return
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        results = {
            "ours_small": measure("ours", args.small, Path(folder), args.max_sheet_rows),
            "ours": measure("ours", args.rows, Path(folder), args.max_sheet_rows),
            "peer_small": measure("peer", args.small, Path(folder), args.max_sheet_rows),
            "peer": measure("peer", args.rows, Path(folder), args.max_sheet_rows),
        }
        if args.verify:
            verify(results["ours"]["path"], args.rows)
            verify(results["peer"]["path"], args.rows)
    summary = {
        "rows": args.rows,
        "time_ratio_ours_over_xlsxwriter": round(
            results["ours"]["seconds"] / results["peer"]["seconds"], 2
        ),
        # CPU time is what the writers cost; wall time also counts whatever else the machine ran.
        "cpu_time_ratio_ours_over_xlsxwriter": round(
            results["ours"]["cpu_seconds"] / results["peer"]["cpu_seconds"], 2
        ),
        "ours_seconds": results["ours"]["seconds"],
        "xlsxwriter_seconds": results["peer"]["seconds"],
        "ours_peak_mb": results["ours"]["peak_rss_mb"],
        "xlsxwriter_peak_mb": results["peer"]["peak_rss_mb"],
        f"ours_peak_mb_at_{args.small}": results["ours_small"]["peak_rss_mb"],
        "ours_peak_growth_mb": round(
            results["ours"]["peak_rss_mb"] - results["ours_small"]["peak_rss_mb"], 1
        ),
        "runs": {k: {x: y for x, y in v.items() if x != "path"} for k, v in results.items()},
    }
    (OUT / "report_export.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
