"""Scheduled reports: daily, weekly and monthly cron lines in RQ's cron scheduler, checked when
the scheduler starts, and the runs filed for the recipients' role."""

from __future__ import annotations

import json

import pytest
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import ReportRun, ReportStatus
from console.demo_logins import ensure_demo_logins
from reports import jobs
from reports.schedules import (
    SHIPPED,
    WATCHDOG_CRON_NAME,
    ReportSchedule,
    file_schedule,
    load_schedules,
    register,
    scheduled_report_job,
)
from tests.reports.book import report_book_fixture  # noqa: F401  (fixture)


@pytest.fixture
def logins(cli_database):
    ensure_demo_logins()


def test_daily_weekly_and_monthly_cron_lines():
    assert ReportSchedule("a", "aging", "daily", "Supervisor", "07:05").cron() == "5 7 * * *"
    weekly = ReportSchedule("w", "aging", "weekly", "Supervisor", "07:30", weekday=0)
    assert weekly.cron() == "30 7 * * 1", "Monday"
    monthly = ReportSchedule("m", "aging", "monthly", "Analyst", "08:00", day=1)
    assert monthly.cron() == "0 8 1 * *"


def test_the_shipped_schedules_are_valid_and_registered_with_rqs_cron(redis_connection):
    assert [s.name for s in load_schedules("")] == [s.name for s in SHIPPED]
    scheduler = CronScheduler(connection=redis_connection)
    registered = register(scheduler, SHIPPED)
    names = [job.name for job in registered]
    assert names == [f"report:{s.name}" for s in SHIPPED] + [WATCHDOG_CRON_NAME]
    aging = registered[0]
    assert aging.cron == "0 7 * * *" and aging.args == ("daily-aging",)
    assert aging.queue_name == jobs.REPORT_QUEUE
    assert registered[-1].interval == 60


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"report": "nope"}, "unknown report 'nope'"),
        ({"every": "hourly"}, "'every' must be one of daily, weekly, monthly"),
        ({"at": "25:00"}, "'at' must be HH:MM"),
        ({"role": "Boss"}, "unknown role 'Boss'"),
        ({"params": {"colour": "red"}}, "aging has no parameter colour"),
        ({"role": "Collector"}, "the aging report is not for the Collector role"),
        ({"format": "png", "report": "cases"}, "the cases report has no chart"),
    ],
)
def test_a_schedule_that_could_never_run_is_refused_at_start(item, message):
    document = [{"name": "x", "report": "aging", "every": "daily", "role": "Supervisor", **item}]
    with pytest.raises(ValueError, match=message):
        load_schedules(json.dumps(document))


def test_schedules_come_from_a_json_file(tmp_path):
    path = tmp_path / "schedules.json"
    document = [{"name": "x", "report": "cases", "every": "daily", "role": "Auditor"}]
    path.write_text(json.dumps(document), encoding="utf-8")
    assert [s.report for s in load_schedules(str(path))] == ["cases"]


def test_a_role_wide_schedule_files_one_run_for_the_role(engine, report_book, logins):
    schedule = ReportSchedule("weekly-audit", "cases", "weekly", "Auditor")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        filed = file_schedule(session, schedule)
    assert [(f.owner, f.role) for f, _ in filed] == [(None, "Auditor")]
    run = filed[0][1]
    assert run.requested_by == "schedule:weekly-audit" and run.schedule == "weekly-audit"
    assert run.scope == {"username": "schedule:weekly-audit", "roles": ["Auditor"]}


def test_a_personal_scope_role_gets_a_run_per_user_in_their_scope(
    engine, report_book, logins, cli_database, redis_connection
):
    schedule = ReportSchedule("daily-cases", "cases", "daily", "Collector", language="en")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        filed = file_schedule(session, schedule)
    assert [f.owner for f, _ in filed] == ["collector1", "collector2"]
    queue = Queue(jobs.REPORT_QUEUE, connection=redis_connection)
    for _, run in filed:
        jobs.enqueue(queue, run)
    SimpleWorker([queue], connection=redis_connection).work(burst=True)
    with Session(engine) as session:
        runs = {r.owner: r for r in session.scalars(select(ReportRun))}
    assert {owner: run.rows for owner, run in runs.items()} == {"collector1": 2, "collector2": 2}
    assert all(run.status == ReportStatus.FINISHED for run in runs.values())


def test_the_cron_job_files_and_queues_the_schedules_runs(
    engine, report_book, logins, redis_connection, monkeypatch
):
    document = [
        {
            "name": "monthly-rolls",
            "report": "roll_rates",
            "every": "monthly",
            "role": "Analyst",
            "params": {"start": "today-365"},
        }
    ]
    monkeypatch.setattr(jobs.config, "REPORT_SCHEDULES", json.dumps(document))
    queue = Queue(jobs.REPORT_QUEUE, connection=redis_connection)
    queue.enqueue(scheduled_report_job, "monthly-rolls")
    SimpleWorker([queue], connection=redis_connection).work(burst=True)
    with Session(engine) as session:
        run = session.scalars(select(ReportRun)).one()
    assert (run.status, run.role, run.owner) == (ReportStatus.FINISHED, "Analyst", None)
    assert run.parameters["start"] == "2024-03-31", "today-365 from the business date"
    assert scheduled_report_job("gone") == {"schedule": "gone", "error": "no such schedule"}
