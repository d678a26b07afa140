"""The end of the road: hand-off to legal, and write-off on a supervisor's approval.

The strategy table decides when a case needs legal review (M4+ in the shipped policy puts it on
the ``m4_legal_review`` path, whose first step is a legal-review task for the legal team). The
reviewer then either hands the case off to legal (status ``legal``: litigation, outside the
collectors' queues) or recommends writing it off. A write-off needs a supervisor other than the
one who recommended it (maker-checker): the recommendation is a ``write_off_approval`` task on
the case and a ``write_off_recommended`` alert in the team's inbox; approving it writes the case
off, rejecting it sends it back with the reason. Every step is an ORM change under the person,
so the audit trail keeps it; a status change emits its change event (``casedb.lifecycle``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.lifecycle import IllegalTransition, change_status, check_transition
from casedb.models import (
    Alert,
    AlertStatus,
    CaseStatus,
    CaseTask,
    CollectionCase,
    TaskStatus,
)
from casedb.types import utcnow

WRITE_OFF_ACTION = "write_off_approval"
WRITE_OFF_ALERT = "write_off_recommended"
REASON_LIMIT = 2000


class LegalRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A hand-off or write-off step that cannot be done, with the reason."""


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise LegalRefused("say why")
    if len(reason) > REASON_LIMIT:
        raise LegalRefused(f"the reason is longer than {REASON_LIMIT} characters")
    return reason


def _finish_reviews(session: Session, case: CollectionCase, by: str, note: str) -> None:
    now = utcnow()
    for task in session.scalars(
        select(CaseTask).where(
            CaseTask.case_id == case.id,
            CaseTask.action == "legal_review",
            CaseTask.status == TaskStatus.OPEN,
        )
    ):
        task.status, task.done_at, task.done_by = TaskStatus.DONE, now, by
        task.note = f"{task.note}\n---\n{note}" if task.note else note


def hand_off_to_legal(
    session: Session, case: CollectionCase, *, by: str, reason: str, on: date | None = None
) -> None:
    """The case goes to legal; its open legal-review tasks are done with the reason."""
    reason = _reason(reason)
    try:
        change_status(session, case, CaseStatus.LEGAL, actor=by, reason=reason, on=on)
    except IllegalTransition as error:
        raise LegalRefused(str(error)) from error
    _finish_reviews(session, case, by, f"handed off to legal: {reason}")
    session.flush()


def pending_write_off(session: Session, case_id: int) -> CaseTask | None:
    return session.scalar(
        select(CaseTask).where(
            CaseTask.case_id == case_id,
            CaseTask.action == WRITE_OFF_ACTION,
            CaseTask.status == TaskStatus.OPEN,
        )
    )


def recommend_write_off(
    session: Session, case: CollectionCase, *, by: str, reason: str, now: datetime | None = None
) -> CaseTask:
    """Ask a supervisor to write the case off: a task on the case and an alert in the inbox."""
    reason = _reason(reason)
    try:
        check_transition(case.status, CaseStatus.WRITTEN_OFF)
    except IllegalTransition as error:
        raise LegalRefused(str(error)) from error
    if pending_write_off(session, case.id) is not None:
        raise LegalRefused("a write-off is already waiting for approval on this case")
    now = now or utcnow()
    session.info["actor"] = by
    task = CaseTask(
        case_id=case.id,
        path="lifecycle",
        path_version=0,
        step=f"write_off-{now:%Y%m%d%H%M%S}",
        action=WRITE_OFF_ACTION,
        automated=False,
        due_at=now,
        status=TaskStatus.OPEN,
        team_id=case.team_id,
        created_at=now,
        created_by=by,
        note=reason,
    )
    session.add(task)
    session.add(
        Alert(
            case_id=case.id,
            kind=WRITE_OFF_ALERT,
            severity="warning",
            status=AlertStatus.OPEN,
            raised_at=now,
            ruleset="lifecycle",
            version=0,
            row="write_off",
            message=f"{by} recommends writing off: {reason}"[:REASON_LIMIT],
        )
    )
    _finish_reviews(session, case, by, f"write-off recommended: {reason}")
    session.flush()
    return task


def _decided(session: Session, task: CaseTask, by: str, status: TaskStatus, note: str) -> None:
    now = utcnow()
    task.status, task.done_at, task.done_by = status, now, by
    task.note = f"{task.note}\n---\n{note}"
    for alert in session.scalars(
        select(Alert).where(
            Alert.case_id == task.case_id,
            Alert.kind == WRITE_OFF_ALERT,
            Alert.status != AlertStatus.RESOLVED,
        )
    ):
        alert.status, alert.resolved_by, alert.resolved_at = AlertStatus.RESOLVED, by, now
        alert.resolution_note = note


def approve_write_off(
    session: Session, case: CollectionCase, *, by: str, on: date | None = None
) -> None:
    """A supervisor other than the recommender writes the case off."""
    task = pending_write_off(session, case.id)
    if task is None:
        raise LegalRefused("no write-off waits for approval on this case")
    if by == task.created_by:
        raise LegalRefused(
            f"maker-checker: {by} recommended this write-off; another supervisor must approve"
        )
    try:
        change_status(
            session, case, CaseStatus.WRITTEN_OFF, actor=by, reason=task.note or "", on=on
        )
    except IllegalTransition as error:
        raise LegalRefused(str(error)) from error
    _decided(session, task, by, TaskStatus.DONE, f"approved by {by}")
    session.flush()


def reject_write_off(session: Session, case: CollectionCase, *, by: str, reason: str) -> None:
    """Send the recommendation back with the reason; the case stays where it was."""
    reason = _reason(reason)
    task = pending_write_off(session, case.id)
    if task is None:
        raise LegalRefused("no write-off waits for approval on this case")
    session.info["actor"] = by
    _decided(session, task, by, TaskStatus.CANCELLED, f"rejected by {by}: {reason}")
    session.flush()
