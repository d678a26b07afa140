"""What a supervisor does to many cases at once: reassign, change status, hold and release.

Each case is judged on its own: a case the life cycle or the target collector refuses is
reported with its reason and left as it was, the others change together in the caller's
transaction. Every change leaves a ``case_updated`` event (the rules service and the timeline
see it) and an audit entry under the acting user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.lifecycle import IllegalTransition, change_status
from casedb.models import OPEN_STATUSES, CaseStatus, CollectionCase, Collector, EventKind
from casedb.outbox import emit


class BulkActionRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """The whole action cannot run (an unknown collector, a missing reason)."""


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.changed)} changed"
        if self.refused:
            reasons = "; ".join(f"{case_no}: {why}" for case_no, why in self.refused.items())
            text += f", {len(self.refused)} refused ({reasons})"
        return "; ".join([text, *self.warnings])


def _require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise BulkActionRefused("a reason is required: it goes on each case's timeline")
    return reason


def _updated(session: Session, case: CollectionCase, actor: str, **payload: object) -> None:
    emit(
        session,
        EventKind.CASE_UPDATED,
        case_id=case.id,
        customer_id=case.customer_id,
        loan_id=case.loan_id,
        payload=dict(payload),
        actor=actor,
    )


def reassign(
    session: Session,
    cases: Sequence[CollectionCase],
    collector_id: int,
    *,
    actor: str,
    reason: str,
) -> BulkResult:
    """Give ``cases`` to a collector (and the collector's team); closed cases stay put."""
    reason = _require_reason(reason)
    collector = session.get(Collector, collector_id)
    if collector is None or not collector.active:
        raise BulkActionRefused("choose an active collector")
    session.info["actor"] = actor
    result = BulkResult()
    for case in cases:
        if case.status not in OPEN_STATUSES:
            result.refused[case.case_no] = f"the case is {case.status.value}"
            continue
        if case.collector_id == collector.id:
            result.refused[case.case_no] = f"already with {collector.name}"
            continue
        previous = case.collector.code if case.collector else None
        case.collector_id, case.team_id = collector.id, collector.team_id
        _updated(
            session,
            case,
            actor,
            collector=collector.code,
            old_collector=previous,
            reason=reason,
        )
        result.changed.append(case.case_no)
    session.flush()
    over = open_cases_of(session, collector.id) - collector.capacity
    if over > 0:
        result.warnings.append(
            f"{collector.name} is now {over} case(s) over a capacity of {collector.capacity}"
        )
    return result


def open_cases_of(session: Session, collector_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(CollectionCase)
        .where(
            CollectionCase.collector_id == collector_id,
            CollectionCase.status.in_(OPEN_STATUSES),
        )
    )


def change_status_of(
    session: Session,
    cases: Sequence[CollectionCase],
    target: CaseStatus,
    *,
    actor: str,
    reason: str,
) -> BulkResult:
    """Move each case to ``target`` where the life cycle allows it."""
    reason = _require_reason(reason)
    result = BulkResult()
    for case in cases:
        try:
            change_status(session, case, CaseStatus(target), actor=actor, reason=reason)
        except IllegalTransition as refused:
            result.refused[case.case_no] = str(refused)
        else:
            result.changed.append(case.case_no)
    return result


def hold(
    session: Session,
    cases: Sequence[CollectionCase],
    on_hold: bool,
    *,
    actor: str,
    reason: str,
) -> BulkResult:
    """Take cases out of the queues (dispute, complaint, hardship review) or put them back."""
    reason = _require_reason(reason)
    session.info["actor"] = actor
    result = BulkResult()
    for case in cases:
        if case.on_hold == on_hold:
            result.refused[case.case_no] = "already on hold" if on_hold else "not on hold"
            continue
        case.on_hold = on_hold
        _updated(session, case, actor, on_hold=on_hold, reason=reason)
        result.changed.append(case.case_no)
    session.flush()
    return result
