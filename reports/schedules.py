"""Scheduled reports: a named report made daily, weekly or monthly and filed for a role.

A schedule names a report, its parameters (relative dates make sense here: ``last-week-start``,
``last-month-end``, ``today-30``; each run resolves them against the business date it runs on),
when (``every`` daily / weekly on ``weekday`` / monthly on ``day``, ``at`` HH:MM local time) and
for whom: a ``role``. ``run.py scheduler`` registers every schedule with RQ's cron scheduler
(:func:`register`, beside the daily tick) and a worker runs :func:`scheduled_report_job` when it
is due, which files the run(s) and queues them as ordinary report jobs:

- for a role that sees every case (Admin, Analyst, Auditor): one run, filed for the role: every
  user holding it finds it on their Reports page;
- for a role whose data scope is personal (Supervisor: their teams; Collector: their own
  cases): one run per active user holding the role, made within that user's scope and filed for
  them alone.

The schedules are ``config.REPORT_SCHEDULES`` (a JSON list, or the path of a JSON file) or, when
that is empty, :data:`SHIPPED`. A schedule with a bad report name, parameter or time is refused
when the scheduler starts (:func:`load_schedules` raises), not at 07:00 on some later day.
The same scheduler runs the report watchdog (:func:`reports.jobs.watchdog_job`) every minute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rq import Queue, get_current_job
from rq.cron import CronJob, CronScheduler
from sqlalchemy.orm import Session

import config
from casedb.delinquency import business_date
from casedb.session import make_engine
from reports.catalogue import check_format, get_report
from reports.jobs import REPORT_QUEUE, enqueue, request_run, watchdog_job
from reports.labels import LANGUAGES
from reports.parameters import ReportError
from reports.report import EVERYONE, SEE_ALL, Requester, users_with_role

log = logging.getLogger(__name__)

EVERY = ("daily", "weekly", "monthly")
WATCHDOG_CRON_NAME = "report-watchdog"
WATCHDOG_SECONDS = 60
# A scheduled job only files and queues runs: a minute is plenty.
FILING_TIMEOUT_SECONDS = 600
KEPT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class ReportSchedule:
    name: str
    report: str
    every: str
    role: str
    at: str = "07:00"
    params: Mapping[str, Any] = field(default_factory=dict)
    format: str = "xlsx"
    language: str = "zh"
    # Weekly: 0 Monday .. 6 Sunday; monthly: day of the month (1-28).
    weekday: int = 0
    day: int = 1

    def cron(self) -> str:
        hours, minutes = _time(self.at, self.name)
        if self.every == "daily":
            return f"{minutes} {hours} * * *"
        if self.every == "weekly":
            return f"{minutes} {hours} * * {(self.weekday + 1) % 7}"  # cron: 0 is Sunday
        return f"{minutes} {hours} {self.day} * *"

    @property
    def cron_name(self) -> str:
        return f"report:{self.name}"


SHIPPED: tuple[ReportSchedule, ...] = (
    ReportSchedule("daily-aging", "aging", "daily", "Supervisor", "07:00"),
    ReportSchedule(
        "weekly-team-performance",
        "team_performance",
        "weekly",
        "Supervisor",
        "07:30",
        {"start": "last-week-start", "end": "last-week-end"},
    ),
    ReportSchedule(
        "weekly-compliance-log",
        "compliance_log",
        "weekly",
        "Auditor",
        "07:00",
        {"start": "last-week-start", "end": "last-week-end"},
    ),
    ReportSchedule(
        "monthly-roll-rates",
        "roll_rates",
        "monthly",
        "Analyst",
        "08:00",
        {"start": "today-365", "end": "today"},
    ),
    ReportSchedule(
        "monthly-strategy",
        "strategy",
        "monthly",
        "Analyst",
        "08:00",
        {"start": "last-month-start", "end": "last-month-end"},
    ),
)


def _time(at: str, name: str) -> tuple[int, int]:
    try:
        hours, minutes = (int(part) for part in at.split(":"))
    except ValueError:
        hours = minutes = -1
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError(f"schedule {name}: 'at' must be HH:MM, not {at!r}")
    return hours, minutes


def check(schedule: ReportSchedule) -> ReportSchedule:
    """Refuse a schedule that could never run (with the reason)."""
    where = f"schedule {schedule.name!r}"
    if schedule.every not in EVERY:
        raise ValueError(f"{where}: 'every' must be one of {', '.join(EVERY)}")
    if schedule.role not in EVERYONE:
        raise ValueError(f"{where}: unknown role {schedule.role!r}")
    if schedule.language not in LANGUAGES:
        raise ValueError(f"{where}: language must be zh or en")
    if not 0 <= schedule.weekday <= 6 or not 1 <= schedule.day <= 28:
        raise ValueError(f"{where}: weekday must be 0-6 and day 1-28")
    schedule.cron()
    try:
        report = get_report(schedule.report)
        check_format(report, schedule.format)
    except ReportError as error:
        raise ValueError(f"{where}: {error}") from error
    if not report.allowed(Requester("schedule", frozenset({schedule.role}))):
        raise ValueError(f"{where}: the {report.name} report is not for the {schedule.role} role")
    unknown = [name for name in schedule.params if report.params.get(name) is None]
    if unknown:
        raise ValueError(f"{where}: {report.name} has no parameter {', '.join(unknown)}")
    return schedule


def load_schedules(text: str | None = None) -> list[ReportSchedule]:
    """The configured schedules (``config.REPORT_SCHEDULES``: JSON or a JSON file's path), or
    :data:`SHIPPED`; each checked."""
    text = config.REPORT_SCHEDULES if text is None else text
    if not text.strip():
        return [check(s) for s in SHIPPED]
    source = text.strip()
    if not source.startswith("["):
        source = Path(source).read_text(encoding="utf-8")
    items = json.loads(source)
    schedules = [check(ReportSchedule(**item)) for item in items]
    names = [s.name for s in schedules]
    if len(set(names)) != len(names):
        raise ValueError("schedule names must be unique")
    return schedules


def register(
    scheduler: CronScheduler, schedules: Sequence[ReportSchedule] | None = None
) -> list[CronJob]:
    """Register every schedule, and the watchdog every minute, with ``scheduler``."""
    schedules = load_schedules() if schedules is None else schedules
    jobs = [
        scheduler.register(
            scheduled_report_job,
            queue_name=REPORT_QUEUE,
            args=(schedule.name,),
            cron=schedule.cron(),
            job_timeout=FILING_TIMEOUT_SECONDS,
            result_ttl=KEPT_SECONDS,
            failure_ttl=KEPT_SECONDS,
            name=schedule.cron_name,
        )
        for schedule in schedules
    ]
    jobs.append(
        scheduler.register(
            watchdog_job,
            queue_name=REPORT_QUEUE,
            interval=WATCHDOG_SECONDS,
            job_timeout=FILING_TIMEOUT_SECONDS,
            result_ttl=3600,
            failure_ttl=KEPT_SECONDS,
            name=WATCHDOG_CRON_NAME,
        )
    )
    return jobs


@dataclass(frozen=True)
class Filed:
    run_id: int
    owner: str | None
    role: str


def file_schedule(session: Session, schedule: ReportSchedule) -> list[tuple[Filed, Any]]:
    """Add the schedule's runs (one for the role, or one per user of a personal-scope role) in
    the caller's session; returns them with their ReportRun rows (the caller commits, then
    enqueues)."""
    name = f"schedule:{schedule.name}"
    if schedule.role in SEE_ALL:
        recipients: list[tuple[str | None, Requester]] = [
            (None, Requester(name, frozenset({schedule.role})))
        ]
    else:
        recipients = [
            (user, Requester(user, frozenset({schedule.role})))
            for user in users_with_role(session, schedule.role)
        ]
    filed = []
    for owner, requester in recipients:
        run = request_run(
            session,
            schedule.report,
            dict(schedule.params),
            requester=requester,
            fmt=schedule.format,
            language=schedule.language,
            owner=owner,
            role=schedule.role,
            schedule=schedule.name,
            requested_by=name,
        )
        filed.append((Filed(run.id, owner, schedule.role), run))
    return filed


def scheduled_report_job(schedule_name: str) -> dict[str, Any]:
    """The cron job: file the schedule's runs and queue them (see the module docstring)."""
    schedule = next((s for s in load_schedules() if s.name == schedule_name), None)
    if schedule is None:
        log.error("no report schedule %r (configuration changed?)", schedule_name)
        return {"schedule": schedule_name, "error": "no such schedule"}
    job = get_current_job()
    engine = make_engine()
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            session.info["actor"] = f"schedule:{schedule.name}"
            filed = file_schedule(session, schedule)
            as_of = business_date(session)
        if job is not None:
            queue = Queue(REPORT_QUEUE, connection=job.connection)
            for _, run in filed:
                enqueue(queue, run)
        return {
            "schedule": schedule.name,
            "as_of": as_of.isoformat(),
            "runs": [f.run_id for f, _ in filed],
        }
    except ReportError as error:
        log.error("report schedule %s: %s", schedule.name, error)
        return {"schedule": schedule.name, "error": str(error)}
    finally:
        engine.dispose()
