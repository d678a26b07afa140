"""A collector's tasks: the path steps due on their cases, done by hand or by a logged contact.

The treatment run creates the tasks (``rules_service.treatment_run``); here they are done. A
call logged on a case completes its open call tasks that have fallen due, pointing at the
contact, so a collector who works the queue never ticks a box twice; any open task can also be
marked done with a note. Each change is an ORM change, so the audit trail records who did it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import CaseTask, Channel, ContactAttempt, TaskStatus
from casedb.types import utcnow

# The logged contact channel that does each manual action.
ACTION_OF_CHANNEL: dict[Channel, str] = {Channel.CALL: "call", Channel.VISIT: "field_visit"}


class TaskRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A task that cannot be done as asked, with the reason."""


@dataclass(frozen=True)
class DueTask:
    """A case's earliest open task, as the queue shows it."""

    task_id: int
    action: str
    due_at: datetime
    overdue: bool


def complete_task(
    session: Session, task: CaseTask, *, by: str, note: str = "", now: datetime | None = None
) -> CaseTask:
    """Mark an open task done (by a person, with an optional note)."""
    if task.status is not TaskStatus.OPEN:
        raise TaskRefused(f"the task is {task.status.value}; only an open task can be done")
    session.info["actor"] = by
    task.status, task.done_at, task.done_by = TaskStatus.DONE, now or utcnow(), by
    if note.strip():
        task.note = f"{task.note}\n---\n{note.strip()}" if task.note else note.strip()
    session.flush()
    return task


def complete_tasks_for_contact(session: Session, attempt: ContactAttempt, by: str) -> list[int]:
    """The open tasks the logged contact did (its channel's action, fallen due by the time of
    the contact) are done and point at it; returns their ids."""
    action = ACTION_OF_CHANNEL.get(Channel(attempt.channel))
    if action is None:
        return []
    tasks = session.scalars(
        select(CaseTask).where(
            CaseTask.case_id == attempt.case_id,
            CaseTask.status == TaskStatus.OPEN,
            CaseTask.action == action,
            CaseTask.due_at <= attempt.started_at,
        )
    ).all()
    for task in tasks:
        task.status, task.done_at, task.done_by = TaskStatus.DONE, utcnow(), by
        task.contact_attempt_id = attempt.id
    session.flush()
    return [task.id for task in tasks]


def earliest_open_tasks(
    session: Session, case_ids: Iterable[int], now: datetime | None = None
) -> dict[int, DueTask]:
    """Each case's open task due first (what the queue shows beside the case)."""
    ids = list(case_ids)
    if not ids:
        return {}
    now = now or utcnow()
    rows = session.execute(
        select(CaseTask.id, CaseTask.case_id, CaseTask.action, CaseTask.due_at)
        .where(CaseTask.case_id.in_(ids), CaseTask.status == TaskStatus.OPEN)
        .order_by(CaseTask.case_id, CaseTask.due_at, CaseTask.id)
    )
    found: dict[int, DueTask] = {}
    for row in rows:
        if row.case_id not in found:
            due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=now.tzinfo)
            found[row.case_id] = DueTask(row.id, row.action, due, due <= now)
    return found
