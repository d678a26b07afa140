"""Promises to pay, tracked to kept, partly kept or broken without anyone clicking.

A promise (an amount by a date; an instalment plan is several promises) pauses the case's path
until its date plus ``config.PROMISE_GRACE_DAYS``. Payments posted against the loan are matched
to the case's pending promises, oldest date first (:func:`match_payments`, called by the
payments import): a promise paid in full in time is kept at once. The daily tick then settles
every promise whose grace has passed (:func:`resolve_due_promises`): kept when paid in full,
partly kept when paid something, broken when nothing came. Each outcome is an outbox event in
the same transaction (``promise_kept`` / ``promise_broken``), so the rules service re-decides
the case (a broken promise raises its priority and puts it at the top of the collector's
queue), and a case left without a pending promise moves from ``promised`` back to
``in_collection``. A payment that matches no promise is left as it is: it stays on the loan.

Time is always given (a business date, a payment's time), never read from the clock here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import config
from casedb import audit
from casedb.delinquency import BUSINESS_DATE_KEY
from casedb.importing.writer import key_in
from casedb.lifecycle import check_transition
from casedb.models import (
    OPEN_STATUSES,
    CaseStatus,
    CollectionCase,
    EventKind,
    PromiseStatus,
    PromiseToPay,
    Settlement,
    SettlementStatus,
    SystemSetting,
)
from casedb.outbox import emit, emit_many
from casedb.types import CENT, utcnow

# Who the audit trail and the outbox name when promises are settled by the system.
PROMISES_ACTOR = "promises"
CHUNK = 2000
ZERO = Decimal(0)


class PromiseRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A promise that cannot be taken as given; the message says why."""


def grace_days() -> int:
    return config.PROMISE_GRACE_DAYS


# --- validating a new promise ---------------------------------------------------------------


def current_business_date(session: Session) -> date | None:
    """The business date the daily run has reached (or the forced one); ``None`` when no date
    was ever stored, so a back-dated contact in a fresh database is judged by its own date."""
    forced = config.business_date_override()
    if forced is not None:
        return forced
    stored = session.get(SystemSetting, BUSINESS_DATE_KEY)
    return date.fromisoformat(stored.value) if stored else None


def amount_owed(case: CollectionCase) -> Decimal:
    """The most a debtor can promise on ``case``: its outstanding balance, or its overdue amount
    when that is larger (a card case may carry only the overdue part)."""
    return max(case.overdue_amount, case.outstanding_balance or ZERO)


def validate_promise(
    session: Session, case: CollectionCase, amount: Decimal, promised_for: date
) -> None:
    """Raise :class:`PromiseRefused` for a promise on a closed case, dated before the business
    date, or for more than is owed; the message gives the reason."""
    if case.status not in OPEN_STATUSES or case.closed_on is not None:
        raise PromiseRefused(
            f"the case is {CaseStatus(case.status).value}: a closed case takes no promise"
        )
    if amount <= 0:
        raise PromiseRefused("the promised amount must be positive")
    today = current_business_date(session)
    if today is not None and promised_for < today:
        raise PromiseRefused(
            f"the promised date {promised_for.isoformat()} is in the past "
            f"(the business date is {today.isoformat()})"
        )
    owed = amount_owed(case)
    if amount > owed:
        raise PromiseRefused(f"the promised amount {amount} is more than is owed ({owed})")


# --- matching payments ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentMatch:
    """What became of one payment: the part applied to each promise, and the rest.

    Every payment stays on the loan whatever it matched; ``unmatched`` is the part that went
    to no promise (all of it when no promise was pending or in time).
    """

    txn_no: str | None
    loan_id: int
    amount: Decimal
    applied: dict[str, Decimal] = field(default_factory=dict)  # promise_no -> amount
    kept: tuple[str, ...] = ()  # promises this payment completed

    @property
    def unmatched(self) -> Decimal:
        return self.amount - sum(self.applied.values(), ZERO)

    @property
    def matched(self) -> bool:
        return bool(self.applied)

    def text(self) -> str:
        if not self.applied:
            return f"{self.txn_no}: {self.amount} matches no promise; it stays on the loan"
        parts = ", ".join(f"{no} {amount}" for no, amount in self.applied.items())
        rest = f"; {self.unmatched} stays on the loan unmatched" if self.unmatched else ""
        return f"{self.txn_no}: applied to {parts}{rest}"


def _field(payment: Any, name: str) -> Any:
    return payment[name] if isinstance(payment, Mapping) else getattr(payment, name, None)


def _paid_on(paid_at: datetime) -> date:
    """The local calendar day of a payment (a naive time read back from SQLite is UTC)."""
    if paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=UTC)
    return paid_at.astimezone(ZoneInfo(config.DEFAULT_TIMEZONE)).date()


def match_payments(
    session: Session, loan_id: int, payments: Iterable[Any], actor: str = PROMISES_ACTOR
) -> list[PaymentMatch]:
    """Apply new ``payments`` of a loan (rows or dicts with amount, paid_at, txn_no) to its
    case's pending promises, oldest date first; see :func:`match_loan_payments`."""
    return match_loan_payments(session, {loan_id: list(payments)}, actor=actor)


def match_loan_payments(
    session: Session, payments_by_loan: Mapping[int, list[Any]], actor: str = PROMISES_ACTOR
) -> list[PaymentMatch]:
    """Apply new payments to pending promises, for many loans in one query.

    A payment counts towards a promise if it was made by the promise's date plus the grace
    days; a promise paid in full becomes kept at once (resolved on the day of the payment that
    completed it) with a ``promise_kept`` event, and a case with no promise pending any more
    returns to collection. Call it once per payment: the amounts add up.
    """
    loan_ids = sorted(payments_by_loan)
    promises: dict[int, list[PromiseToPay]] = defaultdict(list)
    owners: dict[int, tuple[int, int]] = {}  # promise id -> (customer id, loan id)
    for start in range(0, len(loan_ids), CHUNK):
        rows = session.execute(
            select(CollectionCase.loan_id, CollectionCase.customer_id, PromiseToPay)
            .join(CollectionCase, CollectionCase.id == PromiseToPay.case_id)
            .where(
                key_in(session, CollectionCase.loan_id, loan_ids[start : start + CHUNK]),
                PromiseToPay.status == PromiseStatus.PENDING,
            )
            .order_by(PromiseToPay.promised_for, PromiseToPay.id)
        )
        for loan_id, customer_id, promise in rows:
            promises[loan_id].append(promise)
            owners[promise.id] = (customer_id, loan_id)
    grace = timedelta(days=grace_days())
    results: list[PaymentMatch] = []
    kept: list[PromiseToPay] = []
    for loan_id in loan_ids:
        ordered = sorted(payments_by_loan[loan_id], key=lambda p: _field(p, "paid_at"))
        for payment in ordered:
            amount = Decimal(_field(payment, "amount"))
            paid_on = _paid_on(_field(payment, "paid_at"))
            left = amount
            applied: dict[str, Decimal] = {}
            completed: list[str] = []
            for promise in promises.get(loan_id, []):
                if left <= 0:
                    break
                if promise.status != PromiseStatus.PENDING:
                    continue
                if paid_on > promise.promised_for + grace:
                    continue  # too late for this one: the tick settles it
                take = min(left, promise.amount - promise.amount_paid)
                if take <= 0:
                    continue
                promise.amount_paid += take
                left -= take
                applied[promise.promise_no] = take
                if promise.amount_paid >= promise.amount:
                    promise.status = PromiseStatus.KEPT
                    promise.resolved_on = paid_on
                    kept.append(promise)
                    completed.append(promise.promise_no)
            results.append(
                PaymentMatch(_field(payment, "txn_no"), loan_id, amount, applied, tuple(completed))
            )
    if not any(r.applied for r in results):
        return results
    for promise in kept:
        emit(
            session,
            EventKind.PROMISE_KEPT,
            case_id=promise.case_id,
            customer_id=owners[promise.id][0],
            loan_id=owners[promise.id][1],
            payload=_payload(promise),
            actor=actor,
        )
    previous_actor = session.info.get("actor")
    session.info["actor"] = actor  # the audit trail names who matched, not the last user
    try:
        session.flush()
    finally:
        if previous_actor is None:
            session.info.pop("actor", None)
        else:
            session.info["actor"] = previous_actor
    if kept:
        on = max(p.resolved_on for p in kept)
        _return_to_collection(session, {p.case_id for p in kept}, actor=actor, on=on)
    return results


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


def _payload(promise: PromiseToPay) -> dict[str, Any]:
    return {
        "promise_no": promise.promise_no,
        "amount": _money(promise.amount),
        "amount_paid": _money(promise.amount_paid),
        "promised_for": promise.promised_for.isoformat(),
        "status": PromiseStatus(promise.status).value,
        "resolved_on": promise.resolved_on.isoformat() if promise.resolved_on else None,
    }


# --- settling promises whose grace has passed -------------------------------------------------


@dataclass(frozen=True)
class ResolveResult:
    as_of: date
    kept: int = 0
    partly_kept: int = 0
    broken: int = 0
    returned_to_collection: int = 0

    @property
    def resolved(self) -> int:
        return self.kept + self.partly_kept + self.broken

    def text(self) -> str:
        return (
            f"promises due by {self.as_of.isoformat()}: kept {self.kept}, partly kept "
            f"{self.partly_kept}, broken {self.broken}; "
            f"{self.returned_to_collection} cases back in collection"
        )


_EVENT = {
    PromiseStatus.KEPT: EventKind.PROMISE_KEPT,
    PromiseStatus.PARTLY_KEPT: EventKind.PROMISE_KEPT,
    PromiseStatus.BROKEN: EventKind.PROMISE_BROKEN,
}


def resolve_due_promises(
    session: Session, as_of: date, actor: str = PROMISES_ACTOR
) -> ResolveResult:
    """Settle every pending promise whose date plus the grace days is before ``as_of``.

    Kept when paid in full, partly kept when paid something, broken when nothing; resolved on
    ``as_of``. One read of the due promises, one UPDATE per outcome (per 2,000 promises), their
    events and audit entries in bulk, in the caller's transaction.
    """
    session.flush()
    last_day = as_of - timedelta(days=grace_days() + 1)  # promised_for + grace < as_of
    promise, case = PromiseToPay.__table__, CollectionCase.__table__
    due = session.execute(
        select(
            promise.c.id,
            promise.c.promise_no,
            promise.c.case_id,
            promise.c.amount,
            promise.c.amount_paid,
            promise.c.promised_for,
            case.c.customer_id,
            case.c.loan_id,
        )
        .join(case, case.c.id == promise.c.case_id)
        .where(
            promise.c.status == PromiseStatus.PENDING.value,
            promise.c.promised_for <= last_day,
        )
        .order_by(promise.c.id)
    ).all()
    by_status: dict[PromiseStatus, list[int]] = defaultdict(list)
    events: list[dict[str, Any]] = []
    changes: list[audit.Change] = []
    for row in due:
        paid = row.amount_paid or ZERO
        if paid >= row.amount:
            status = PromiseStatus.KEPT
        elif paid > 0:
            status = PromiseStatus.PARTLY_KEPT
        else:
            status = PromiseStatus.BROKEN
        by_status[status].append(row.id)
        payload = {
            "promise_no": row.promise_no,
            "amount": _money(row.amount),
            "amount_paid": _money(paid),
            "promised_for": row.promised_for.isoformat(),
            "status": status.value,
            "resolved_on": as_of.isoformat(),
        }
        events.append(
            {
                "kind": _EVENT[status],
                "case_id": row.case_id,
                "customer_id": row.customer_id,
                "loan_id": row.loan_id,
                "payload": payload,
            }
        )
        changes.append(
            audit.Change(
                actor,
                "update",
                PromiseToPay.__tablename__,
                str(row.id),
                {"status": PromiseStatus.PENDING.value, "resolved_on": None},
                {"status": status.value, "resolved_on": as_of.isoformat()},
            )
        )
    now = utcnow()
    for status, ids in by_status.items():
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(promise)
                .where(key_in(session, promise.c.id, ids[start : start + CHUNK]))
                .values(status=status.value, resolved_on=as_of, updated_at=now)
            )
    audit.append(session, changes)
    emit_many(session, events, actor=actor)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, PromiseToPay):
            session.expire(obj, ["status", "resolved_on", "updated_at"])
    returned = _return_to_collection(session, {row.case_id for row in due}, actor=actor, on=as_of)
    return ResolveResult(
        as_of,
        kept=len(by_status[PromiseStatus.KEPT]),
        partly_kept=len(by_status[PromiseStatus.PARTLY_KEPT]),
        broken=len(by_status[PromiseStatus.BROKEN]),
        returned_to_collection=returned,
    )


def _return_to_collection(session: Session, case_ids: set[int], *, actor: str, on: date) -> int:
    """Move the ``promised`` cases among ``case_ids`` that have no pending promise left back to
    ``in_collection`` (the life cycle's rule), with the events and audit entries a status
    change has; in bulk."""
    if not case_ids:
        return 0
    check_transition(CaseStatus.PROMISED, CaseStatus.IN_COLLECTION)
    session.flush()
    case, promise = CollectionCase.__table__, PromiseToPay.__table__
    still_pending = (
        select(func.count())
        .select_from(promise)
        .where(promise.c.case_id == case.c.id, promise.c.status == PromiseStatus.PENDING.value)
        .scalar_subquery()
    )
    # An active settlement keeps a case promised too (casedb.settlements).
    settlement = Settlement.__table__
    settling = (
        select(func.count())
        .select_from(settlement)
        .where(
            settlement.c.case_id == case.c.id,
            settlement.c.status == SettlementStatus.ACTIVE.value,
        )
        .scalar_subquery()
    )
    ordered = sorted(case_ids)
    moving: list[tuple[int, int, int]] = []
    for start in range(0, len(ordered), CHUNK):
        moving += session.execute(
            select(case.c.id, case.c.customer_id, case.c.loan_id).where(
                key_in(session, case.c.id, ordered[start : start + CHUNK]),
                case.c.status == CaseStatus.PROMISED.value,
                still_pending == 0,
                settling == 0,
            )
        ).all()
    if not moving:
        return 0
    ids = [row[0] for row in moving]
    now = utcnow()
    for start in range(0, len(ids), CHUNK):
        session.execute(
            update(case)
            .where(key_in(session, case.c.id, ids[start : start + CHUNK]))
            .values(status=CaseStatus.IN_COLLECTION.value, updated_at=now)
        )
    before = {"status": CaseStatus.PROMISED.value}
    after = {"status": CaseStatus.IN_COLLECTION.value}
    audit.append(
        session,
        [
            audit.Change(actor, "update", CollectionCase.__tablename__, str(i), before, after)
            for i in ids
        ],
    )
    payload = {
        "status": CaseStatus.IN_COLLECTION.value,
        "old_status": CaseStatus.PROMISED.value,
        "reason": f"no promise pending on {on.isoformat()}",
    }
    emit_many(
        session,
        [
            {
                "kind": EventKind.CASE_UPDATED,
                "case_id": case_id,
                "customer_id": customer_id,
                "loan_id": loan_id,
                "payload": payload,
            }
            for case_id, customer_id, loan_id in moving
        ],
        actor=actor,
    )
    moved = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CollectionCase) and obj.id in moved:
            session.expire(obj, ["status", "updated_at"])
    return len(moving)
