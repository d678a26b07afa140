"""Imports as background jobs: the console enqueues one, an RQ worker runs it.

The job runs the same ``RunImport`` as ``run.py import``, so a file is checked, its good rows
written in one transaction and its bad rows listed in the error file exactly as from the command
line. While it runs, the job keeps its progress in the RQ job's ``meta`` for the console to show.
A job that crashes stores its reason in ``meta["error"]`` before RQ marks it failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job, JobStatus

from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import ImportReport, Progress, RunImport
from casedb.session import default_engine

# What an import job is called in RQ: how the console tells import jobs from report jobs.
JOB_FUNCTION = "casedb.importing.jobs.run_import_job"
# Options a caller may pass on to RunImport; anything else is refused before the run.
OPTIONS = frozenset({"encoding", "batch_size"})
# A million-row file takes minutes; RQ's default of 180 s would kill it part-way.
JOB_TIMEOUT_SECONDS = 6 * 3600
# How long a finished or failed job (its progress, summary and reason) stays readable.
JOB_KEPT_SECONDS = 30 * 24 * 3600


class ImportProgress(TypedDict):
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


class ImportSummary(TypedDict):
    batch_id: int | None
    kind: str
    filename: str
    status: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    superseded: int
    rejected: int
    events: int
    error_count: int
    error_file: str | None
    message: str


def batch_job_key(batch_id: int) -> str:
    """Redis key naming the job that ran an ``import_batch`` row, for links from the batch list."""
    return f"import:batch:{batch_id}:job"


def enqueue_import(
    queue: Queue,
    *,
    kind: str,
    path: Path,
    actor: str,
    options: Mapping[str, Any] | None = None,
    job_id: str | None = None,
) -> Job:
    """Queue an import of ``path`` as ``kind`` on behalf of ``actor`` (who the audit names)."""
    return queue.enqueue(
        JOB_FUNCTION,
        kind,
        str(path),
        dict(options or {}),
        actor,
        job_id=job_id,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=JOB_KEPT_SECONDS,
        failure_ttl=JOB_KEPT_SECONDS,
        description=f"import {kind} {path.name} by {actor}",
        meta={"kind": kind, "filename": path.name, "actor": actor, "stage": "queued"},
    )


def run_import_job(kind: str, path: str, options: Mapping[str, Any], actor: str) -> ImportSummary:
    """Import the uploaded file at ``path`` as ``kind``; the upload is removed afterwards.

    The upload holds names, ID numbers and phone numbers; the ``import_batch`` row keeps its
    digest, and the error file keeps only the rejected cells. A folder named after the job (where
    the console saves uploads) goes with it.
    """
    job = get_current_job()
    upload = Path(path)
    try:
        if kind not in IMPORT_KINDS:
            raise ValueError(f"unknown import kind {kind!r}")
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"unknown import options: {', '.join(sorted(unknown))}")
        _publish(job, stage="importing")
        command = RunImport(
            default_engine(),
            IMPORT_KINDS[kind],
            upload,
            actor=actor,
            progress=lambda progress: _tell(job, progress),
            **options,
        )
        summary = _summary(command.run())
        _publish(job, stage=summary["status"], progress=_progress_of(summary))
        return summary
    except Exception as exc:
        _publish(job, stage="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        upload.unlink(missing_ok=True)
        if job is not None and upload.parent.name == job.id:
            with contextlib.suppress(OSError):
                upload.parent.rmdir()


def _tell(job: Job | None, progress: Progress) -> None:
    if job is None:
        return
    if progress.batch_id is not None and job.meta.get("batch_id") != progress.batch_id:
        job.meta["batch_id"] = progress.batch_id
        job.connection.set(batch_job_key(progress.batch_id), job.id, ex=JOB_KEPT_SECONDS)
    _publish(
        job,
        progress=ImportProgress(
            rows_read=progress.rows_read,
            inserted=progress.inserted,
            updated=progress.updated,
            unchanged=progress.unchanged,
            rejected=progress.rejected,
        ),
    )


def _publish(job: Job | None, **meta: Any) -> None:
    if job is not None:
        job.meta.update(meta)
        job.save_meta()


def _summary(report: ImportReport) -> ImportSummary:
    return ImportSummary(
        batch_id=report.batch_id,
        kind=report.kind,
        filename=report.filename,
        status=report.status.value,
        rows_read=report.rows_read,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        superseded=report.superseded,
        rejected=report.rejected,
        events=report.events,
        error_count=report.error_count,
        error_file=str(report.error_file) if report.error_file else None,
        message=report.message,
    )


def _progress_of(summary: ImportSummary) -> ImportProgress:
    return ImportProgress(
        rows_read=summary["rows_read"],
        inserted=summary["inserted"],
        updated=summary["updated"],
        unchanged=summary["unchanged"],
        rejected=summary["rejected"],
    )


class JobState(TypedDict):
    """An import job as the console shows it; ``state`` is queued, running, completed or failed."""

    id: str
    state: str
    kind: str
    filename: str
    actor: str
    batch_id: int | None
    enqueued_at: str | None
    progress: ImportProgress | None
    summary: ImportSummary | None
    reason: str


def fetch_import_job(connection: Redis, job_id: str) -> Job | None:
    """The import job ``job_id``, or None when there is none (or it is another kind of job)."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except Exception:  # NoSuchJobError, or a key that does not hold a job RQ can read
        return None
    return job if job.func_name == JOB_FUNCTION else None


def job_state(job: Job) -> JobState:
    """Where an import job is: from RQ's status, the job's progress and its returned summary."""
    status = job.get_status(refresh=True)
    meta = job.get_meta(refresh=True)
    summary: ImportSummary | None = None
    reason = ""
    if status == JobStatus.FINISHED:
        summary = job.return_value()
        state = summary["status"] if summary else "completed"
        reason = summary["message"] if summary else ""
    elif status == JobStatus.FAILED:
        state = "failed"
        reason = meta.get("error") or _last_line(job)
    elif status in (JobStatus.STOPPED, JobStatus.CANCELED):
        state, reason = "failed", f"the job was {status.value}"
    elif status == JobStatus.STARTED:
        state = "running"
    else:
        state = "queued"
    return JobState(
        id=job.id,
        state=state,
        kind=meta.get("kind", ""),
        filename=meta.get("filename", ""),
        actor=meta.get("actor", ""),
        batch_id=meta.get("batch_id"),
        enqueued_at=job.enqueued_at.isoformat() if job.enqueued_at else None,
        progress=meta.get("progress"),
        summary=summary,
        reason=reason,
    )


def _last_line(job: Job) -> str:
    """The exception line of a job that died without saying why (e.g. its worker was killed)."""
    result = job.latest_result()
    text = (result.exc_string or "").strip() if result else ""
    return text.splitlines()[-1] if text else "the job failed without a reason"
