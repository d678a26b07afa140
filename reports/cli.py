"""What ``run.py report`` and ``run.py reports ...`` do (run.py keeps only the options).

``run.py report NAME --format xlsx|json|png --out FILE --param key=value ...`` makes the report
in this process (a ``report_run`` row records it like any other) as the console user ``--user``
(their roles and data scope), or by default as the command line itself (the Admin role: whoever
runs it already has the database). ``--enqueue`` queues it for a worker instead. Exit status: 0
made (an empty result says so on stderr), 1 the run failed, 2 bad input (unknown report or
parameter, empty period ...), with the reason on stderr and never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import click
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb.models import ReportRun, ReportStatus
from casedb.session import default_engine
from reports import jobs
from reports.catalogue import REPORTS, get_report
from reports.labels import say
from reports.parameters import CHOICE, CHOICES, ReportError, parse_assignments
from reports.report import Requester, local_time, requester_for
from reports.schedules import load_schedules
from reports.workbook import EXCEL_MAX_ROWS

CLI_REQUESTER = Requester("cli", frozenset({"Admin"}))
BAD_INPUT, FAILED, MADE = 2, 1, 0


def list_text(language: str, only: str | None = None) -> str:
    lines = []
    for report in REPORTS.values():
        if only and report.name != only:
            continue
        shape = "chart: xlsx, json, png" if report.chart else "list: xlsx, json"
        lines.append(f"\n{report.name}  {say(report.title, language)}  ({shape})")
        lines.append(f"  {say(report.description, language)}")
        lines.append(f"  roles: {', '.join(sorted(report.roles))}")
        for param in report.params:
            default = f" [default {param.default}]" if param.default is not None else ""
            options = ""
            if param.kind in (CHOICE, CHOICES) and not callable(param.options):
                options = " {" + ",".join(code for code, _ in param.choices()) + "}"
            lines.append(
                f"    {param.name:<16} {param.kind:<8} {say(param.label, language)}"
                f"{options}{default}"
            )
    return "\n".join(lines).lstrip("\n")


def _fail(message: str, status: int) -> int:
    click.echo(f"error: {message}", err=True)
    return status


def run_report(
    name: str,
    fmt: str,
    out: Path | None,
    params: tuple[str, ...],
    language: str,
    user: str | None,
    enqueue: bool,
    max_sheet_rows: int | None,
) -> int:
    engine = default_engine()
    try:
        raw = parse_assignments(params)
        get_report(name)
    except ReportError as error:
        return _fail(str(error), BAD_INPUT)
    if not enqueue and out is None and fmt != "json":
        return _fail(f"give --out FILE for {fmt} (or --enqueue)", BAD_INPUT)
    if max_sheet_rows is not None and not 3 <= max_sheet_rows <= EXCEL_MAX_ROWS:
        return _fail(f"--max-sheet-rows must be 3..{EXCEL_MAX_ROWS}", BAD_INPUT)
    with Session(engine) as session:
        requester = requester_for(session, user) if user else CLI_REQUESTER
    if requester is None:
        return _fail(f"no active console user {user!r}", BAD_INPUT)
    options = {
        "requester": requester,
        "fmt": fmt,
        "language": language,
        "requested_by": f"cli:{user}" if user else "cli",
    }
    if enqueue:
        return _enqueue(engine, name, raw, options)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.info["actor"] = options["requested_by"]
            run = jobs.request_run(session, name, raw, queued=False, **options)
    except ReportError as error:
        return _fail(str(error), BAD_INPUT)
    to_stdout = out is None or str(out) == "-"
    with contextlib.ExitStack() as stack:
        target = out
        if to_stdout:
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            target = Path(folder) / f"report.{fmt}"
        assert target is not None
        try:
            outcome = jobs.execute(
                engine, run.id, out=target, max_sheet_rows=max_sheet_rows or EXCEL_MAX_ROWS
            )
        except Exception as error:  # recorded on the run; a message here, not a traceback
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            return _fail(f"report run {run.id} failed: {reason}", FAILED)
        if outcome["status"] != "finished":
            return _fail(outcome.get("message") or outcome["status"], BAD_INPUT)
        if to_stdout:
            if fmt != "json":
                return _fail("only json can go to stdout", BAD_INPUT)
            sys.stdout.write(target.read_text(encoding="utf-8"))
        else:
            click.echo(f"{outcome['rows']} rows -> {target}", err=True)
    if outcome.get("message"):
        click.echo(outcome["message"], err=True)
    return MADE


def _enqueue(engine: object, name: str, raw: dict, options: dict) -> int:
    if not config.REDIS_URL:
        return _fail("--enqueue needs REDIS_URL (the queue run.py serve and workers use)", 2)
    from casedb.broker import connect  # noqa: PLC0415

    try:
        run = jobs.submit(
            engine, Queue(jobs.REPORT_QUEUE, connection=connect()), name, raw, **options
        )
    except ReportError as error:
        return _fail(str(error), BAD_INPUT)
    except RedisError as error:
        return _fail(f"the job queue is unavailable: {error}", FAILED)
    click.echo(f"report run {run.id} queued (job {run.job_id}); `run.py reports runs` shows it")
    return MADE


def runs_text(limit: int) -> str:
    with Session(default_engine()) as session:
        runs = session.scalars(select(ReportRun).order_by(ReportRun.id.desc()).limit(limit)).all()
    if not runs:
        return "no report runs"
    lines = []
    for run in runs:
        when = local_time(run.created_at)
        state = run.status.value + (f" {run.progress}%" if run.status == "running" else "")
        detail = run.error or run.message or run.file_path or run.stage or ""
        lines.append(
            f"{run.id:>6} {when:%Y-%m-%d %H:%M} {run.report:<22} {run.format:<4} "
            f"{state:<12} {run.owner or ('role ' + (run.role or '-')):<16} {detail}"
        )
    return "\n".join(lines)


def watchdog_text(stale_after: float | None) -> str:
    connection = None
    if config.REDIS_URL:
        from casedb.broker import connect  # noqa: PLC0415

        connection = connect()
    findings = jobs.watchdog(default_engine(), connection, stale_after=stale_after)
    purged = jobs.purge_expired(default_engine())
    lines = [f"report run {f.run_id} {f.action}: {f.reason}" for f in findings]
    lines.append(f"{len(findings)} runs failed or requeued, {purged} expired files removed")
    return "\n".join(lines)


def retry_text(run_id: int) -> str:
    if not config.REDIS_URL:
        raise click.ClickException("retry needs REDIS_URL (the queue the workers take)")
    from casedb.broker import connect  # noqa: PLC0415

    engine = default_engine()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.info["actor"] = "cli"
        run = session.get(ReportRun, run_id)
        if run is None:
            raise click.ClickException(f"no report run {run_id}")
        try:
            jobs.retry_run(session, run)
        except ReportError as error:
            raise click.ClickException(str(error)) from error
    try:
        jobs.enqueue(Queue(jobs.REPORT_QUEUE, connection=connect()), run)
    except RedisError as error:
        jobs._fail(engine, run.id, f"the job queue is unavailable: {error}", run.job_id)
        raise click.ClickException(f"the job queue is unavailable: {error}") from error
    return f"report run {run.id} queued again (job {run.job_id})"


def schedules_text() -> str:
    lines = []
    for schedule in load_schedules():
        params = ", ".join(f"{k}={v}" for k, v in schedule.params.items()) or "-"
        lines.append(
            f"{schedule.name:<26} {schedule.report:<18} {schedule.every:<8} {schedule.at} "
            f"cron '{schedule.cron()}'  for {schedule.role:<10} {schedule.format}  {params}"
        )
    return "\n".join(lines)


__all__ = ["ReportStatus", "list_text", "run_report", "runs_text", "schedules_text"]
