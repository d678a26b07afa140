"""The daily treatment run: each open case's path steps that fall due become tasks and messages.

For a business date ``on`` the run walks the open cases in chunks of consecutive ids, one
transaction each, and for every case:

1. follows the path its strategy names (``collection_case.strategy``, set by the strategy
   table). A case moved to another path leaves the old one (its open tasks are cancelled) and
   enters the new one; a case coming back to a path it left resumes at the step it had reached,
   with its day counts moved forward by the days it spent away. That is how a promise to pay
   pauses a path: the strategy table puts a promised case on the follow-up path, and when the
   promise is kept in part or broken the case returns and takes the next step.
2. creates a ``case_task`` for every step whose day has come (entry or previous step plus its
   offset), due at ``TASK_DUE_HOUR`` local time; an automated step (SMS, e-mail, letter, app
   push) also gets an ``outbound_message`` rendered from its template in the debtor's language,
   which the sender delivers after the compliance gate. A step is created once: the
   ``(case, path, step)`` key refuses a second, so a rerun of the same day adds nothing.
3. escalates manual tasks still open ``escalate_after_hours`` after they fell due: an alert of
   kind ``task_overdue`` in the team supervisor's inbox.

Set-based per chunk: one query per source (cases, progress, promises, contact points), the new
rows by COPY on PostgreSQL, one audit entry per chunk naming the tasks it created.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, func, select, text, update
from sqlalchemy.orm import Session

import config
from casedb import audit
from casedb.bulk_insert import insert_rows
from casedb.merge_fields import merge_values
from casedb.models import (
    OPEN_STATUSES,
    Alert,
    AlertStatus,
    CaseTask,
    CollectionCase,
    Collector,
    ContactKind,
    ContactPoint,
    Customer,
    Loan,
    MessageStatus,
    OutboundMessage,
    PromiseStatus,
    PromiseToPay,
    TaskStatus,
    TreatmentProgress,
)
from casedb.session import transaction
from casedb.types import utcnow
from rules_service.treatment_paths import PublishedPath, Step, published_paths

log = logging.getLogger(__name__)

ACTOR = "treatment-run"
CHUNK_SIZE = 2000
# Where each channel's message goes, best first.
RECIPIENT_KINDS: dict[str, tuple[ContactKind, ...]] = {
    "sms": (ContactKind.MOBILE,),
    "app_push": (ContactKind.MOBILE,),
    "email": (ContactKind.EMAIL,),
    "letter": (ContactKind.HOME_ADDRESS, ContactKind.WORK_ADDRESS),
}
ESCALATION_ALERT = "task_overdue"
# Serialises treatment runs on PostgreSQL (a retried job beside a manual `rules treat`).
RUN_LOCK_KEY = 20051003


@dataclass
class TreatmentResult:
    """What a run (or one chunk of it) did."""

    on: date
    cases: int = 0
    entered: int = 0
    resumed: int = 0
    tasks: int = 0
    messages: int = 0
    cancelled: int = 0
    escalated: int = 0
    unknown_paths: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None

    def add(self, other: TreatmentResult) -> None:
        for name in ("cases", "entered", "resumed", "tasks", "messages", "cancelled", "escalated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for path, count in other.unknown_paths.items():
            self.unknown_paths[path] = self.unknown_paths.get(path, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "cases": self.cases,
            "entered": self.entered,
            "resumed": self.resumed,
            "tasks": self.tasks,
            "messages": self.messages,
            "cancelled": self.cancelled,
            "escalated": self.escalated,
            "unknown_paths": dict(self.unknown_paths),
            "skipped": self.skipped,
        }


def due_at(day: date) -> datetime:
    """When a step falling due on ``day`` is due: ``TASK_DUE_HOUR`` local time, in UTC."""
    local = datetime.combine(day, time(config.TASK_DUE_HOUR), ZoneInfo(config.DEFAULT_TIMEZONE))
    return local.astimezone(ZoneInfo("UTC"))


def business_now(on: date) -> datetime:
    """The run's clock: now, but never past the end of the business date, so a database pinned
    to an earlier date (a demo, a replay) does not find every task years overdue."""
    end_of_day = datetime.combine(
        on + timedelta(days=1), time(0), ZoneInfo(config.DEFAULT_TIMEZONE)
    ).astimezone(ZoneInfo("UTC"))
    return min(utcnow(), end_of_day)


def _day_of(step: Step, progress: Mapping[str, Any]) -> date:
    anchor = progress["entered_on"] if step.after == "entry" else progress["anchor_on"]
    return anchor + timedelta(days=step.offset_days)


_CASE_COLUMNS = (
    CollectionCase.id,
    CollectionCase.case_no,
    CollectionCase.strategy,
    CollectionCase.team_id,
    CollectionCase.collector_id,
    CollectionCase.dpd,
    CollectionCase.bucket,
    CollectionCase.currency,
    CollectionCase.on_hold,
    (
        CollectionCase.overdue_principal
        + CollectionCase.overdue_interest
        + CollectionCase.overdue_fees
    ).label("overdue_amount"),
    CollectionCase.outstanding_balance,
    CollectionCase.customer_id,
    Customer.name.label("customer_name"),
    Customer.language,
    Loan.loan_no,
    Collector.name.label("collector_name"),
)


def _cases(session: Session, first: int, last: int) -> list[Any]:
    """The open cases of the range. Not locked: the run changes no case, only its own rows
    (progress, tasks, messages), and one run at a time holds the run's lock."""
    query = (
        select(*_CASE_COLUMNS)
        .join(Customer, Customer.id == CollectionCase.customer_id)
        .join(Loan, Loan.id == CollectionCase.loan_id)
        .outerjoin(Collector, Collector.id == CollectionCase.collector_id)
        .where(
            CollectionCase.id.between(first, last),
            CollectionCase.status.in_(OPEN_STATUSES),
        )
        .order_by(CollectionCase.id)
    )
    return list(session.execute(query))


_PROGRESS_COLUMNS = (
    TreatmentProgress.id,
    TreatmentProgress.case_id,
    TreatmentProgress.path,
    TreatmentProgress.path_version,
    TreatmentProgress.entered_on,
    TreatmentProgress.anchor_on,
    TreatmentProgress.next_step,
    TreatmentProgress.current,
    TreatmentProgress.left_on,
)


def _progress(session: Session, first: int, last: int) -> dict[int, dict[str, dict[str, Any]]]:
    rows = session.execute(
        select(*_PROGRESS_COLUMNS).where(TreatmentProgress.case_id.between(first, last))
    ).mappings()
    by_case: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        progress = dict(row)
        by_case.setdefault(progress.pop("case_id"), {})[progress["path"]] = progress
    return by_case


def _promises(session: Session, first: int, last: int) -> dict[int, tuple[Any, date]]:
    rows = session.execute(
        select(PromiseToPay.case_id, PromiseToPay.amount, PromiseToPay.promised_for)
        .where(
            PromiseToPay.case_id.between(first, last),
            PromiseToPay.status == PromiseStatus.PENDING,
        )
        .order_by(PromiseToPay.promised_for.desc())
    )
    return {row.case_id: (row.amount, row.promised_for) for row in rows}


def _recipients(session: Session, customer_ids: list[int]) -> dict[tuple[int, ContactKind], str]:
    """Each customer's usable contact point of each kind (primary first)."""
    if not customer_ids:
        return {}
    rows = session.execute(
        select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value)
        .where(
            ContactPoint.customer_id.between(min(customer_ids), max(customer_ids)),
            ContactPoint.customer_id.in_(customer_ids),
            ContactPoint.opted_out.is_(False),
            ContactPoint.ceased.is_(False),
            ContactPoint.invalid.is_(False),
        )
        .order_by(ContactPoint.is_primary.desc(), ContactPoint.id)
    )
    found: dict[tuple[int, ContactKind], str] = {}
    for row in rows:
        found.setdefault((row.customer_id, ContactKind(row.kind)), row.value)
    return found


def treat_cases(
    session: Session,
    paths: Mapping[str, PublishedPath],
    first_case_id: int,
    last_case_id: int,
    on: date,
    now: datetime,
) -> TreatmentResult:
    """Take the open cases with ids in the range one day forward on their paths, in the
    caller's transaction."""
    result = TreatmentResult(on)
    cases = _cases(session, first_case_id, last_case_id)
    result.cases = len(cases)
    if not cases:
        return result
    progress = _progress(session, first_case_id, last_case_id)
    promises = _promises(session, first_case_id, last_case_id)
    settings = {"LENDER_NAME": config.LENDER_NAME, "COLLECTION_HOTLINE": config.COLLECTION_HOTLINE}
    new_progress: list[dict[str, Any]] = []
    changed_progress: dict[int, dict[str, Any]] = {}  # by progress id
    left: list[tuple[int, str]] = []
    tasks: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for case in cases:
        mine = progress.get(case.id, {})
        path_name = case.strategy
        for name, row in mine.items():
            if row["current"] and name != path_name:
                row.update(current=False, left_on=on)
                changed_progress[row["id"]] = row
                left.append((case.id, name))
        if not path_name or case.on_hold:
            continue
        path = paths.get(path_name)
        if path is None:
            result.unknown_paths[path_name] = result.unknown_paths.get(path_name, 0) + 1
            continue
        row = mine.get(path_name)
        if row is None:
            row = {
                "case_id": case.id,
                "path": path_name,
                "path_version": path.version,
                "entered_on": on,
                "anchor_on": on,
                "next_step": 0,
                "current": True,
                "left_on": None,
            }
            new_progress.append(row)
            result.entered += 1
        elif not row["current"]:
            away = timedelta(days=max((on - row["left_on"]).days, 0)) if row["left_on"] else None
            if away:
                row["entered_on"] += away
                row["anchor_on"] += away
            row.update(current=True, left_on=None, path_version=path.version)
            changed_progress[row["id"]] = row
            result.resumed += 1
        steps = path.document.steps
        created = False
        while row["next_step"] < len(steps):
            step = steps[row["next_step"]]
            day = _day_of(step, row)
            if day > on:
                break
            promise = promises.get(case.id)
            values = merge_values(
                {
                    **case._mapping,
                    "due_date": day,
                    "promise_amount": promise[0] if promise else None,
                    "promise_date": promise[1] if promise else None,
                },
                settings,
                on,
            )
            language = "en" if (case.language or "").lower().startswith("en") else "zh"
            text = step.text(language)
            tasks.append(
                {
                    "case_id": case.id,
                    "path": path_name,
                    "path_version": path.version,
                    "step": step.id,
                    "action": step.action,
                    "automated": step.automated,
                    "due_at": due_at(day),
                    "status": TaskStatus.DONE if step.automated else TaskStatus.OPEN,
                    "collector_id": case.collector_id,
                    "team_id": case.team_id,
                    "created_at": now,
                    "escalate_after_hours": step.escalate_after_hours,
                    "done_at": now if step.automated else None,
                    "done_by": ACTOR if step.automated else None,
                    "note": values.render(text.get("body", "")) or None,
                }
            )
            if step.automated:
                messages.append(
                    {
                        "case_id": case.id,
                        "customer_id": case.customer_id,
                        "channel": step.channel,
                        "language": language,
                        "subject": values.render(text.get("subject", "")) or None,
                        "body": values.render(text.get("body", "")),
                    }
                )
            row["anchor_on"] = day
            row["next_step"] += 1
            created = True
        if created and "id" in row:
            changed_progress[row["id"]] = row
    if left:
        result.cancelled = _cancel_open_tasks(session, left, now)
    if new_progress:
        insert_rows(session, TreatmentProgress.__table__, new_progress)
    if changed_progress:
        session.execute(
            update(TreatmentProgress),
            [
                {
                    "id": row["id"],
                    "path_version": row["path_version"],
                    "entered_on": row["entered_on"],
                    "anchor_on": row["anchor_on"],
                    "next_step": row["next_step"],
                    "current": row["current"],
                    "left_on": row["left_on"],
                }
                for row in changed_progress.values()
            ],
        )
    if tasks:
        task_ids = insert_rows(session, CaseTask.__table__, tasks, return_ids=True)
        result.tasks = len(tasks)
        by_case_task = iter(
            task_id for task, task_id in zip(tasks, task_ids, strict=True) if task["automated"]
        )
        recipients = _recipients(session, sorted({m["customer_id"] for m in messages}))
        rows = []
        for message in messages:
            customer_id = message.pop("customer_id")
            kinds = RECIPIENT_KINDS.get(message["channel"], ())
            recipient = next(
                (recipients[(customer_id, k)] for k in kinds if (customer_id, k) in recipients),
                None,
            )
            rows.append(
                {
                    **message,
                    "task_id": next(by_case_task),
                    "recipient": recipient,
                    "status": MessageStatus.QUEUED,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        insert_rows(session, OutboundMessage.__table__, rows)
        result.messages = len(rows)
    if tasks or left or new_progress:
        audit.append(
            session,
            [
                audit.Change(
                    ACTOR,
                    "treat",
                    CollectionCase.__tablename__,
                    f"{first_case_id}..{last_case_id}",
                    {"left_paths": [f"{case_id}:{name}" for case_id, name in left]},
                    {
                        "on": on.isoformat(),
                        "entered": result.entered,
                        "resumed": result.resumed,
                        "tasks": [f"{t['case_id']}:{t['path']}:{t['step']}" for t in tasks],
                    },
                )
            ],
        )
    return result


def _cancel_open_tasks(session: Session, left: list[tuple[int, str]], now: datetime) -> int:
    """Cancel the open tasks of the paths cases left."""
    cancelled = 0
    by_path: dict[str, list[int]] = {}
    for case_id, path in left:
        by_path.setdefault(path, []).append(case_id)
    for path, case_ids in by_path.items():
        cancelled += session.execute(
            update(CaseTask)
            .where(
                CaseTask.path == path,
                CaseTask.case_id.in_(case_ids),
                CaseTask.status == TaskStatus.OPEN,
            )
            .values(status=TaskStatus.CANCELLED, done_at=now, done_by=ACTOR, note="left the path")
            .execution_options(synchronize_session=False)
        ).rowcount
    return cancelled


def cancel_tasks_of_ended_cases(session: Session, now: datetime) -> int:
    """Open tasks of cases that are no longer open (paid, settled, closed) are cancelled."""
    ended = select(CollectionCase.id).where(CollectionCase.status.not_in(OPEN_STATUSES))
    return session.execute(
        update(CaseTask)
        .where(CaseTask.status == TaskStatus.OPEN, CaseTask.case_id.in_(ended))
        .values(status=TaskStatus.CANCELLED, done_at=now, done_by=ACTOR, note="case ended")
        .execution_options(synchronize_session=False)
    ).rowcount


def escalate_overdue_tasks(session: Session, now: datetime) -> int:
    """Raise a ``task_overdue`` alert for each open manual task past its escalation time.

    One indexed query per escalation time in use (a handful: 24, 48, 72 hours...), each reading
    only the tasks due before ``now`` minus that time, so a million open tasks are not read."""
    open_task = and_(
        CaseTask.status == TaskStatus.OPEN,
        CaseTask.escalated_at.is_(None),
        CaseTask.escalate_after_hours.is_not(None),
    )
    hours_in_use = session.scalars(
        select(CaseTask.escalate_after_hours).where(open_task).distinct()
    ).all()
    late = []
    for hours in hours_in_use:
        late += session.execute(
            select(
                CaseTask.id,
                CaseTask.case_id,
                CaseTask.path,
                CaseTask.path_version,
                CaseTask.step,
                CaseTask.action,
                CaseTask.due_at,
                CaseTask.escalate_after_hours,
            ).where(
                open_task,
                CaseTask.escalate_after_hours == hours,
                CaseTask.due_at <= now - timedelta(hours=hours),
            )
        ).all()
    if not late:
        return 0
    session.execute(
        update(CaseTask),
        [{"id": row.id, "escalated_at": now} for row in late],
    )
    insert_rows(
        session,
        Alert.__table__,
        [
            {
                "case_id": row.case_id,
                "kind": ESCALATION_ALERT,
                "severity": "warning",
                "status": AlertStatus.OPEN,
                "raised_at": now,
                "raised_by_decision_id": None,
                "ruleset": f"path:{row.path}"[:64],
                "version": row.path_version,
                "row": row.step,
                "message": (
                    f"{row.action} due {_aware(row.due_at):%Y-%m-%d %H:%M} UTC is "
                    f"{row.escalate_after_hours} h overdue"
                ),
            }
            for row in late
        ],
    )
    audit.append(
        session,
        [
            audit.Change(
                ACTOR,
                "escalate",
                CaseTask.__tablename__,
                ",".join(str(row.id) for row in late)[:200],
                {},
                {"escalated": [row.id for row in late], "at": now.isoformat()},
            )
        ],
    )
    return len(late)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def run_treatment(
    engine: Engine,
    on: date,
    now: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> TreatmentResult:
    """The daily run over every open case, one chunk of ids per transaction, then the tasks of
    ended cases cancelled and the overdue ones escalated. Rerunning a day adds nothing."""
    now = now or business_now(on)
    result = TreatmentResult(on)
    with _one_run_at_a_time(engine) as running:
        if not running:
            log.warning("a treatment run is already going: this one does nothing")
            result.skipped = "another treatment run holds the lock"
            return result
        return _run(engine, on, now, chunk_size, result)


@contextmanager
def _one_run_at_a_time(engine: Engine) -> Iterator[bool]:
    """PostgreSQL: a session advisory lock for the run's length (SQLite has one writer)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        held = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": RUN_LOCK_KEY})
        connection.commit()
        try:
            yield bool(held)
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
                connection.commit()


def _run(
    engine: Engine, on: date, now: datetime, chunk_size: int, result: TreatmentResult
) -> TreatmentResult:
    with Session(engine) as session:
        paths = published_paths(session)
        low, high = session.execute(
            select(func.min(CollectionCase.id), func.max(CollectionCase.id)).where(
                and_(CollectionCase.status.in_(OPEN_STATUSES))
            )
        ).one()
    if low is not None:
        for first in range(low, high + 1, chunk_size):
            with transaction(engine) as session:
                session.info["actor"] = ACTOR
                result.add(treat_cases(session, paths, first, first + chunk_size - 1, on, now))
    with transaction(engine) as session:
        session.info["actor"] = ACTOR
        result.cancelled += cancel_tasks_of_ended_cases(session, now)
        result.escalated = escalate_overdue_tasks(session, now)
    if result.unknown_paths:
        log.warning("cases on paths nobody published: %s", result.unknown_paths)
    log.info("treatment run %s", result.as_dict())
    return result


def treatment_job(on: str | None = None) -> dict[str, Any]:
    """The RQ job: the treatment run for ``on`` (ISO date) or the stored business date."""
    from casedb.delinquency import business_date  # noqa: PLC0415
    from casedb.session import default_engine  # noqa: PLC0415

    engine = default_engine()
    if on is None:
        with Session(engine) as session:
            day = business_date(session)
    else:
        day = date.fromisoformat(on)
    return run_treatment(engine, day).as_dict()
