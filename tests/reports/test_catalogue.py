"""Every named report made on the fixture book and read back with openpyxl: its sheets, headers,
totals and native charts; the numbers against the book (tests/reports/book.py) worked out by
hand; data scope, masking and bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import ReportRun, ReportStatus
from console.roles import SEE_ALL_CASES
from reports import jobs, metrics
from reports.catalogue import REPORTS, available_to, get_report
from reports.parameters import ReportError
from reports.report import SEE_ALL, Requester
from tests.reports.book import OPEN_OVERDUE, D, report_book_fixture  # noqa: F401  (fixture)

ADMIN = Requester("admin", frozenset({"Admin"}))
AUDITOR = Requester("auditor", frozenset({"Auditor"}))
SUPERVISOR = Requester("supervisor1", frozenset({"Supervisor"}))
COLLECTOR = Requester("collector1", frozenset({"Collector"}))
NOW_PERIOD = {"start": "today-1", "end": "today"}  # calendar-clock reports: the rows made now

# Per report: parameters for the book, the data sheets (English titles) and the header of the
# first data sheet, and whether it has native charts.
EXPECTED = {
    "cases": ({}, ["Cases"], ["Case no.", "Customer", "ID number", "Mobile", "Loan no."], False),
    "aging": ({}, ["Aging"], ["Bucket", "Accounts", "Share of accounts", "Balance"], True),
    "roll_rates": (
        {"start": "2025-01-01", "end": "2025-03-31"},
        ["Roll rates", "Transitions (accounts)", "Cure rates"],
        ["Months", "M0→M1", "M1→M2", "M2→M3", "M3→M4+"],
        True,
    ),
    "team_performance": (
        {"start": "2025-03-01"},
        ["Teams", "Overdue-rate trend"],
        ["Team", "Name", "Accounts", "Overdue rate (count)"],
        True,
    ),
    "collector_performance": (
        {"start": "2025-03-01"},
        ["Collectors"],
        ["Rank", "Collector", "Name", "Team", "Open cases", "Collected"],
        True,
    ),
    "strategy": (
        {"start": "2025-03-01"},
        ["Champion vs challenger", "By strategy"],
        ["Arm", "Cases", "Cured", "Cure rate"],
        True,
    ),
    "promises": (
        {"start": "2025-03-01"},
        ["Promises", "By status"],
        ["Promise no.", "Case no.", "Customer", "Collector", "Team", "Amount promised"],
        True,
    ),
    "compliance_log": (
        NOW_PERIOD,
        ["Checks", "By verdict and rule"],
        ["Checked at", "Contact at", "Case no."],
        False,
    ),
    "audit_trail": (NOW_PERIOD, ["Audit entries"], ["Entry", "When", "Who", "Action"], False),
    "alerts": (NOW_PERIOD, ["By type", "Alerts"], ["Type", "Alerts", "Unresolved"], True),
}


def make(
    engine,
    tmp_path: Path,
    name: str,
    params: dict | None = None,
    requester: Requester = ADMIN,
    language: str = "en",
    fmt: str = "xlsx",
    **options,
) -> tuple[dict, Path]:
    """Ask for and make the report in this process (as ``run.py report`` does)."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = jobs.request_run(
            session,
            name,
            params or {},
            requester=requester,
            fmt=fmt,
            language=language,
            queued=False,
        )
    path = tmp_path / f"{name}.{fmt}"
    return jobs.execute(engine, run.id, out=path, **options), path


def sheet_rows(sheet) -> list[list]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_catalogue_names_the_ten_reports_of_the_issue():
    assert list(REPORTS) == [
        "cases",
        "aging",
        "roll_rates",
        "team_performance",
        "collector_performance",
        "strategy",
        "promises",
        "compliance_log",
        "audit_trail",
        "alerts",
    ]
    assert set(EXPECTED) == set(REPORTS)


def test_the_roles_that_see_every_case_are_the_consoles():
    assert SEE_ALL == SEE_ALL_CASES


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_report_opens_with_its_cover_sheets_headers_and_charts(
    engine, report_book, tmp_path, name
):
    params, sheets, header, charted = EXPECTED[name]
    outcome, path = make(engine, tmp_path, name, params)
    assert outcome["status"] == "finished", outcome
    workbook = load_workbook(path)
    assert workbook.sheetnames[0] == "Cover"
    assert workbook.sheetnames[1:] == sheets
    data = workbook[workbook.sheetnames[1]]
    assert [c.value for c in data[1]][: len(header)] == header
    assert data.freeze_panes == "A2"
    assert data.auto_filter.ref and data.auto_filter.ref.startswith("A1:")
    charts = sum(len(workbook[s]._charts) for s in workbook.sheetnames[1:])
    assert (charts > 0) is charted, f"{name}: {charts} charts"
    cover = {row[0]: row[1] for row in sheet_rows(workbook["Cover"]) if row and row[0]}
    assert cover["Report"] == f"{REPORTS[name].title[0]} ({name})"
    assert cover["Data as of (business date)"].date() == D
    assert cover["Run by"] == "admin"
    assert cover["Personal data"] == "masked"
    assert "Run at" in cover


def test_the_case_export_holds_every_case_with_totals_and_formats(engine, report_book, tmp_path):
    outcome, path = make(engine, tmp_path, "cases")
    assert outcome["rows"] == 4
    sheet = load_workbook(path)["Cases"]
    rows = sheet_rows(sheet)
    header = rows[0]
    by_case = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:5]}
    assert list(by_case) == ["K3", "K1", "K2", "K4"], "highest priority first"
    k1 = by_case["K1"]
    assert k1["Customer"] == "张三"
    assert k1["ID number"] == "110101********1234"
    assert k1["Mobile"] == "138****8001"
    assert k1["Status"] == "In collection"
    assert k1["Overdue"] == pytest.approx(1060.0)
    assert k1["Team"] == "一组" and k1["Collector"] == "催收员甲"
    totals = dict(zip(header, rows[5], strict=True))
    assert totals["Case no."] == "Total"
    assert Decimal(str(totals["Overdue"])) == OPEN_OVERDUE
    assert Decimal(str(totals["Overdue at entry"])) == Decimal(6900)
    overdue_column = header.index("Overdue") + 1
    assert sheet.cell(2, overdue_column).number_format == "#,##0.00"
    assert sheet.cell(2, header.index("Case opened on") + 1).number_format == "yyyy-mm-dd"
    assert sheet.column_dimensions["A"].width >= 10


def test_the_case_export_takes_any_filter_of_the_case_list(engine, report_book, tmp_path):
    def cases(**params) -> list[str]:
        _, path = make(engine, tmp_path, "cases", params)
        return [row[0] for row in sheet_rows(load_workbook(path)["Cases"])[1:] if row[0] != "Total"]

    assert cases(status="in_collection,legal") == ["K3", "K1"]
    assert cases(bucket="M1,M2") == ["K1", "K2"]
    assert cases(team="T2") == ["K3", "K4"]
    assert cases(collector="CL1", dpd_min="20") == ["K1"]
    assert cases(dpd_min="1", dpd_max="45") == ["K1", "K2"]
    assert cases(product="credit_card") == ["K2", "K4"]
    assert cases(region="北京,上海") == ["K3", "K1"]
    assert cases(overdue_min="1000") == ["K3", "K1"]
    assert cases(strategy="intensive") == ["K3"]
    assert cases(case_no="K1") == ["K1"]
    assert cases(opened_from="2025-01-01", opened_to="2025-01-31") == ["K3", "K1", "K2", "K4"]


def test_a_filter_that_matches_nothing_gives_an_empty_workbook_that_says_so(
    engine, report_book, tmp_path
):
    outcome, path = make(engine, tmp_path, "cases", {"dpd_min": "500"}, language="zh")
    assert outcome["status"] == "finished" and outcome["rows"] == 0
    assert outcome["message"] == "没有符合筛选条件的案件。"
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["封面", "案件清单"]
    assert sheet_rows(workbook["案件清单"])[0][:3] == ["案件号", "客户", "证件号"]
    assert len(sheet_rows(workbook["案件清单"])) == 1, "the header alone"
    cover = sheet_rows(workbook["封面"])
    assert ["说明", "没有符合筛选条件的案件。"] in cover


def test_chinese_is_the_default_language_of_headers_and_values(engine, report_book, tmp_path):
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = jobs.request_run(session, "cases", {}, requester=ADMIN, queued=False)
    assert run.language == "zh"
    path = tmp_path / "zh.xlsx"
    jobs.execute(engine, run.id, out=path)
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["封面", "案件清单"]
    rows = sheet_rows(workbook["案件清单"])
    assert rows[0][:8] == ["案件号", "客户", "证件号", "手机号", "借据号", "产品", "地区", "状态"]
    assert rows[1][7] == "法诉" and rows[-1][0] == "合计"
    cover = {row[0]: row[1] for row in sheet_rows(workbook["封面"]) if row and row[0]}
    assert cover["报表"] == "案件清单导出 (cases)"
    assert cover["个人信息"] == "已脱敏"


def test_collectors_and_supervisors_export_only_the_cases_in_their_scope(
    engine, report_book, tmp_path
):
    def cases(requester: Requester) -> list[str]:
        _, path = make(engine, tmp_path, "cases", requester=requester)
        return [row[0] for row in sheet_rows(load_workbook(path)["Cases"])[1:] if row[0] != "Total"]

    assert cases(COLLECTOR) == ["K1", "K2"]
    assert cases(Requester("collector2", frozenset({"Collector"}))) == ["K3", "K4"]
    assert cases(SUPERVISOR) == ["K1", "K2"]
    assert cases(Requester("nobody", frozenset({"Collector"}))) == []
    assert cases(AUDITOR) == ["K3", "K1", "K2", "K4"]


def test_personal_data_is_masked_unless_a_permitted_role_asks_for_it(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "cases", {"pii": "full", "case_no": "K1"})
    row = sheet_rows(load_workbook(path)["Cases"])[1]
    assert row[2:4] == ["110101199003071234", "13800138001"]
    cover = {r[0]: r[1] for r in sheet_rows(load_workbook(path)["Cover"]) if r and r[0]}
    assert cover["Personal data"] == "unmasked (role permits it)"
    with pytest.raises(ReportError, match="unmasked personal data is only for Admin"):
        make(engine, tmp_path, "cases", {"pii": "full"}, requester=SUPERVISOR)


def test_reports_are_offered_by_role(engine):
    def names(*roles: str) -> set[str]:
        return {r.name for r in available_to(Requester("x", frozenset(roles)))}

    assert names("Collector") == {"cases", "promises", "alerts"}
    assert names("Auditor") == set(REPORTS)
    assert "audit_trail" not in names("Supervisor")
    assert "compliance_log" in names("Supervisor")
    assert names("Analyst") == set(REPORTS) - {"audit_trail", "compliance_log"}
    with pytest.raises(ReportError, match="not available to collector1"):
        make(engine, Path("/nonexistent"), "audit_trail", requester=COLLECTOR)


def test_roll_rates_are_the_transition_matrix_of_the_book(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "roll_rates", EXPECTED["roll_rates"][0], fmt="json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert list(document) == ["months", "buckets", "transitions"]
    assert document["months"] == ["2025-01", "2025-02", "2025-03"]
    assert document["buckets"] == ["M0", "M1", "M2", "M3", "M4+"]
    january = document["transitions"]["2025-01->2025-02"]
    assert january["M0"]["M1"] == 1 and january["M1"]["M0"] == 1 and january["M1"]["M2"] == 1
    assert january["M2"]["M3"] == 1 and sum(sum(row.values()) for row in january.values()) == 4
    february = document["transitions"]["2025-02->2025-03"]
    assert february["M3"]["M4+"] == 1 and february["M2"]["M0"] == 1
    with engine.connect() as connection:
        scope = metrics.Scope(start=D.replace(month=1, day=1), end=D)
        expected = metrics.roll_rates(connection, scope).as_json()
    assert path.read_text(encoding="utf-8") == expected + "\n", "exactly RollRates.as_json()"


def test_roll_rates_workbook_has_rates_matrix_and_line_chart(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "roll_rates", EXPECTED["roll_rates"][0])
    workbook = load_workbook(path)
    rates = sheet_rows(workbook["Roll rates"])
    # January -> February: of the two accounts in M1 one moved on to M2: 50 %.
    assert rates[1][0] == "2025-01->2025-02" and rates[1][2] == pytest.approx(0.5)
    assert rates[2][0] == "2025-02->2025-03" and rates[2][4] == pytest.approx(1.0)
    chart = workbook["Roll rates"]._charts[0]
    assert chart.tagname == "lineChart" and len(chart.series) == 4
    matrix = sheet_rows(workbook["Transitions (accounts)"])
    assert matrix[0] == [
        "Months",
        "From bucket",
        "to M0",
        "to M1",
        "to M2",
        "to M3",
        "to M4+",
        "Total",
    ]
    assert matrix[-1][0] == "Total" and matrix[-1][-1] == 8


def test_aging_counts_the_open_cases_per_bucket(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "aging", {"group_by": "team"})
    workbook = load_workbook(path)
    rows = sheet_rows(workbook["Aging"])
    cases = {row[0]: row[4] for row in rows[1:6]}
    assert cases == {"M0": 0, "M1": 1, "M2": 1, "M3": 0, "M4+": 1}
    assert rows[6][0] == "Total" and rows[6][4] == 3
    chart = workbook["Aging"]._charts[0]
    assert chart.tagname == "barChart"
    by_team = sheet_rows(workbook["Cases by team"])
    assert by_team[0] == ["team", "M0", "M1", "M2", "M3", "M4+", "Total"]
    assert {row[0]: row[-1] for row in by_team[1:3]} == {"一组": 2, "二组": 1}
    assert workbook["Cases by team"]._charts[0].grouping == "stacked"


def test_team_and_collector_performance_per_team_and_collector(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "team_performance", {"start": "2025-03-01"})
    teams = sheet_rows(load_workbook(path)["Teams"])
    assert [row[0] for row in teams[1:3]] == ["T1", "T2"]
    header = teams[0]
    assert {"Recovery rate", "Average cycle (days)", "Promise-kept rate"} <= set(header)
    t2 = dict(zip(header, teams[2], strict=True))
    # T2 closed K4 on 03-20 after 69 days (opened 01-10).
    assert t2["Cases closed"] == 1 and t2["Average cycle (days)"] == pytest.approx(69.0)
    _, path = make(engine, tmp_path, "collector_performance", {"start": "2025-03-01"})
    collectors = sheet_rows(load_workbook(path)["Collectors"])
    assert {row[1] for row in collectors[1:3]} == {"CL1", "CL2"}
    _, path = make(
        engine, tmp_path, "team_performance", {"start": "2025-03-01"}, requester=SUPERVISOR
    )
    teams = sheet_rows(load_workbook(path)["Teams"])
    assert [row[0] for row in teams[1:] if row[0] != "Total"] == ["T1"], "a supervisor's own"


def test_a_supervisor_may_not_ask_for_another_teams_figures(engine, report_book, tmp_path):
    with pytest.raises(ReportError, match="team T2 is not one of yours"):
        make(engine, tmp_path, "aging", {"team": "T2"}, requester=SUPERVISOR)


def test_strategy_effectiveness_per_arm_and_strategy(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "strategy", {"start": "2025-03-01"})
    workbook = load_workbook(path)
    arms = {row[0]: row for row in sheet_rows(workbook["Champion vs challenger"])[1:3]}
    assert arms["champion"][1] == 2 and arms["challenger"][1] == 2
    # K4 (challenger) paid on 03-20: cured in the period.
    assert arms["challenger"][2] == 1 and arms["champion"][2] == 0
    strategies = {row[0]: row for row in sheet_rows(workbook["By strategy"])[1:3]}
    assert strategies["gentle"][1:4] == [3, 2, 1]
    assert strategies["gentle"][5] == pytest.approx(500.0), "L1 100 + L4 400 in March"


def test_promises_alerts_compliance_and_audit_lists(engine, report_book, tmp_path):
    _, path = make(engine, tmp_path, "promises", {"start": "2025-03-01"})
    workbook = load_workbook(path)
    promises = sheet_rows(workbook["Promises"])
    assert [row[0] for row in promises[1:3]] == ["PTP1", "PTP2"]
    assert promises[3][0] == "Total" and promises[3][5] == 800
    by_status = {row[0]: row[1] for row in sheet_rows(workbook["By status"])[1:3]}
    assert by_status == {"Broken": 1, "Kept": 1}
    _, path = make(engine, tmp_path, "alerts", NOW_PERIOD)
    by_type = sheet_rows(load_workbook(path)["By type"])
    assert sorted(by_type[1:3]) == [["falling_payments", 1, 0], ["missed_installments", 1, 1]]
    _, path = make(engine, tmp_path, "compliance_log", NOW_PERIOD)
    checks = load_workbook(path)
    assert [row[2] for row in sheet_rows(checks["Checks"])[1:]] == ["K1", "K3"]
    assert ["Blocked", "quiet_hours", 1] in sheet_rows(checks["By verdict and rule"])
    _, path = make(engine, tmp_path, "audit_trail", NOW_PERIOD)
    entries = sheet_rows(load_workbook(path)["Audit entries"])
    customers = [row for row in entries if row[4] == "customer" and row[3] == "insert"]
    assert len(customers) == 4
    assert "110101199003071234" not in (customers[0][7] or ""), "masked by default"
    assert "110101********1234" in customers[0][7]


def test_bad_input_is_a_clear_message(engine, report_book, tmp_path):
    cases = [
        ("nope", {}, "unknown report 'nope'; the reports are: cases, aging"),
        ("cases", {"colour": "red"}, "report cases has no parameter colour"),
        ("cases", {"dpd_min": "many"}, "dpd_min: 'many' is not a whole number"),
        ("cases", {"dpd_min": "90", "dpd_max": "30"}, "the DPD range is empty"),
        ("cases", {"status": "lost"}, "status: 'lost' is not among new, in_collection"),
        ("promises", {"start": "2025-04-01", "end": "2025-03-01"}, "the period is empty"),
        ("aging", {"team": "T9"}, "team: 'T9' is not one of T1, T2"),
        ("cases", {"opened_from": "31/03/2025"}, "opened_from: '31/03/2025' is not a date"),
    ]
    for name, params, message in cases:
        with pytest.raises(ReportError) as caught:
            make(engine, tmp_path, name, params)
        assert message in str(caught.value), (name, params, str(caught.value))
    with pytest.raises(ReportError, match="has no chart"):
        make(engine, tmp_path, "cases", fmt="png")
    with Session(engine) as session:
        assert session.scalars(select(ReportRun)).all() == [], "nothing is recorded"


def test_errors_speak_chinese_too():
    with pytest.raises(ReportError) as caught:
        get_report("nope")
    assert caught.value.message("zh").startswith("没有报表 'nope'")
    report = get_report("cases")
    with pytest.raises(ReportError) as caught:
        report.params.parse({"dpd_min": "x"}, D, "cases")
    assert caught.value.message("zh") == "dpd_min：'x' 不是整数"


def test_chart_reports_draw_a_png(engine, report_book, tmp_path):
    outcome, path = make(engine, tmp_path, "aging", fmt="png")
    assert outcome["status"] == "finished"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_finished_run_records_its_file_and_rows(engine, report_book, tmp_path):
    make(engine, tmp_path, "cases")
    with Session(engine) as session:
        run = session.scalars(select(ReportRun)).one()
    assert run.status == ReportStatus.FINISHED and run.rows == 4 and run.progress == 100
    assert run.file_size == (tmp_path / "cases.xlsx").stat().st_size
    assert run.expires_at is None, "a file written where the CLI was told is not purged"
