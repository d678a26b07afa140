"""Running a named report: as an RQ job (console, schedules, ``run.py report --enqueue``) or in
the caller's process (``run.py report``), with progress, retries, a time limit, and a watchdog so
that no report is ever left "running" after its worker died.

The life of a run (``report_run``, :mod:`casedb.models.report_runs`):

1. :func:`request_run` checks the report's name, format, language and parameters for the asker
   (a :class:`reports.parameters.ReportError` with a message otherwise: nothing is queued) and
   adds a ``queued`` run holding the parameters as parsed, the asker's data scope and the job id
   it will have. The caller commits, *then* :func:`enqueue` puts the job on the ``reports``
   queue (a worker never sees a job whose run is not in the database yet).
2. :func:`run_report_job` (in the worker's work horse) claims the run (``running``; only the run's
   current job may), writes the file under :func:`report_dir`, reports progress and a heartbeat
   in the row (and the job's ``meta``), and finishes it (``finished``: file, size, rows,
   ``expires_at`` after ``config.REPORT_RETENTION_DAYS``), or fails it with the reason.
3. Failures. Bad parameters discovered at run time fail the run with their message (no retry, no
   stack trace). A lost database or Redis connection is retried by RQ (``Retry``, up to
   ``config.REPORT_RETRY_MAX``; the run shows ``queued`` again meanwhile). A run over
   ``config.REPORT_JOB_TIMEOUT_SECONDS`` is stopped by RQ and failed "timed out". Anything else
   fails the run with the error's type and message (the traceback stays in RQ's failed registry
   for operators).
4. A worker that dies (SIGKILL, OOM, a lost machine) leaves its run ``running`` with a heartbeat
   that stops moving. :func:`watchdog` — run by the scheduler every minute, by ``run.py worker``
   at start, by ``run.py reports watchdog``, and by the console when it shows a run — fails
   every run whose heartbeat is older than ``config.REPORT_STALE_SECONDS``, whose job is gone
   from Redis, or whose job RQ failed, with the reason, and cancels the orphaned RQ job so RQ's
   own clean-up does not run it again behind the user's back. A failed run can be retried
   (:func:`retry_run`): same parameters, a new job.
5. :func:`purge_expired` (part of the watchdog's round) removes files past their ``expires_at``
   and marks their runs ``expired``.

Each job opens its own database engine: a forked work horse must not share the pooled
connections it inherited from its worker.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

import config
from casedb.delinquency import business_date
from casedb.models import ACTIVE_REPORT_STATUSES, ReportRun, ReportStatus
from casedb.session import make_engine
from casedb.types import utcnow
from reports.catalogue import check_format, get_report
from reports.labels import COVER, LANGUAGES, say
from reports.parameters import ReportError
from reports.report import Requester, RunContext, local_time
from reports.result import ReportResult, write_json
from reports.workbook import EXCEL_MAX_ROWS, Cover, write_workbook

log = logging.getLogger(__name__)

JOB_FUNCTION = "reports.jobs.run_report_job"
# The queue report jobs go to: the first (highest-priority) queue workers take.
REPORT_QUEUE = config.WORKER_QUEUES[0]
# RQ's retries after a transient failure: soon, then after a minute.
RETRY_INTERVALS = [10, 60]
# A queued run whose job is not in Redis after this long lost its job (not merely not yet
# enqueued by the request that made it).
LOST_JOB_GRACE_SECONDS = 60
# Progress is written at most this often.
PROGRESS_SECONDS = 1.0
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "png": "image/png",
}
TRANSIENT = (OperationalError, RedisError, ConnectionError, TimeoutError)


def report_dir() -> Path:
    """Where report files are kept: ``config.REPORT_DIR``, else ``INSTANCE_DIR/reports``."""
    return Path(config.REPORT_DIR) if config.REPORT_DIR else Path(config.INSTANCE_DIR) / "reports"


# --- asking for a report -------------------------------------------------------------------


def request_run(
    session: Session,
    name: str,
    raw: Mapping[str, Any],
    *,
    requester: Requester,
    fmt: str = "xlsx",
    language: str = "zh",
    owner: str | None = None,
    role: str | None = None,
    schedule: str | None = None,
    requested_by: str | None = None,
    queued: bool = True,
) -> ReportRun:
    """Add a run of report ``name`` for ``requester`` in the caller's session (the caller
    commits, then calls :func:`enqueue`). Raises :class:`ReportError` on any bad input."""
    report = get_report(name)
    check_format(report, fmt)
    if language not in LANGUAGES:
        raise ReportError(
            ("unknown language {language!r}; zh or en", "不支持的语言 {language!r}；可选 zh 或 en"),
            param="language",
            language=language,
        )
    today = business_date(session)
    values = report.validate(raw, session, requester, today)
    token = uuid.uuid4().hex
    run = ReportRun(
        token=token,
        report=report.name,
        parameters=report.params.dump(values),
        format=fmt,
        language=language,
        status=ReportStatus.QUEUED,
        progress=0,
        stage=None,
        requested_by=requested_by or requester.username,
        owner=owner if owner is not None else (None if schedule else requester.username),
        role=role or _main_role(requester),
        schedule=schedule,
        scope=requester.as_scope(),
        job_id=uuid.uuid4().hex if queued else None,
        attempts=0,
        as_of=today,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def _main_role(requester: Requester) -> str | None:
    for role in ("Admin", "Auditor", "Analyst", "Supervisor", "Collector"):
        if role in requester.roles:
            return role
    return next(iter(sorted(requester.roles)), None)


def enqueue(queue: Queue, run: ReportRun) -> Job:
    """Put the (committed) run's job on ``queue``."""
    retention = config.REPORT_RETENTION_DAYS * 24 * 3600
    return queue.enqueue(
        JOB_FUNCTION,
        run.id,
        job_id=run.job_id,
        job_timeout=config.REPORT_JOB_TIMEOUT_SECONDS,
        retry=Retry(max=config.REPORT_RETRY_MAX, interval=RETRY_INTERVALS)
        if config.REPORT_RETRY_MAX > 0
        else None,
        result_ttl=retention,
        failure_ttl=retention,
        description=f"report {run.report} #{run.id} for {run.owner or run.role}",
        meta={"run_id": run.id, "report": run.report, "token": run.token, "progress": 0},
    )


def submit(
    engine: Engine, queue: Queue, name: str, raw: Mapping[str, Any], **options: Any
) -> ReportRun:
    """:func:`request_run` in a transaction of its own, then :func:`enqueue`. A queue that cannot
    be reached fails the run with that reason (retry it later) and raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.info["actor"] = options.get("requested_by") or options["requester"].username
        run = request_run(session, name, raw, **options)
    try:
        enqueue(queue, run)
    except RedisError as error:
        _fail(engine, run.id, f"the job queue is unavailable: {error}", job_id=run.job_id)
        raise
    return run


def retry_run(session: Session, run: ReportRun) -> ReportRun:
    """Make a failed (or expired) run ``queued`` again with a new job id; the caller commits
    and calls :func:`enqueue`. Only a run that is not queued, running or finished may be
    retried (a finished one is simply downloaded)."""
    if run.status not in (ReportStatus.FAILED, ReportStatus.EXPIRED):
        raise ReportError(
            (
                "only a failed or expired report can be run again; this one is {status}",
                "只有失败或已过期的报表可以重新运行；此报表状态为 {status}",
            ),
            status=run.status.value,
        )
    _remove_file(run.file_path)
    run.status = ReportStatus.QUEUED
    run.job_id = uuid.uuid4().hex
    run.progress = 0
    run.stage = None
    run.error = None
    run.message = None
    run.rows = None
    run.file_path = run.file_name = None
    run.file_size = None
    run.finished_at = run.expires_at = None
    run.heartbeat_at = None
    session.flush()
    return run


# --- running it ----------------------------------------------------------------------------


def run_report_job(run_id: int) -> dict[str, Any]:
    """The RQ job: make run ``run_id`` (see the module docstring)."""
    job = get_current_job()
    engine = make_engine()
    try:
        return execute(engine, run_id, job=job)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Outcome:
    status: str
    run_id: int
    rows: int = 0
    path: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_id": self.run_id,
            "rows": self.rows,
            "path": self.path,
            "message": self.message,
        }


def execute(
    engine: Engine,
    run_id: int,
    job: Job | None = None,
    max_sheet_rows: int = EXCEL_MAX_ROWS,
    out: Path | None = None,
) -> dict[str, Any]:
    """Make run ``run_id`` in this process: claim it, write its file, finish or fail it.

    Without ``job`` (the command line) the run must have no job id. ``out`` writes the file
    there instead of under :func:`report_dir`.
    """
    job_id = job.id if job is not None else None
    if not _claim(engine, run_id, job_id):
        reason = "the run is not waiting for this job (finished, failed, or retried elsewhere)"
        log.warning("report run %s: skipped: %s", run_id, reason)
        return {"status": "skipped", "run_id": run_id, "message": reason}
    heartbeat = _Heartbeat(engine, run_id)
    heartbeat.start()
    path: Path | None = None
    try:
        with Session(engine) as session:
            run = session.get(ReportRun, run_id)
            assert run is not None
            token, report_name, language, fmt = run.token, run.report, run.language, run.format
            stored, scope = dict(run.parameters or {}), dict(run.scope or {})
            role, schedule, requested_by, owner = (
                run.role,
                run.schedule,
                run.requested_by,
                run.owner,
            )
        report = get_report(report_name)
        requester = Requester.from_scope(scope)
        progress = _Progress(engine, run_id, job)
        with Session(_snapshot(engine)) as session:
            as_of = business_date(session)
            values = report.validate(stored, session, requester, as_of)
            context = RunContext(
                engine=engine,
                session=session,
                params=values,
                language=language,
                requester=requester,
                as_of=as_of,
                stage=progress.stage,
            )
            progress.stage("reading")
            result = report.run(context)
            progress.expect(sum(t.count or 0 for t in result.tables))
            stem = f"{report.name}_{as_of.isoformat()}"
            path = out or report_dir() / token / f"{stem}.{fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = {
                "name": report.name,
                "title": say(report.title, language),
                "parameters": stored,
                "as_of": as_of.isoformat(),
                "run_by": owner or requested_by,
                "role": role,
                "schedule": schedule,
                "run_at": local_time(utcnow()).isoformat(timespec="seconds"),
                "timezone": config.DEFAULT_TIMEZONE,
                "language": language,
            }
            rows = _write(result, path, fmt, report, values, meta, max_sheet_rows, progress)
        download = f"{report.file_stem(language)}_{as_of.isoformat()}_{token[:6]}.{fmt}"
        message = None
        if result.empty_message is not None or rows == 0:
            message = say(result.empty_message or COVER["empty"], language)
        finished = _Finished(path, download, rows, message, as_of, expires=out is None)
        if not _finish(engine, run_id, job_id, finished):
            if out is None:
                _remove_file(str(path))
            return {"status": "superseded", "run_id": run_id}
        return Outcome("finished", run_id, rows, str(path), message).as_dict()
    except ReportError as error:
        _discard(path, out)
        _fail(engine, run_id, error.message(_language_of(engine, run_id)), job_id=job_id)
        return Outcome("failed", run_id, message=str(error)).as_dict()
    except JobTimeoutException:
        _discard(path, out)
        _stop_retries(job)
        _fail(
            engine,
            run_id,
            f"timed out after {config.REPORT_JOB_TIMEOUT_SECONDS} s (REPORT_JOB_TIMEOUT_SECONDS)",
            job_id=job_id,
        )
        raise
    except TRANSIENT as error:
        _discard(path, out)
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        if job is not None and job.should_retry:
            _requeue(engine, run_id, job_id, f"retrying after a transient failure: {reason}")
        else:
            _fail(engine, run_id, reason, job_id=job_id)
        raise
    except Exception as error:
        _discard(path, out)
        _stop_retries(job)
        _fail(engine, run_id, f"{type(error).__name__}: {error}".splitlines()[0], job_id=job_id)
        raise
    finally:
        heartbeat.stop()


def _write(
    result: ReportResult,
    path: Path,
    fmt: str,
    report: Any,
    values: dict[str, Any],
    meta: dict[str, Any],
    max_sheet_rows: int,
    progress: _Progress,
) -> int:
    language = meta["language"]
    if fmt == "xlsx":
        cover = Cover(
            title=meta["title"],
            report=report.name,
            parameters=report.params.describe(values, language),
            as_of=datetime.fromisoformat(meta["as_of"]).date(),
            run_by=meta["run_by"],
            run_at=datetime.fromisoformat(meta["run_at"]),
            timezone=meta["timezone"],
            role=meta["role"],
            schedule=meta["schedule"],
            pii_full=values.get("pii") == "full",
        )
        written = write_workbook(
            result, path, cover, language, max_sheet_rows=max_sheet_rows, progress=progress.rows
        )
        return written.total_rows
    partial = path.with_name(path.name + ".part")
    if fmt == "json":
        with partial.open("w", encoding="utf-8") as handle:
            rows = write_json(result, handle, meta, language, progress=progress.rows)
    else:
        from reports.png import write_png  # noqa: PLC0415  (matplotlib only for PNG)

        rows = write_png(result, partial, meta["title"], language)
    partial.replace(path)
    return rows


def _snapshot(engine: Engine) -> Engine:
    """On PostgreSQL, one read-only REPEATABLE READ transaction: every table of a report is read
    as of the same moment, however long the export takes."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine


def _claim(engine: Engine, run_id: int, job_id: str | None) -> bool:
    table = ReportRun.__table__
    now = utcnow()
    with engine.begin() as connection:
        result = connection.execute(
            update(table)
            .where(
                table.c.id == run_id,
                table.c.status.in_([s.value for s in ACTIVE_REPORT_STATUSES]),
                table.c.job_id == job_id if job_id is not None else table.c.job_id.is_(None),
            )
            .values(
                status=ReportStatus.RUNNING.value,
                started_at=now,
                heartbeat_at=now,
                attempts=table.c.attempts + 1,
                progress=0,
                stage="starting",
                error=None,
            )
        )
        return result.rowcount == 1


@dataclass(frozen=True)
class _Finished:
    path: Path
    download: str
    rows: int
    message: str | None
    as_of: date
    # Files under report_dir() expire; one written where the command line was told stays.
    expires: bool


def _finish(engine: Engine, run_id: int, job_id: str | None, done: _Finished) -> bool:
    table = ReportRun.__table__
    now = utcnow()
    path = done.path
    with engine.begin() as connection:
        result = connection.execute(
            update(table)
            .where(
                table.c.id == run_id,
                table.c.status == ReportStatus.RUNNING.value,
                table.c.job_id == job_id if job_id is not None else table.c.job_id.is_(None),
            )
            .values(
                status=ReportStatus.FINISHED.value,
                progress=100,
                stage=None,
                rows=done.rows,
                as_of=done.as_of,
                file_path=str(path),
                file_name=done.download,
                file_size=path.stat().st_size,
                message=done.message,
                finished_at=now,
                heartbeat_at=now,
                expires_at=now + timedelta(days=config.REPORT_RETENTION_DAYS)
                if done.expires
                else None,
            )
        )
        return result.rowcount == 1


def _fail(engine: Engine, run_id: int, reason: str, job_id: str | None = None) -> bool:
    """Mark the run failed with ``reason`` (if it is still the job's and still active)."""
    table = ReportRun.__table__
    conditions = [
        table.c.id == run_id,
        table.c.status.in_([s.value for s in ACTIVE_REPORT_STATUSES]),
    ]
    if job_id is not None:
        conditions.append(table.c.job_id == job_id)
    try:
        with engine.begin() as connection:
            result = connection.execute(
                update(table)
                .where(*conditions)
                .values(
                    status=ReportStatus.FAILED.value,
                    stage=None,
                    error=reason[:2000],
                    finished_at=utcnow(),
                )
            )
            return result.rowcount == 1
    except DBAPIError:
        # The database itself is what failed: the watchdog fails the run once it answers again.
        log.exception("report run %s: could not record the failure %r", run_id, reason)
        return False


def _requeue(engine: Engine, run_id: int, job_id: str | None, note: str) -> None:
    table = ReportRun.__table__
    with contextlib.suppress(DBAPIError), engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == run_id, table.c.job_id == job_id)
            .values(status=ReportStatus.QUEUED.value, stage=None, error=note[:2000])
        )


def _stop_retries(job: Job | None) -> None:
    """Errors that would happen again are not retried (RQ reads this after the job raises)."""
    if job is not None:
        job.retries_left = 0


def _language_of(engine: Engine, run_id: int) -> str:
    with contextlib.suppress(DBAPIError), engine.connect() as connection:
        found = connection.scalar(select(ReportRun.language).where(ReportRun.id == run_id))
        if found:
            return found
    return "en"


def _discard(path: Path | None, out: Path | None) -> None:
    if path is not None:
        path.with_name(path.name + ".part").unlink(missing_ok=True)
        if out is None:
            _remove_file(str(path))


def _remove_file(file_path: str | None) -> None:
    """Remove a report's file and its run folder (under :func:`report_dir` only)."""
    if not file_path:
        return
    path = Path(file_path)
    root = report_dir().resolve()
    with contextlib.suppress(OSError):
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            return
        resolved.unlink(missing_ok=True)
        if resolved.parent != root and resolved.parent.is_relative_to(root):
            shutil.rmtree(resolved.parent, ignore_errors=True)


class _Heartbeat:
    """A thread that keeps the run's ``heartbeat_at`` moving while this process works on it."""

    def __init__(self, engine: Engine, run_id: int) -> None:
        self.engine, self.run_id = engine, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"report-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        table = ReportRun.__table__
        while not self._stop.wait(config.REPORT_HEARTBEAT_SECONDS):
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        update(table)
                        .where(table.c.id == self.run_id, table.c.status == "running")
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # keep beating: a brief database outage must not end the run
                log.warning("report run %s: heartbeat not written", self.run_id, exc_info=True)


class _Progress:
    """Progress (0-99 %, the stage) in the run's row and the RQ job's meta, once a second."""

    def __init__(self, engine: Engine, run_id: int, job: Job | None) -> None:
        self.engine, self.run_id, self.job = engine, run_id, job
        self.total = 0
        self._last = 0.0

    def expect(self, total: int) -> None:
        self.total = total

    def stage(self, text: str) -> None:
        self._write(None, text, force=True)

    def rows(self, done: int) -> None:
        percent = min(99, done * 100 // self.total) if self.total else None
        text = f"rows {done:,} / {self.total:,}" if self.total else f"rows {done:,}"
        self._write(percent, text)

    def _write(self, percent: int | None, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_SECONDS:
            return
        self._last = now
        values: dict[str, Any] = {"stage": text[:128], "heartbeat_at": utcnow()}
        if percent is not None:
            values["progress"] = percent
        table = ReportRun.__table__
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(table)
                    .where(table.c.id == self.run_id, table.c.status == "running")
                    .values(**values)
                )
        except DBAPIError:
            log.warning("report run %s: progress not written", self.run_id, exc_info=True)
        if self.job is not None:
            with contextlib.suppress(RedisError):
                self.job.meta.update(progress=percent, stage=text)
                self.job.save_meta()


# --- the watchdog and the retention sweep --------------------------------------------------


@dataclass(frozen=True)
class Finding:
    run_id: int
    action: str  # failed, requeued
    reason: str


def watchdog(
    engine: Engine,
    connection: Redis | None,
    now: datetime | None = None,
    stale_after: float | None = None,
    run_ids: list[int] | None = None,
) -> list[Finding]:
    """Fail every active run that cannot finish any more (see the module docstring); returns
    what it did. ``run_ids`` limits it to those runs (the console checks the one it shows)."""
    now = now or utcnow()
    stale_before = now - timedelta(
        seconds=config.REPORT_STALE_SECONDS if stale_after is None else stale_after
    )
    lost_before = now - timedelta(seconds=LOST_JOB_GRACE_SECONDS)
    query = select(
        ReportRun.id,
        ReportRun.status,
        ReportRun.job_id,
        ReportRun.heartbeat_at,
        ReportRun.started_at,
        ReportRun.created_at,
    ).where(ReportRun.status.in_(ACTIVE_REPORT_STATUSES))
    if run_ids is not None:
        query = query.where(ReportRun.id.in_(run_ids))
    with engine.connect() as db:
        runs = db.execute(query).all()
    findings: list[Finding] = []
    for run_id, status, job_id, heartbeat_at, started_at, created_at in runs:
        job, job_status, redis_down = _job_of(connection, job_id)
        reason: str | None = None
        if status == ReportStatus.RUNNING:
            last = heartbeat_at or started_at or created_at
            if job_status in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                # RQ already put the job back (a retry after its work horse died).
                _requeue(engine, run_id, job_id, "retrying: the worker stopped while running it")
                findings.append(Finding(run_id, "requeued", "RQ is retrying the job"))
                continue
            if last < stale_before:
                reason = (
                    f"no heartbeat since {local_time(last):%Y-%m-%d %H:%M:%S}: the worker "
                    "running it stopped (killed, crashed or lost); run it again"
                )
            elif job_status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                reason = _job_reason(job, job_status)
            elif job_id is not None and job is None and not redis_down and last < lost_before:
                reason = "its job is gone from the queue (Redis lost it); run it again"
        else:  # queued
            if job_status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                reason = _job_reason(job, job_status)
            elif (
                connection is not None
                and job_id is not None
                and job is None
                and not redis_down
                and created_at < lost_before
            ):
                reason = "its job is gone from the queue (Redis lost it); run it again"
        if reason is None:
            continue
        if _fail(engine, run_id, reason, job_id=job_id):
            findings.append(Finding(run_id, "failed", reason))
            log.warning("report run %s failed by the watchdog: %s", run_id, reason)
            if job is not None and job_status not in (JobStatus.FAILED, JobStatus.CANCELED):
                with contextlib.suppress(Exception):
                    job.cancel()
    return findings


def _job_of(connection: Redis | None, job_id: str | None) -> tuple[Job | None, Any, bool]:
    """(job, status, Redis unreachable)."""
    if connection is None or job_id is None:
        return None, None, connection is None
    try:
        job = Job.fetch(job_id, connection=connection)
        return job, job.get_status(refresh=False), False
    except NoSuchJobError:
        return None, None, False
    except RedisError:
        return None, None, True
    except Exception:  # a key RQ cannot read as a job
        return None, None, False


def _job_reason(job: Job | None, status: Any) -> str:
    if status != JobStatus.FAILED or job is None:
        return f"its job was {getattr(status, 'value', status)}; run it again"
    text = ""
    with contextlib.suppress(Exception):
        result = job.latest_result()
        text = (result.exc_string or "").strip() if result else ""
    last = text.splitlines()[-1] if text else "without a reason"
    return f"the job failed: {last}"


def purge_expired(engine: Engine, now: datetime | None = None) -> int:
    """Remove the files of finished runs past ``expires_at``; their runs become ``expired``."""
    now = now or utcnow()
    with engine.connect() as db:
        due = db.execute(
            select(ReportRun.id, ReportRun.file_path).where(
                ReportRun.status == ReportStatus.FINISHED, ReportRun.expires_at < now
            )
        ).all()
    table = ReportRun.__table__
    for run_id, file_path in due:
        _remove_file(file_path)
        with engine.begin() as db:
            db.execute(
                update(table)
                .where(table.c.id == run_id, table.c.status == ReportStatus.FINISHED.value)
                .values(status=ReportStatus.EXPIRED.value, file_path=None, file_size=None)
            )
    return len(due)


def watchdog_job() -> dict[str, Any]:
    """The scheduler's periodic job: the watchdog's round and the retention sweep."""
    engine = make_engine()
    try:
        job = get_current_job()
        connection = job.connection if job is not None else None
        findings = watchdog(engine, connection)
        purged = purge_expired(engine)
        return {"failed": [f.run_id for f in findings if f.action == "failed"], "purged": purged}
    finally:
        engine.dispose()


def file_of(run: ReportRun) -> Path | None:
    """The run's file, if it is a file inside :func:`report_dir` (never elsewhere)."""
    if not run.file_path or run.status != ReportStatus.FINISHED:
        return None
    root = report_dir().resolve()
    path = Path(run.file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
