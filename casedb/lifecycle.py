"""The life cycle of a collection case: which status may follow which, and why not.

new → in collection → promised → paid / settled / legal / written off / closed. A broken
promise returns a case to collection; legal hand-off can still end in payment or settlement;
paid, settled and written-off cases can only be closed; a closed case stays closed (a new
delinquency opens a new case).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from casedb.models import CaseStatus, CollectionCase, EventKind
from casedb.outbox import emit

S = CaseStatus
ALLOWED: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.NEW: frozenset({S.IN_COLLECTION, S.PROMISED, S.PAID, S.SETTLED, S.LEGAL, S.CLOSED}),
    S.IN_COLLECTION: frozenset({S.PROMISED, S.PAID, S.SETTLED, S.LEGAL, S.WRITTEN_OFF, S.CLOSED}),
    S.PROMISED: frozenset({S.IN_COLLECTION, S.PAID, S.SETTLED, S.LEGAL, S.WRITTEN_OFF, S.CLOSED}),
    S.LEGAL: frozenset({S.PAID, S.SETTLED, S.WRITTEN_OFF, S.CLOSED}),
    S.PAID: frozenset({S.CLOSED}),
    S.SETTLED: frozenset({S.CLOSED}),
    S.WRITTEN_OFF: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Statuses that end the case's time under collection (the collection cycle is measured to here).
ENDING = frozenset({S.PAID, S.SETTLED, S.WRITTEN_OFF, S.CLOSED})


class IllegalTransition(ValueError):  # noqa: N818  (reads as the domain says it)
    """A status change the life cycle does not allow; the message says why."""


def check_transition(current: CaseStatus, target: CaseStatus) -> None:
    if target == current:
        raise IllegalTransition(f"the case is already {current.value}")
    if target not in ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "nothing: it is final"
        raise IllegalTransition(
            f"a {current.value} case cannot become {target.value}; it can become {allowed}"
        )


def change_status(
    session: Session,
    case: CollectionCase,
    target: CaseStatus,
    *,
    actor: str,
    reason: str = "",
    on: date | None = None,
) -> None:
    """Move ``case`` to ``target`` (or raise ``IllegalTransition``), with its change event."""
    target = CaseStatus(target)
    check_transition(case.status, target)
    previous = case.status
    case.status = target
    if target in ENDING and case.closed_on is None:
        case.closed_on = on or date.today()
    session.info["actor"] = actor
    emit(
        session,
        EventKind.CASE_UPDATED,
        case_id=case.id,
        customer_id=case.customer_id,
        loan_id=case.loan_id,
        payload={"status": target.value, "old_status": previous.value, "reason": reason},
        actor=actor,
    )
    # Each transition reaches the audit trail as its own entry, under its own actor.
    session.flush()
