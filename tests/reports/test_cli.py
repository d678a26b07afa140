"""``run.py report NAME --format xlsx|json|png --out FILE --param key=value`` and ``run.py
reports ...``: what an operator types, its files, its exit codes and messages."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import ReportRun, ReportStatus
from console.demo_logins import ensure_demo_logins
from reports import metrics
from run import cli
from tests.reports.book import D, report_book_fixture  # noqa: F401  (fixture)


@pytest.fixture
def runner(cli_database, report_book):
    return CliRunner()


def test_report_writes_the_workbook(runner, tmp_path):
    out = tmp_path / "cases.xlsx"
    result = runner.invoke(
        cli, ["report", "cases", "--out", str(out), "--param", "bucket=M1,M2", "--language", "en"]
    )
    assert result.exit_code == 0, result.output
    assert "2 rows ->" in result.output
    rows = list(load_workbook(out)["Cases"].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:3]] == ["K1", "K2"]


def test_roll_rates_as_json_print_exactly_the_transition_matrix(runner, engine):
    result = runner.invoke(
        cli, ["report", "roll_rates", "--format", "json", "--param", "start=2025-01-01"]
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        expected = metrics.roll_rates(connection, metrics.Scope(D.replace(month=1, day=1), D))
    assert result.stdout == expected.as_json() + "\n"
    document = json.loads(result.stdout)
    assert document["transitions"]["2025-01->2025-02"]["M0"]["M1"] == 1


def test_a_chart_report_as_png(runner, tmp_path):
    out = tmp_path / "aging.png"
    result = runner.invoke(cli, ["report", "aging", "--format", "png", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["report", "nope", "--out", "x.xlsx"], "unknown report 'nope'"),
        (["report", "cases", "--out", "x.xlsx", "--param", "colour=red"], "no parameter colour"),
        (["report", "cases", "--out", "x.xlsx", "--param", "dpd_min"], "--param takes key=value"),
        (
            ["report", "promises", "--out", "x.xlsx", "--param", "start=2025-04-01", "--param",
             "end=2025-03-01"],
            "the period is empty",
        ),
        (["report", "cases", "--format", "png", "--out", "x.png"], "has no chart"),
        (["report", "cases"], "give --out FILE for xlsx"),
        (["report", "cases", "--out", "x.xlsx", "--user", "ghost"], "no active console user"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_the_reason_and_no_traceback(runner, arguments, message):
    result = runner.invoke(cli, arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_empty_result_says_so(runner, tmp_path):
    out = tmp_path / "none.xlsx"
    result = runner.invoke(cli, ["report", "cases", "--out", str(out), "--param", "dpd_min=999"])
    assert result.exit_code == 0
    assert "0 rows" in result.output and "没有符合筛选条件的案件。" in result.output
    assert out.is_file()


def test_a_console_user_gets_their_scope(runner, tmp_path):
    ensure_demo_logins()
    out = tmp_path / "mine.xlsx"
    result = runner.invoke(
        cli, ["report", "cases", "--out", str(out), "--user", "collector2", "--language", "en"]
    )
    assert result.exit_code == 0, result.output
    rows = list(load_workbook(out)["Cases"].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:] if r[0] != "Total"] == ["K3", "K4"]
    result = runner.invoke(
        cli, ["report", "audit_trail", "--out", "x.xlsx", "--user", "collector2"]
    )
    assert result.exit_code == 2 and "not available to collector2" in result.output


def test_list_runs_watchdog_and_schedules(runner, engine, tmp_path):
    listing = runner.invoke(cli, ["report", "--list", "--language", "en"])
    assert listing.exit_code == 0
    assert "roll_rates  Roll rates  (chart: xlsx, json, png)" in listing.output
    assert "dpd_min" in listing.output
    runner.invoke(cli, ["report", "cases", "--out", str(tmp_path / "c.xlsx")])
    runs = runner.invoke(cli, ["reports", "runs"])
    assert runs.exit_code == 0 and "cases" in runs.output and "finished" in runs.output
    watchdog = runner.invoke(cli, ["reports", "watchdog"])
    assert watchdog.exit_code == 0, watchdog.output
    assert "0 runs failed or requeued" in watchdog.output
    schedules = runner.invoke(cli, ["reports", "schedules"])
    assert "daily-aging" in schedules.output and "cron '0 7 * * *'" in schedules.output
    with Session(engine) as session:
        run = session.scalars(select(ReportRun)).one()
    assert run.status == ReportStatus.FINISHED and run.requested_by == "cli"
