"""Reports as RQ jobs: progress and the file, retries of transient failures, the time limit,
failures that say why, the watchdog (a worker killed mid-job leaves its report failed and
retryable, never stuck "running"), and the retention sweep."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
from openpyxl import load_workbook
from rq import Queue, SimpleWorker, Worker
from rq.job import Job, JobStatus
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import config
from casedb.models import ReportRun, ReportStatus
from casedb.types import utcnow
from reports import jobs
from reports.catalogue import REPORTS
from reports.parameters import ReportError
from reports.report import Requester
from tests.reports.book import report_book_fixture  # noqa: F401  (fixture)

ADMIN = Requester("admin", frozenset({"Admin"}))


@pytest.fixture
def queue(cli_database, redis_connection):
    return Queue(jobs.REPORT_QUEUE, connection=redis_connection)


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(jobs, "RETRY_INTERVALS", [0])


def submit(engine, queue, name="cases", params=None, requester=ADMIN) -> ReportRun:
    return jobs.submit(engine, queue, name, params or {}, requester=requester, language="en")


def work(queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def run_of(engine, run_id: int) -> ReportRun:
    with Session(engine) as session:
        return session.get(ReportRun, run_id)


def test_a_queued_report_is_made_by_a_worker_with_progress_and_a_file(engine, report_book, queue):
    run = submit(engine, queue)
    queued = run_of(engine, run.id)
    assert queued.status == ReportStatus.QUEUED and queued.job_id == run.job_id
    job = Job.fetch(run.job_id, connection=queue.connection)
    assert job.timeout == config.REPORT_JOB_TIMEOUT_SECONDS
    assert job.retries_left == config.REPORT_RETRY_MAX
    assert job.meta["run_id"] == run.id
    work(queue)
    done = run_of(engine, run.id)
    assert done.status == ReportStatus.FINISHED, done.error
    assert (done.progress, done.rows, done.attempts) == (100, 4, 1)
    assert done.file_name == f"cases_2025-03-31_{run.token[:6]}.xlsx"
    path = Path(done.file_path)
    assert path.is_relative_to(jobs.report_dir()) and path.stat().st_size == done.file_size
    assert load_workbook(path).sheetnames == ["Cover", "Cases"]
    assert done.expires_at - done.finished_at == timedelta(days=config.REPORT_RETENTION_DAYS)
    assert Job.fetch(run.job_id, connection=queue.connection).return_value()["rows"] == 4


def test_a_transient_failure_is_retried_by_rq(
    engine, report_book, queue, monkeypatch, no_retry_wait
):
    report = REPORTS["cases"]
    real_run = report.run
    calls = []

    def flaky(context):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_run(context)

    monkeypatch.setattr(report, "run", flaky)
    run = submit(engine, queue)
    work(queue)
    done = run_of(engine, run.id)
    assert len(calls) == 2
    assert done.status == ReportStatus.FINISHED and done.attempts == 2
    assert done.error is None


def test_an_error_that_would_happen_again_fails_the_run_at_once(
    engine, report_book, queue, monkeypatch
):
    def broken(context):
        raise RuntimeError("the disk is full of cats")

    monkeypatch.setattr(REPORTS["cases"], "run", broken)
    run = submit(engine, queue)
    work(queue)
    failed = run_of(engine, run.id)
    assert failed.status == ReportStatus.FAILED and failed.attempts == 1, "not retried"
    assert failed.error == "RuntimeError: the disk is full of cats"
    assert Job.fetch(run.job_id, connection=queue.connection).get_status() == JobStatus.FAILED
    assert not list(jobs.report_dir().rglob("*.xlsx")), "no half-written file"


def test_bad_parameters_found_at_run_time_fail_the_run_with_the_message(
    engine, report_book, queue, monkeypatch
):
    def refused(context):
        raise ReportError(("team T1 was removed", "团队 T1 已删除"))

    monkeypatch.setattr(REPORTS["cases"], "run", refused)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        run = jobs.request_run(session, "cases", {}, requester=ADMIN, language="zh")
    jobs.enqueue(queue, run)
    work(queue)
    failed = run_of(engine, run.id)
    assert failed.status == ReportStatus.FAILED and failed.error == "团队 T1 已删除"
    assert Job.fetch(run.job_id, connection=queue.connection).get_status() == JobStatus.FINISHED


def test_a_report_over_its_time_limit_is_stopped_and_failed(
    engine, report_book, queue, monkeypatch
):
    monkeypatch.setattr(config, "REPORT_JOB_TIMEOUT_SECONDS", 1)

    def slow(context):
        time.sleep(5)

    monkeypatch.setattr(REPORTS["cases"], "run", slow)
    run = submit(engine, queue)
    work(queue)
    failed = run_of(engine, run.id)
    assert failed.status == ReportStatus.FAILED and failed.attempts == 1
    assert failed.error.startswith("timed out after 1 s")


def _slow_rows(context):
    """The case export, one row every 0.2 s: a job still running when the test kills it."""
    result = type(REPORTS["cases"]).run(REPORTS["cases"], context)

    def crawl(rows):
        for row in rows:
            time.sleep(0.2)
            yield row
        time.sleep(60)

    result.tables[0].rows = crawl(result.tables[0].rows)
    return result


def _forked_worker(redis_url: str) -> None:
    from casedb.broker import connect  # noqa: PLC0415

    connection = connect(redis_url)
    Worker([Queue(jobs.REPORT_QUEUE, connection=connection)], connection=connection).work(
        burst=True
    )


def test_a_worker_killed_mid_job_leaves_the_report_failed_and_retryable(
    engine, report_book, queue, redis_url, monkeypatch
):
    monkeypatch.setattr(config, "REPORT_HEARTBEAT_SECONDS", 0.2)
    fast = REPORTS["cases"].run
    monkeypatch.setattr(REPORTS["cases"], "run", _slow_rows)
    run = submit(engine, queue)
    worker = multiprocessing.get_context("fork").Process(target=_forked_worker, args=(redis_url,))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while run_of(engine, run.id).status != ReportStatus.RUNNING:
            assert time.monotonic() < deadline, "the worker never started the report"
            time.sleep(0.1)
        horses = []
        while not horses:  # RQ's forking Worker runs the job in a child: its work horse
            horses = psutil.Process(worker.pid).children()
            time.sleep(0.05)
        time.sleep(0.5)
        assert jobs.watchdog(engine, queue.connection) == [], "alive: left alone"
        os.kill(worker.pid, signal.SIGKILL)
        for horse in horses:
            horse.send_signal(signal.SIGKILL)
    finally:
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
    psutil.wait_procs(horses, timeout=10)
    assert worker.exitcode == -signal.SIGKILL

    stuck = run_of(engine, run.id)
    assert stuck.status == ReportStatus.RUNNING, "nobody is left to say otherwise"
    assert Job.fetch(run.job_id, connection=queue.connection).get_status() == JobStatus.STARTED

    later = utcnow() + timedelta(seconds=config.REPORT_STALE_SECONDS + 1)
    findings = jobs.watchdog(engine, queue.connection, now=later)
    assert [(f.run_id, f.action) for f in findings] == [(run.id, "failed")]
    failed = run_of(engine, run.id)
    assert failed.status == ReportStatus.FAILED
    assert failed.error.startswith("no heartbeat since ")
    assert "the worker running it stopped" in failed.error
    assert Job.fetch(run.job_id, connection=queue.connection).get_status() == JobStatus.CANCELED
    assert jobs.watchdog(engine, queue.connection, now=later) == [], "once"

    monkeypatch.setattr(REPORTS["cases"], "run", fast)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        again = jobs.retry_run(session, session.get(ReportRun, run.id))
    assert again.status == ReportStatus.QUEUED and again.job_id != run.job_id
    jobs.enqueue(queue, again)
    work(queue)
    done = run_of(engine, run.id)
    assert done.status == ReportStatus.FINISHED and done.rows == 4 and done.error is None


def test_the_old_job_of_a_retried_run_does_nothing(engine, report_book, queue):
    run = submit(engine, queue)
    old = run.job_id
    with Session(engine) as session, session.begin():
        session.execute(
            update(ReportRun).where(ReportRun.id == run.id).values(status=ReportStatus.FAILED)
        )
    with Session(engine, expire_on_commit=False) as session, session.begin():
        again = jobs.retry_run(session, session.get(ReportRun, run.id))
    jobs.enqueue(queue, again)
    work(queue)  # runs the stale job first, then the new one
    stale = Job.fetch(old, connection=queue.connection).return_value()
    assert stale["status"] == "skipped"
    assert run_of(engine, run.id).status == ReportStatus.FINISHED


def test_the_watchdog_fails_runs_whose_job_is_lost_or_failed(engine, report_book, queue):
    with Session(engine, expire_on_commit=False) as session, session.begin():
        lost = jobs.request_run(session, "cases", {}, requester=ADMIN)  # never enqueued
    assert jobs.watchdog(engine, queue.connection) == [], "just asked for: not lost yet"
    later = utcnow() + timedelta(seconds=jobs.LOST_JOB_GRACE_SECONDS + 1)
    findings = jobs.watchdog(engine, queue.connection, now=later)
    assert [(f.run_id, f.reason) for f in findings] == [
        (lost.id, "its job is gone from the queue (Redis lost it); run it again")
    ]
    failed_job = submit(engine, queue)
    Job.fetch(failed_job.job_id, connection=queue.connection).set_status(JobStatus.FAILED)
    findings = jobs.watchdog(engine, queue.connection)
    assert [f.run_id for f in findings] == [failed_job.id]
    assert run_of(engine, failed_job.id).error.startswith("the job failed")


def test_a_run_rq_is_retrying_goes_back_to_queued(engine, report_book, queue):
    run = submit(engine, queue)
    # As after a work horse died with its worker alive: the run says running, RQ requeued it.
    with Session(engine) as session, session.begin():
        session.execute(
            update(ReportRun)
            .where(ReportRun.id == run.id)
            .values(status=ReportStatus.RUNNING, heartbeat_at=utcnow() - timedelta(hours=1))
        )
    findings = jobs.watchdog(engine, queue.connection)
    assert [(f.run_id, f.action) for f in findings] == [(run.id, "requeued")]
    assert run_of(engine, run.id).status == ReportStatus.QUEUED
    work(queue)
    assert run_of(engine, run.id).status == ReportStatus.FINISHED


def test_files_past_their_retention_are_removed(engine, report_book, queue):
    run = submit(engine, queue)
    work(queue)
    path = Path(run_of(engine, run.id).file_path)
    assert path.is_file()
    assert jobs.purge_expired(engine) == 0
    later = utcnow() + timedelta(days=config.REPORT_RETENTION_DAYS, minutes=1)
    assert jobs.purge_expired(engine, now=later) == 1
    expired = run_of(engine, run.id)
    assert expired.status == ReportStatus.EXPIRED and expired.file_path is None
    assert not path.exists() and not path.parent.exists()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        jobs.retry_run(session, session.get(ReportRun, run.id))


def test_only_failed_or_expired_runs_are_retried(engine, report_book, queue):
    run = submit(engine, queue)
    with Session(engine) as session, pytest.raises(ReportError, match="this one is queued"):
        jobs.retry_run(session, session.get(ReportRun, run.id))


def test_a_queue_that_cannot_be_reached_fails_the_run_it_was_asked_for(engine, report_book):
    from redis import Redis  # noqa: PLC0415
    from redis.exceptions import RedisError  # noqa: PLC0415

    dead = Queue(jobs.REPORT_QUEUE, connection=Redis(port=1, socket_connect_timeout=0.2))
    with pytest.raises(RedisError):
        submit(engine, dead)
    with Session(engine) as session:
        run = session.scalars(select(ReportRun)).one()
    assert run.status == ReportStatus.FAILED
    assert run.error.startswith("the job queue is unavailable")
