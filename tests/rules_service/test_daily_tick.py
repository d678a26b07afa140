"""The daily tick: DPD and buckets move with the business date, in SQL, audited once, re-decided,
run by a real RQ worker and scheduled by RQ's cron in a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq import Queue, SimpleWorker, cron_job_registry
from rq.cron import CronScheduler
from rq.job import Job, JobStatus
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

import config
from casedb.delinquency import bucket_for, set_business_date
from casedb.models import AuditEntry, CollectionCase, ReevaluationRun
from rules_service import daily_tick
from rules_service.daily_tick import (
    CRON_NAME,
    TICK_QUEUE,
    advance_to,
    bucket_case,
    cron_expression,
    schedule,
    scheduled_tick,
    stored_business_date,
    tick_job,
)
from run import cli

REPO = Path(__file__).resolve().parents[2]
START = date(2025, 3, 1)
CASE_HEADER = ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "status"]
INSTALLMENT_HEADER = ["loan_no", "seq", "due_on", "principal_due", "interest_due", "amount_paid"]


def book(run_import, cases: list[tuple[str, int, str]], installments=()) -> None:
    """Cases ``(case_no, dpd, status)`` on loans L<case_no>, each with a customer of its own;
    ``installments`` are rows after INSTALLMENT_HEADER. A loan without them is a card account."""
    with_schedule = {row[0] for row in installments}

    def product(no: str) -> str:
        return "cash_loan" if f"L{no}" in with_schedule else "credit_card"

    run_import(
        "customers",
        [["customer_no", "姓名", "身份证号", "省份"]]
        + [[f"C{no}", "客户", "", "北京"] for no, *_ in cases],
    )
    run_import(
        "loans",
        [["loan_no", "customer_no", "product", "principal", "annual_rate"]]
        + [[f"L{no}", f"C{no}", product(no), "10000", "0.18"] for no, *_ in cases],
    )
    if installments:
        run_import("installments", [INSTALLMENT_HEADER, *installments])
    run_import(
        "cases",
        [CASE_HEADER]
        + [[no, f"L{no}", "2025-01-01", str(dpd), "100", status] for no, dpd, status in cases],
    )


def stored_at(session: Session, day: date) -> None:
    set_business_date(session, day)
    session.commit()


def dpd_and_bucket(session: Session) -> dict[str, tuple[int, str]]:
    rows = session.execute(
        select(CollectionCase.case_no, CollectionCase.dpd, CollectionCase.bucket)
    ).all()
    return {case_no: (dpd, bucket) for case_no, dpd, bucket in rows}


def tick(session: Session, to: date) -> daily_tick.TickResult:
    result = advance_to(session, to)
    session.commit()
    return result


def tick_entries(session: Session) -> list[AuditEntry]:
    return session.scalars(select(AuditEntry).where(AuditEntry.action == "tick")).all()


# --- DPD and buckets -------------------------------------------------------------------------


def test_an_installment_loan_is_as_late_as_its_oldest_unpaid_due_installment(run_import, session):
    book(
        run_import,
        [("K1", 5, "in_collection")],
        installments=[
            ["LK1", "1", "2025-01-10", "1000", "50", "1050"],  # paid in full
            ["LK1", "2", "2025-02-10", "1000", "50", "600"],  # partly paid: the oldest unpaid
            ["LK1", "3", "2025-03-10", "1000", "50", "0"],
            ["LK1", "4", "2025-04-10", "1000", "50", "0"],  # not yet due
        ],
    )
    stored_at(session, START)
    loaded = session.scalars(select(CollectionCase)).one()
    assert loaded.dpd == 5

    result = tick(session, date(2025, 3, 15))

    assert dpd_and_bucket(session) == {"K1": (33, "M2")}  # 2025-02-10 .. 2025-03-15
    assert loaded.dpd == 33  # a case the session had loaded reads the new value
    assert result.changed == 1
    assert result.bucket_moves == {"M1->M2": 1}


def test_a_card_account_without_a_schedule_grows_by_the_days_since_the_last_tick(
    run_import, session
):
    book(run_import, [("K1", 45, "in_collection"), ("K2", 0, "new"), ("K3", 12, "promised")])
    stored_at(session, START)

    result = tick(session, START + timedelta(days=3))

    assert dpd_and_bucket(session) == {"K1": (48, "M2"), "K2": (0, "M0"), "K3": (15, "M1")}
    assert result.changed == 2
    assert result.bucket_moves == {}
    assert stored_business_date(session) == START + timedelta(days=3)


@pytest.mark.parametrize(
    ("before", "after", "bucket"),
    [
        (29, 30, "M1"),
        (30, 31, "M2"),
        (59, 60, "M2"),
        (60, 61, "M3"),
        (89, 90, "M3"),
        (90, 91, "M4+"),
        (200, 201, "M4+"),
    ],
)
def test_buckets_follow_the_edges_at_the_boundaries(run_import, session, before, after, bucket):
    book(run_import, [("K1", before, "in_collection")])
    stored_at(session, START)

    tick(session, START + timedelta(days=1))

    assert dpd_and_bucket(session) == {"K1": (after, bucket)}


@pytest.mark.parametrize("edges", [None, (30, 60, 90), (15, 30, 60, 90, 180), (7,)])
def test_the_sql_bucket_is_bucket_for_at_every_dpd(session, edges):
    dpds = list(range(-2, 400))
    computed = session.execute(select(*(bucket_case(literal(d), edges) for d in dpds))).one()
    assert list(computed) == [bucket_for(d, edges) for d in dpds]


def test_a_paid_up_installment_loan_drops_to_zero_and_m0(run_import, session):
    book(
        run_import,
        [("K1", 40, "in_collection")],
        installments=[
            ["LK1", "1", "2025-01-10", "1000", "50", "1050"],
            ["LK1", "2", "2025-02-10", "1000", "50", "1050"],
            ["LK1", "3", "2025-04-10", "1000", "50", "0"],  # not yet due
        ],
    )
    stored_at(session, START)

    result = tick(session, START + timedelta(days=1))

    assert dpd_and_bucket(session) == {"K1": (0, "M0")}
    assert result.bucket_moves == {"M2->M0": 1}


def test_closed_cases_are_left_as_they_were(run_import, session):
    book(
        run_import,
        [("K1", 45, "paid"), ("K2", 45, "written_off"), ("K3", 45, "closed"), ("K4", 45, "legal")],
        installments=[["LK1", "1", "2024-12-01", "1000", "0", "0"]],
    )
    stored_at(session, START)

    tick(session, START + timedelta(days=20))

    assert dpd_and_bucket(session) == {
        "K1": (45, "M2"),
        "K2": (45, "M2"),
        "K3": (45, "M2"),
        "K4": (65, "M3"),  # legal is still open
    }


# --- idempotence -----------------------------------------------------------------------------


def test_running_the_same_date_twice_changes_nothing_the_second_time(run_import, session):
    book(run_import, [("K1", 45, "in_collection")])
    stored_at(session, START)
    first = tick(session, START + timedelta(days=1))

    again = tick(session, START + timedelta(days=1))

    assert first.skipped is None
    assert again.skipped == "the business date is already 2025-03-02"
    assert (again.changed, again.bucket_moves, again.run_id) == (0, {}, None)
    assert dpd_and_bucket(session) == {"K1": (46, "M2")}
    assert len(tick_entries(session)) == 1
    assert session.scalar(select(func.count()).select_from(ReevaluationRun)) == 1


def test_a_date_before_the_business_date_is_refused(run_import, session):
    book(run_import, [("K1", 45, "in_collection")])
    stored_at(session, START)

    result = tick(session, START - timedelta(days=1))

    assert result.skipped == "2025-02-28 is before the business date 2025-03-01"
    assert dpd_and_bucket(session) == {"K1": (45, "M2")}
    assert stored_business_date(session) == START
    assert tick_entries(session) == []


def test_without_a_stored_date_card_accounts_keep_their_dpd_and_the_date_is_set(
    run_import, session
):
    book(run_import, [("K1", 45, "in_collection")])

    result = tick(session, START)

    assert result.from_date is None
    assert dpd_and_bucket(session) == {"K1": (45, "M2")}
    assert stored_business_date(session) == START


# --- the trail and the re-evaluation ---------------------------------------------------------


def test_one_audit_entry_records_the_tick_with_its_bucket_moves(run_import, session):
    book(
        run_import,
        [("K1", 30, "in_collection"), ("K2", 60, "in_collection"), ("K3", 29, "new")],
    )
    stored_at(session, START)
    entries_before = session.scalar(select(func.count()).select_from(AuditEntry))

    tick(session, START + timedelta(days=1))

    [entry] = tick_entries(session)
    assert entry.actor == "daily-tick"
    assert entry.table_name == "collection_case"
    assert entry.before == {"business_date": "2025-03-01"}
    assert entry.after == {
        "business_date": "2025-03-02",
        "dpd_changed": 3,
        "bucket_moves": {"M1->M2": 1, "M2->M3": 1},
    }
    new_entries = session.scalars(select(AuditEntry).where(AuditEntry.id > entries_before)).all()
    # No entry per case: the tick's summary, the business date setting and the run it requested.
    assert [e.action for e in new_entries if e.table_name == "collection_case"] == ["tick"]
    assert {e.table_name for e in new_entries} == {
        "collection_case",
        "system_setting",
        "reevaluation_run",
    }


def test_the_tick_requests_a_reevaluation_of_every_open_case(run_import, session):
    book(run_import, [("K1", 45, "in_collection"), ("K2", 3, "new"), ("K3", 45, "paid")])
    stored_at(session, START)

    result = advance_to(session, date(2025, 3, 2), by="ops")
    session.commit()

    run = session.get(ReevaluationRun, result.run_id)
    assert run.reason == "daily tick 2025-03-02"
    assert run.requested_by == "ops"
    assert run.cases == 2
    assert tick_entries(session)[0].actor == "ops"


def test_the_tick_commits_with_the_callers_transaction_or_not_at_all(run_import, engine):
    book(run_import, [("K1", 45, "in_collection")])
    with Session(engine) as session:
        stored_at(session, START)
        advance_to(session, START + timedelta(days=1))
        session.rollback()
        assert dpd_and_bucket(session) == {"K1": (45, "M2")}
        assert stored_business_date(session) == START
        assert tick_entries(session) == []


def test_the_command_line_ticks_to_the_date_given(run_import, session, cli_database):
    book(run_import, [("K1", 45, "in_collection")])
    stored_at(session, START)

    result = CliRunner().invoke(cli, ["rules", "tick", "--date", "2025-03-04"])
    again = CliRunner().invoke(cli, ["rules", "tick", "--date", "2025-03-04"])

    assert result.exit_code == 0, result.output
    assert "tick 2025-03-01 -> 2025-03-04: DPD changed on 1 cases" in result.output
    assert "skipped, the business date is already 2025-03-04" in again.output
    session.expire_all()
    assert dpd_and_bucket(session) == {"K1": (48, "M2")}


# --- RQ: the job and its schedule ------------------------------------------------------------


def test_the_tick_job_runs_through_a_real_worker_and_returns_its_summary(
    run_import, session, cli_database, redis_connection
):
    book(run_import, [("K1", 60, "in_collection")])
    stored_at(session, START)
    queue = Queue(TICK_QUEUE, connection=redis_connection)
    job = queue.enqueue(tick_job, "2025-03-05")

    SimpleWorker([queue], connection=redis_connection).work(burst=True)

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    summary = job.return_value()
    assert summary["from_date"] == "2025-03-01"
    assert summary["to_date"] == "2025-03-05"
    assert summary["changed"] == 1
    assert summary["bucket_moves"] == {"M2->M3": 1}
    assert summary["skipped"] is None
    assert session.get(ReevaluationRun, summary["run_id"]) is not None
    assert dpd_and_bucket(session) == {"K1": (64, "M3")}


def test_the_job_ticks_to_the_forced_business_date_when_one_is_configured(
    run_import, session, cli_database, monkeypatch
):
    book(run_import, [("K1", 10, "in_collection")])
    stored_at(session, START)
    monkeypatch.setattr(config, "BUSINESS_DATE", "2025-03-11")

    assert tick_job()["to_date"] == "2025-03-11"
    assert tick_job()["skipped"] == "the business date is already 2025-03-11"
    assert dpd_and_bucket(session) == {"K1": (20, "M1")}


def test_a_scheduled_tick_never_jumps_further_than_the_configured_days(
    run_import, session, cli_database
):
    """A demo portfolio dated 2005 must not age twenty years because a scheduler ran."""
    book(run_import, [("K1", 10, "in_collection")])
    stored_at(session, START)

    summary = tick_job((START + timedelta(days=config.MAX_TICK_DAYS + 1)).isoformat())

    assert "more than the 31 a scheduled tick may move" in summary["skipped"]
    assert dpd_and_bucket(session) == {"K1": (10, "M1")}
    session.rollback()  # end the read, so the next one sees the job's commit
    assert tick_job((START + timedelta(days=config.MAX_TICK_DAYS)).isoformat())["skipped"] is None
    assert dpd_and_bucket(session) == {"K1": (41, "M2")}


def test_the_daily_tick_is_registered_in_redis_at_the_configured_time(
    redis_connection, monkeypatch
):
    monkeypatch.setattr(config, "DAILY_TICK_AT", "02:30")
    scheduler = schedule(redis_connection)
    scheduler.register_birth()
    try:
        [stored] = [s for s in CronScheduler.all(redis_connection) if s.name == scheduler.name]
        tick_entry = scheduled_tick(stored)
        assert tick_entry.cron == "30 2 * * *"
        assert tick_entry.func_name == "rules_service.daily_tick.tick_job"
        assert tick_entry.queue_name == TICK_QUEUE
        assert tick_entry.job_options["job_timeout"] == daily_tick.TICK_JOB_TIMEOUT_SECONDS
        local = tick_entry.next_enqueue_time.astimezone()
        assert (local.hour, local.minute) == (2, 30)
        assert timedelta(0) < tick_entry.next_enqueue_time - datetime.now(UTC) <= timedelta(days=1)
    finally:
        scheduler.register_death()


def test_when_its_time_comes_the_scheduler_enqueues_the_tick_and_a_worker_runs_it(
    run_import, session, cli_database, redis_connection, monkeypatch
):
    book(run_import, [("K1", 30, "in_collection")])
    stored_at(session, START)
    monkeypatch.setattr(config, "BUSINESS_DATE", "2025-03-02")
    scheduler = schedule(redis_connection)
    cron_job = scheduled_tick(scheduler)
    cron_job.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)  # 00:05 has come

    assert scheduler.enqueue_jobs() == [cron_job]
    assert cron_job.next_enqueue_time > datetime.now(UTC)  # and the next one is tomorrow's
    [job_id] = cron_job.get_job_ids(redis_connection)
    SimpleWorker(
        [Queue(TICK_QUEUE, connection=redis_connection)], connection=redis_connection
    ).work(burst=True)

    job = Job.fetch(job_id, connection=redis_connection)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value()["bucket_moves"] == {"M1->M2": 1}
    assert dpd_and_bucket(session) == {"K1": (31, "M2")}
    assert CRON_NAME in cron_job_registry.get_names(redis_connection)


def test_the_scheduler_process_registers_the_tick_and_stops_cleanly(redis_url, redis_connection):
    """What ``run.py serve`` starts beside the worker: ``run.py scheduler``."""
    env = {**os.environ, "REDIS_URL": redis_url, "DAILY_TICK_AT": "03:15"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "scheduler"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not CronScheduler.all(redis_connection) and time.monotonic() < deadline:
            time.sleep(0.1)
        [running] = CronScheduler.all(redis_connection)
        assert running.pid == process.pid
        assert scheduled_tick(running).cron == "15 3 * * *"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert CronScheduler.all(redis_connection) == []  # it unregistered itself


def test_the_tick_time_is_checked(monkeypatch):
    assert cron_expression("00:05") == "5 0 * * *"
    assert cron_expression("23:59") == "59 23 * * *"
    monkeypatch.setattr(config, "DAILY_TICK_AT", "06:00")
    assert cron_expression() == "0 6 * * *"
    for wrong in ("24:00", "6", "06:60", "noon"):
        with pytest.raises(ValueError, match="DAILY_TICK_AT must be HH:MM"):
            cron_expression(wrong)
