"""Imports as RQ jobs, through a real Redis and a real (burst) worker."""

import csv

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

from casedb.importing import jobs
from casedb.importing.jobs import (
    batch_job_key,
    enqueue_import,
    fetch_import_job,
    job_state,
)
from casedb.models import AuditEntry, Customer, ImportBatch, ImportStatus
from tests.conftest import write_csv

CUSTOMERS = [
    ["customer_no", "name", "id_number", "timezone"],
    ["C1", "张三", "110101199003071234", "Asia/Shanghai"],
    ["C2", "李四", "", "Asia/Mars"],
    ["C3", "王五", "", "Asia/Shanghai"],
    ["C4", "", "", ""],
    ["C5", "赵六", "", "Asia/Urumqi"],
]


@pytest.fixture
def queue(redis_connection):
    return Queue("default", connection=redis_connection)


@pytest.fixture
def upload(tmp_path):
    """Where the console would have saved an upload: a folder of its own."""
    folder = tmp_path / "uploads" / "imports" / "job-under-test"
    folder.mkdir(parents=True)
    return folder


def _work(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_job_keeps_good_rows_lists_bad_ones_and_reports_progress(
    cli_database, queue, upload, session, monkeypatch
):
    seen = []
    publish = jobs._publish

    def recording(job, **meta):
        publish(job, **meta)
        if "progress" in meta:
            seen.append(dict(meta["progress"]))

    monkeypatch.setattr(jobs, "_publish", recording)
    path = write_csv(upload / "客户.csv", CUSTOMERS)
    job = enqueue_import(
        queue,
        kind="customers",
        path=path,
        actor="supervisor1",
        options={"batch_size": 2},
        job_id="job-under-test",
    )
    assert job_state(job)["state"] == "queued"
    _work(queue)

    job = fetch_import_job(queue.connection, job.id)
    state = job_state(job)
    assert state["state"] == "completed"
    summary = state["summary"]
    assert (summary["rows_read"], summary["inserted"], summary["rejected"]) == (5, 3, 2)
    assert job.meta["progress"] == {
        "rows_read": 5,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
    }
    assert len(seen) >= 3, "progress is told when the batch opens and after every batch"
    assert seen[0]["inserted"] == 0
    assert [p["inserted"] for p in seen] == sorted(p["inserted"] for p in seen)

    names = session.scalars(select(Customer.name).order_by(Customer.customer_no)).all()
    assert names == ["张三", "王五", "赵六"]
    batch = session.get(ImportBatch, state["batch_id"])
    assert (batch.status, batch.actor, batch.filename) == (
        ImportStatus.COMPLETED,
        "supervisor1",
        "客户.csv",
    )
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
    assert audit.actor == "supervisor1"
    assert queue.connection.get(batch_job_key(batch.id)).decode() == job.id

    with open(summary["error_file"], encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "column", "value", "reason"]
    assert [row[:3] for row in rows[1:]] == [["3", "timezone", "Asia/Mars"], ["5", "name", ""]]
    assert not upload.exists(), "the upload and its folder are removed after the run"


def test_a_crash_leaves_a_failed_job_with_its_reason_and_nothing_written(
    cli_database, queue, upload, session, monkeypatch
):
    def full_disk(*_args, **_kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("casedb.importing.runner.write_rows", full_disk)
    job = enqueue_import(
        queue, kind="customers", path=write_csv(upload / "c.csv", CUSTOMERS), actor="admin"
    )
    _work(queue)

    state = job_state(fetch_import_job(queue.connection, job.id))
    assert state["state"] == "failed"
    assert state["reason"] == "OSError: No space left on device"
    assert session.scalars(select(Customer)).all() == []
    batch = session.get(ImportBatch, state["batch_id"])
    assert batch.status is ImportStatus.FAILED
    assert batch.message == "nothing imported: OSError: No space left on device"


def test_an_unknown_kind_fails_the_job_before_anything_runs(cli_database, queue, upload, session):
    job = enqueue_import(
        queue, kind="gossip", path=write_csv(upload / "x.csv", [["a"], ["1"]]), actor="admin"
    )
    _work(queue)
    state = job_state(fetch_import_job(queue.connection, job.id))
    assert (state["state"], state["reason"]) == (
        "failed",
        "ValueError: unknown import kind 'gossip'",
    )
    assert session.scalars(select(ImportBatch)).all() == []


def test_a_file_without_a_required_column_is_a_failed_import_with_the_reason(
    cli_database, queue, upload
):
    path = write_csv(upload / "c.csv", [["customer_no"], ["C1"]])
    job = enqueue_import(queue, kind="customers", path=path, actor="admin")
    _work(queue)
    state = job_state(fetch_import_job(queue.connection, job.id))
    assert state["state"] == "failed"
    assert "name: required column is missing" in state["reason"]
    assert state["summary"]["inserted"] == 0


def test_only_import_jobs_are_found(queue):
    other = queue.enqueue("casedb.delinquency.bucket_for", 45)
    assert fetch_import_job(queue.connection, other.id) is None
    assert fetch_import_job(queue.connection, "no-such-job") is None
