"""Settlements and payment plans: agreed within discount limits, approved maker-checker, paid
down by imported payments, and ending the case when paid (or broken when an instalment is missed).

A **settlement** is one payment of a discounted amount by a date (``pay_by``); a **payment plan**
is the amount owed in up to :data:`MAX_INSTALMENTS` instalments, or less than owed, which is then
a discount too. Both are measured against :func:`casedb.promises.amount_owed` (the outstanding
balance, or the overdue amount when that is larger): a debtor who settles settles the whole debt,
not only the part overdue today.

Discount limits by role (percent of the amount owed):

* a collector agrees up to :data:`COLLECTOR_DISCOUNT_LIMIT_PERCENT` on their own: the
  settlement is ``active`` at once, with the collector recorded as its approver;
* above that, up to :data:`SUPERVISOR_DISCOUNT_LIMIT_PERCENT`, it is ``proposed`` and waits for a
  supervisor, who approves or rejects it (maker-checker: never the one who proposed it, and only
  within the approver's own limit); a supervisor's own proposal within that limit is active at
  once;
* above :data:`SUPERVISOR_DISCOUNT_LIMIT_PERCENT` nobody may agree it: it is refused.

A case has at most one proposed or active settlement, and a closed case takes none. An active
settlement puts a case that was new or in collection into ``promised`` (the rules service leaves
a case mid-promise where it is).

Payments posted against the loan count towards the case's active settlement as they are imported
(:func:`settle_loan_payments`, beside :func:`casedb.promises.match_loan_payments`); when the
amount paid reaches the agreed amount the settlement is ``completed`` and the case goes
``settled`` (``paid`` when nothing was forgiven) and then ``closed``, by
:func:`casedb.lifecycle.change_status`. The daily tick (:func:`resolve_due_settlements`) breaks an
active settlement with an instalment unpaid beyond its date plus ``config.PROMISE_GRACE_DAYS``
(the case goes back from ``promised`` to ``in_collection`` when no promise is pending), and lapses
a proposal nobody decided before its first payment date. :func:`close_paid_cases` closes the
open cases with nothing left to pay (``paid`` then ``closed``).

Every function changes ORM objects in the caller's session and never commits; each change is
audited (the flush listener, under the actor given) and each case status change is an outbox
event. Time is always given (a business date, a payment's time), never read from the clock here.

Where they are called from:

* :func:`settle_loan_payments` — ``casedb.importing.kinds.payment_events``, right after
  ``match_loan_payments(session, new_by_loan, actor="import:payments")``, with the same
  arguments;
* :func:`close_paid_cases` and then :func:`resolve_due_settlements` — the daily tick
  (``rules_service.daily_tick.advance_to``), after ``resolve_due_promises(session, to, actor=by)``
  and before the re-evaluation is requested, with ``(session, to, actor=by)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

import config
from casedb.importing.writer import key_in
from casedb.lifecycle import change_status
from casedb.models import (
    OPEN_STATUSES,
    CaseStatus,
    CollectionCase,
    PromiseStatus,
    PromiseToPay,
    Settlement,
    SettlementKind,
    SettlementStatus,
)
from casedb.promises import amount_owed, grace_days
from casedb.types import CENT, utcnow

# The roles that may agree discounts (the console's role names) and how far each may go, in
# percent of the amount owed. Anything above the supervisor's limit is refused outright.
COLLECTOR = "Collector"
SUPERVISOR = "Supervisor"
COLLECTOR_DISCOUNT_LIMIT_PERCENT = 10
SUPERVISOR_DISCOUNT_LIMIT_PERCENT = 40
DISCOUNT_LIMITS: dict[str, int] = {
    COLLECTOR: COLLECTOR_DISCOUNT_LIMIT_PERCENT,
    SUPERVISOR: SUPERVISOR_DISCOUNT_LIMIT_PERCENT,
}
# A payment plan has at most this many instalments.
MAX_INSTALMENTS = 24
# A settlement proposed without a date is to be paid within this many days.
SETTLEMENT_PAY_WITHIN_DAYS = 30
# Who the audit trail and the outbox name when settlements are settled by the system.
SETTLEMENTS_ACTOR = "settlements"
# Statuses that hold a case: a case has at most one settlement in one of these.
OPEN_SETTLEMENT_STATUSES = (SettlementStatus.PROPOSED, SettlementStatus.ACTIVE)
NOTE_LIMIT = 2000
CHUNK = 2000
ZERO = Decimal(0)
HUNDRED = Decimal(100)


class SettlementRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A settlement, plan or decision that cannot be taken as given; the message says why."""


class OutsideAuthority(SettlementRefused):
    """The person's role may not do this (beyond its discount limit, or their own proposal)."""


class SettlementConflict(SettlementRefused):
    """The case or the settlement is not in a state that allows this (closed, already open)."""


# --- limits ---------------------------------------------------------------------------------


def discount_limit(role: str) -> int | None:
    """The most ``role`` may forgive, in percent of the amount owed; ``None`` when the role
    agrees no settlements at all."""
    return DISCOUNT_LIMITS.get(role)


def authority_of(roles: Iterable[str]) -> str | None:
    """Of a person's roles, the one with the highest discount limit (``None``: no authority)."""
    known = [role for role in roles if role in DISCOUNT_LIMITS]
    return max(known, key=DISCOUNT_LIMITS.__getitem__) if known else None


def discount_percent(owed: Decimal, agreed: Decimal) -> Decimal:
    """The discount as stored and shown: percent of ``owed`` forgiven, rounded up to 0.01 (so a
    discount a hair above a limit never reads as the limit)."""
    if owed <= 0:
        return ZERO
    return ((owed - agreed) * HUNDRED / owed).quantize(CENT, rounding=ROUND_UP)


def _within(limit: int, owed: Decimal, agreed: Decimal) -> bool:
    """Whether forgiving ``owed - agreed`` is within ``limit`` percent, exactly (no rounding)."""
    return (owed - agreed) * HUNDRED <= limit * owed


def _limit_of(role: str, what: str) -> int:
    limit = discount_limit(role)
    if limit is None:
        raise OutsideAuthority(
            f"the role {role or '(none)'} may not {what} settlements: "
            f"only {COLLECTOR} and {SUPERVISOR} may"
        )
    return limit


# --- proposing --------------------------------------------------------------------------------


def _amount(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        raise SettlementRefused(f"{what} must be an exact amount, not a float")
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise SettlementRefused(f"{what} is not an amount: {value!r}") from None
    if not amount.is_finite():
        raise SettlementRefused(f"{what} is not an amount: {value!r}")
    if amount <= 0:
        raise SettlementRefused(f"{what} must be positive")
    if amount != amount.quantize(CENT):
        raise SettlementRefused(f"{what} has more than two decimals: {amount}")
    return amount.quantize(CENT)


def _note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise SettlementRefused(f"the note is longer than {NOTE_LIMIT} characters")
    return note or None


def _add_note(settlement: Settlement, by: str, text: str | None) -> None:
    """Settlements keep one running note: each proposal, decision and ending adds a line."""
    if text:
        line = f"{by}: {text}"
        settlement.decided_note = (
            f"{settlement.decided_note}\n{line}" if settlement.decided_note else line
        )


def _check_case_open(case: CollectionCase) -> None:
    if case.status not in OPEN_STATUSES or case.closed_on is not None:
        raise SettlementConflict(
            f"the case is {CaseStatus(case.status).value}: a closed case takes no settlement"
        )


def _lock_case(session: Session, case: CollectionCase) -> None:
    """Serialise settlement changes of one case (PostgreSQL; SQLite serialises writers)."""
    session.execute(select(CollectionCase.id).where(CollectionCase.id == case.id).with_for_update())


def open_settlement(session: Session, case_id: int) -> Settlement | None:
    """The case's proposed or active settlement, if it has one."""
    return session.scalars(
        select(Settlement)
        .where(Settlement.case_id == case_id, Settlement.status.in_(OPEN_SETTLEMENT_STATUSES))
        .order_by(Settlement.id)
    ).first()


def propose_settlement(
    session: Session,
    case: CollectionCase,
    *,
    agreed_amount: Decimal,
    by: str,
    role: str,
    on: date,
    pay_by: date | None = None,
    note: str | None = None,
) -> Settlement:
    """Propose settling ``case`` for one payment of ``agreed_amount`` by ``pay_by`` (default:
    :data:`SETTLEMENT_PAY_WITHIN_DAYS` after ``on``, the business date of the proposal).

    Active at once when the discount is within ``role``'s limit (``by`` recorded as approver),
    proposed for a supervisor when above it; raises :class:`SettlementRefused` (or a subclass)
    with the reason otherwise.
    """
    agreed = _amount(agreed_amount, "the agreed amount")
    pay_by = pay_by or on + timedelta(days=SETTLEMENT_PAY_WITHIN_DAYS)
    return _propose(
        session,
        case,
        kind=SettlementKind.SETTLEMENT,
        schedule=[(pay_by, agreed)],
        by=by,
        role=role,
        on=on,
        note=note,
    )


def propose_payment_plan(
    session: Session,
    case: CollectionCase,
    *,
    instalments: Sequence[tuple[date, Decimal]],
    by: str,
    role: str,
    on: date,
    note: str | None = None,
) -> Settlement:
    """Propose paying ``case`` in ``instalments`` (date, amount), dated from ``on`` on in
    increasing order, at most :data:`MAX_INSTALMENTS`. They add up to the amount owed, or to
    less, which is a discount under the same limits as a settlement."""
    if not instalments:
        raise SettlementRefused("a payment plan needs at least one instalment")
    if len(instalments) > MAX_INSTALMENTS:
        raise SettlementRefused(
            f"a payment plan has at most {MAX_INSTALMENTS} instalments, not {len(instalments)}"
        )
    schedule: list[tuple[date, Decimal]] = []
    for number, item in enumerate(instalments, 1):
        try:
            due_on, amount = item
        except (TypeError, ValueError):
            raise SettlementRefused(f"instalment {number}: give a date and an amount") from None
        if not isinstance(due_on, date) or isinstance(due_on, datetime):
            raise SettlementRefused(f"instalment {number}: {due_on!r} is not a date")
        schedule.append((due_on, _amount(amount, f"instalment {number}'s amount")))
    return _propose(
        session,
        case,
        kind=SettlementKind.PAYMENT_PLAN,
        schedule=schedule,
        by=by,
        role=role,
        on=on,
        note=note,
    )


def _check_schedule(schedule: list[tuple[date, Decimal]], on: date) -> None:
    previous: date | None = None
    plan = len(schedule) > 1
    for number, (due_on, _) in enumerate(schedule, 1):
        name = f"instalment {number}" if plan else "the payment"
        if due_on < on:
            raise SettlementRefused(
                f"{name} is due on {due_on.isoformat()}, before the date of the proposal "
                f"({on.isoformat()})"
            )
        if previous is not None and due_on <= previous:
            raise SettlementRefused(
                f"{name} is due on {due_on.isoformat()}, not after instalment {number - 1} "
                f"({previous.isoformat()}): give the dates in increasing order"
            )
        previous = due_on


def _propose(
    session: Session,
    case: CollectionCase,
    *,
    kind: SettlementKind,
    schedule: list[tuple[date, Decimal]],
    by: str,
    role: str,
    on: date,
    note: str | None,
) -> Settlement:
    limit = _limit_of(role, "propose")
    note = _note(note)
    _check_case_open(case)
    _lock_case(session, case)
    existing = open_settlement(session, case.id)
    if existing is not None:
        raise SettlementConflict(
            f"the case already has {_what(existing)} #{existing.id}, "
            f"{SettlementStatus(existing.status).value}: it must end before another is proposed"
        )
    _check_schedule(schedule, on)
    owed = amount_owed(case)
    if owed <= 0:
        raise SettlementRefused("nothing is owed on the case")
    agreed = sum((amount for _, amount in schedule), ZERO)
    if agreed > owed:
        raise SettlementRefused(f"the agreed amount {agreed} is more than is owed ({owed})")
    if not _within(SUPERVISOR_DISCOUNT_LIMIT_PERCENT, owed, agreed):
        raise SettlementRefused(
            f"a discount of {discount_percent(owed, agreed)}% is more than anyone may grant "
            f"(at most {SUPERVISOR_DISCOUNT_LIMIT_PERCENT}%)"
        )
    settlement = Settlement(
        case_id=case.id,
        kind=kind,
        status=SettlementStatus.PROPOSED,
        owed_amount=owed,
        agreed_amount=agreed,
        discount_percent=discount_percent(owed, agreed),
        instalments=[
            {"due_on": due_on.isoformat(), "amount": str(amount)} for due_on, amount in schedule
        ],
        amount_paid=ZERO,
        proposed_by=by,
    )
    _add_note(settlement, by, note)
    with acting_as(session, by):
        if _within(limit, owed, agreed):
            _activate(session, settlement, case, by=by, role=role, limit=limit, on=on)
        else:
            session.add(settlement)
            session.flush()
    return settlement


def _activate(
    session: Session,
    settlement: Settlement,
    case: CollectionCase,
    *,
    by: str,
    role: str,
    limit: int,
    on: date | None,
) -> None:
    settlement.status = SettlementStatus.ACTIVE
    settlement.approved_by = by
    settlement.approved_at = utcnow()
    terms = (
        f"a discount of {settlement.discount_percent}% is within the {limit}% limit"
        if settlement.agreed_amount < settlement.owed_amount
        else "no discount"
    )
    _add_note(settlement, by, f"approved as {role}: {terms}")
    session.add(settlement)
    session.flush()  # one audit entry for the change, and the id the case's reason names
    if case.status in (CaseStatus.NEW, CaseStatus.IN_COLLECTION):
        change_status(
            session,
            case,
            CaseStatus.PROMISED,
            actor=by,
            reason=f"{_what(settlement)} #{settlement.id} agreed",
            on=on,
        )


def _what(settlement: Settlement) -> str:
    return SettlementKind(settlement.kind).value.replace("_", " ")


# --- deciding a proposal (maker-checker) ------------------------------------------------------


_DONE = {"approve": "approved", "reject": "rejected"}


def _lock(session: Session, settlement: Settlement) -> None:
    """Read the settlement afresh and hold it (PostgreSQL), so two decisions never cross."""
    if settlement.id is not None:
        session.refresh(settlement, with_for_update=True)


def _check_decider(session: Session, settlement: Settlement, by: str, role: str, what: str) -> int:
    limit = _limit_of(role, what)
    _lock(session, settlement)
    if SettlementStatus(settlement.status) is not SettlementStatus.PROPOSED:
        raise SettlementConflict(
            f"only a proposed settlement can be {_DONE[what]}; this one is "
            f"{SettlementStatus(settlement.status).value}"
        )
    if by == settlement.proposed_by:
        raise OutsideAuthority(
            f"{by} proposed this {_what(settlement)}: someone else must {what} it"
        )
    if not _within(limit, settlement.owed_amount, settlement.agreed_amount):
        raise OutsideAuthority(
            f"a discount of {settlement.discount_percent}% is beyond the {limit}% a {role} may "
            f"{what}"
        )
    return limit


def approve_settlement(
    session: Session,
    settlement: Settlement,
    *,
    by: str,
    role: str,
    on: date | None = None,
    note: str | None = None,
) -> None:
    """Approve a proposed settlement: not by its proposer, and only within ``role``'s limit.

    Refused on a case closed since, and (given the business date ``on``) once the first payment
    date has passed: the debtor was promised dates that are gone, so it is proposed anew.
    """
    limit = _check_decider(session, settlement, by, role, "approve")
    note = _note(note)
    case = settlement.case
    _check_case_open(case)
    _lock_case(session, case)
    first_due = _schedule(settlement)[0][0]
    if on is not None and first_due < on:
        raise SettlementConflict(
            f"its first payment was due on {first_due.isoformat()}, before today "
            f"({on.isoformat()}): propose it again with new dates"
        )
    with acting_as(session, by):
        _add_note(settlement, by, note)
        _activate(session, settlement, case, by=by, role=role, limit=limit, on=on)


def reject_settlement(
    session: Session,
    settlement: Settlement,
    *,
    by: str,
    role: str,
    note: str,
    on: date,
) -> None:
    """Reject a proposed settlement, saying why: not by its proposer, within ``role``'s limit."""
    _check_decider(session, settlement, by, role, "reject")
    note = _note(note)
    if not note:
        raise SettlementRefused("say why the settlement is rejected")
    with acting_as(session, by):
        settlement.status = SettlementStatus.REJECTED
        settlement.ended_on = on
        _add_note(settlement, by, f"rejected: {note}")
        session.flush()


def cancel_settlement(
    session: Session,
    settlement: Settlement,
    *,
    by: str,
    role: str,
    note: str,
    on: date,
) -> None:
    """Withdraw a proposed or active settlement (the debtor changed their mind), saying why: its
    proposer, or anyone whose limit covers its discount. The case goes back from ``promised``
    to collection when no promise is pending."""
    limit = _limit_of(role, "cancel")
    _lock(session, settlement)
    status = SettlementStatus(settlement.status)
    if status not in OPEN_SETTLEMENT_STATUSES:
        raise SettlementConflict(f"the settlement is already {status.value}")
    if by != settlement.proposed_by and not _within(
        limit, settlement.owed_amount, settlement.agreed_amount
    ):
        raise OutsideAuthority(
            f"a discount of {settlement.discount_percent}% is beyond the {limit}% a {role} may "
            "cancel"
        )
    note = _note(note)
    if not note:
        raise SettlementRefused("say why the settlement is cancelled")
    with acting_as(session, by):
        _end(session, settlement, SettlementStatus.CANCELLED, on=on, by=by, why=note)


# --- payments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementPayment:
    """What became of one payment: the part counted towards the case's active settlement.

    Every payment stays on the loan whatever it counted for (a promise, a settlement, both).
    """

    txn_no: str | None
    loan_id: int
    amount: Decimal
    settlement_id: int | None = None
    applied: Decimal = ZERO
    completed: bool = False

    def text(self) -> str:
        if self.settlement_id is None:
            return f"{self.txn_no}: {self.amount} counts towards no settlement"
        done = "; the settlement is paid" if self.completed else ""
        return f"{self.txn_no}: {self.applied} towards settlement #{self.settlement_id}{done}"


def _field(payment: Any, name: str) -> Any:
    return payment[name] if isinstance(payment, Mapping) else getattr(payment, name, None)


def _paid_on(paid_at: datetime) -> date:
    """The local calendar day of a payment (a naive time read back from SQLite is UTC); the
    same day :mod:`casedb.promises` counts a payment on."""
    if paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=UTC)
    return paid_at.astimezone(ZoneInfo(config.DEFAULT_TIMEZONE)).date()


def _schedule(settlement: Settlement) -> list[tuple[date, Decimal]]:
    return [
        (date.fromisoformat(item["due_on"]), Decimal(item["amount"]))
        for item in settlement.instalments or []
    ]


def missed_instalment(
    settlement: Settlement, day: date, paid: Decimal | None = None
) -> tuple[int, date, Decimal] | None:
    """The first instalment still short on ``day`` although its date plus the grace days has
    passed: (its number, due date, amount due by then in all); ``None`` when none is."""
    paid = settlement.amount_paid if paid is None else paid
    grace = timedelta(days=grace_days())
    due_so_far = ZERO
    for number, (due_on, amount) in enumerate(_schedule(settlement), 1):
        due_so_far += amount
        if due_on + grace < day and paid < due_so_far:
            return number, due_on, due_so_far
    return None


def settle_payments(
    session: Session, loan_id: int, payments: Iterable[Any], actor: str = SETTLEMENTS_ACTOR
) -> list[SettlementPayment]:
    """Count new ``payments`` of a loan (rows or dicts with amount, paid_at, txn_no) towards its
    case's active settlement; see :func:`settle_loan_payments`."""
    return settle_loan_payments(session, {loan_id: list(payments)}, actor=actor)


def settle_loan_payments(
    session: Session, payments_by_loan: Mapping[int, list[Any]], actor: str = SETTLEMENTS_ACTOR
) -> list[SettlementPayment]:
    """Count new payments towards the active settlements of their loans' cases, in one query.

    A payment counts unless the settlement was already broken on the day it was made (an
    instalment unpaid past its date plus the grace days: the tick breaks it), up to the agreed
    amount. A settlement paid in full is completed on the day of the payment that completed it,
    and its case goes ``settled`` (``paid`` when nothing was forgiven) and then ``closed``. Call
    it once per payment: the amounts add up.
    """
    loan_ids = sorted(payments_by_loan)
    active: dict[int, Settlement] = {}
    for start in range(0, len(loan_ids), CHUNK):
        rows = session.execute(
            select(CollectionCase.loan_id, Settlement)
            .join(CollectionCase, CollectionCase.id == Settlement.case_id)
            .where(
                key_in(session, CollectionCase.loan_id, loan_ids[start : start + CHUNK]),
                Settlement.status == SettlementStatus.ACTIVE,
            )
            .order_by(Settlement.id)
        )
        for loan_id, settlement in rows:
            active.setdefault(loan_id, settlement)
    results: list[SettlementPayment] = []
    completed: list[tuple[Settlement, date]] = []
    for loan_id in loan_ids:
        settlement = active.get(loan_id)
        for payment in sorted(payments_by_loan[loan_id], key=lambda p: _field(p, "paid_at")):
            amount = Decimal(_field(payment, "amount")).quantize(CENT)
            txn_no = _field(payment, "txn_no")
            paid_on = _paid_on(_field(payment, "paid_at"))
            if (
                settlement is None
                or settlement.status is not SettlementStatus.ACTIVE
                or amount <= 0
                or missed_instalment(settlement, paid_on) is not None
            ):
                results.append(SettlementPayment(txn_no, loan_id, amount))
                continue
            take = min(amount, settlement.agreed_amount - settlement.amount_paid)
            settlement.amount_paid += take
            done = settlement.amount_paid >= settlement.agreed_amount
            if done:
                settlement.status = SettlementStatus.COMPLETED
                settlement.ended_on = paid_on
                completed.append((settlement, paid_on))
            results.append(SettlementPayment(txn_no, loan_id, amount, settlement.id, take, done))
    if not any(r.settlement_id for r in results):
        return results
    with acting_as(session, actor):
        session.flush()
        for settlement, paid_on in completed:
            case = settlement.case
            if case.status not in OPEN_STATUSES:
                continue
            forgiven = settlement.agreed_amount < settlement.owed_amount
            _close_case(
                session,
                case,
                CaseStatus.SETTLED if forgiven else CaseStatus.PAID,
                actor=actor,
                on=paid_on,
                reason=f"{_what(settlement)} #{settlement.id} paid in full",
            )
    return results


# --- the daily tick -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementResolveResult:
    as_of: date
    broken: int = 0
    lapsed: int = 0
    cancelled: int = 0
    returned_to_collection: int = 0

    def text(self) -> str:
        return (
            f"settlements on {self.as_of.isoformat()}: broken {self.broken}, lapsed proposals "
            f"{self.lapsed}, cancelled on closed cases {self.cancelled}; "
            f"{self.returned_to_collection} cases back in collection"
        )


def resolve_due_settlements(
    session: Session, as_of: date, actor: str = SETTLEMENTS_ACTOR
) -> SettlementResolveResult:
    """Break every active settlement with an instalment unpaid past its date plus the grace
    days; lapse every proposal still undecided after its first payment date; cancel the open
    settlements of cases closed meanwhile. Ended on ``as_of``; a ``promised`` case whose
    settlement broke, with no promise pending, goes back to ``in_collection``."""
    session.flush()
    rows = session.execute(
        select(Settlement, CollectionCase)
        .join(CollectionCase, CollectionCase.id == Settlement.case_id)
        .where(Settlement.status.in_(OPEN_SETTLEMENT_STATUSES))
        .order_by(Settlement.id)
    ).all()
    broken = lapsed = cancelled = returned = 0
    with acting_as(session, actor):
        for settlement, case in rows:
            if case.status not in OPEN_STATUSES:
                why = f"the case is {CaseStatus(case.status).value}"
                _end(session, settlement, SettlementStatus.CANCELLED, on=as_of, by=actor, why=why)
                cancelled += 1
            elif settlement.status is SettlementStatus.PROPOSED:
                first_due = _schedule(settlement)[0][0]
                if first_due < as_of:
                    why = f"not decided before its first payment date {first_due.isoformat()}"
                    _end(
                        session, settlement, SettlementStatus.CANCELLED, on=as_of, by=actor, why=why
                    )
                    lapsed += 1
            elif (missed := missed_instalment(settlement, as_of)) is not None:
                number, due_on, due_so_far = missed
                paid = Decimal(settlement.amount_paid).quantize(CENT)
                why = (
                    f"instalment {number} due on {due_on.isoformat()} not paid: "
                    f"{paid} paid of {due_so_far} due by then"
                )
                was_promised = case.status is CaseStatus.PROMISED
                _end(session, settlement, SettlementStatus.BROKEN, on=as_of, by=actor, why=why)
                broken += 1
                if was_promised and case.status is CaseStatus.IN_COLLECTION:
                    returned += 1
    return SettlementResolveResult(as_of, broken, lapsed, cancelled, returned)


def _end(
    session: Session,
    settlement: Settlement,
    status: SettlementStatus,
    *,
    on: date,
    by: str,
    why: str,
) -> None:
    """End an open settlement as ``status``; an active one that leaves its case ``promised``
    with no promise pending sends the case back to collection."""
    was_active = settlement.status is SettlementStatus.ACTIVE
    settlement.status = status
    settlement.ended_on = on
    _add_note(settlement, by, f"{status.value}: {why}")
    session.flush()
    case = settlement.case
    if was_active and case.status is CaseStatus.PROMISED and not _promise_pending(session, case):
        change_status(
            session,
            case,
            CaseStatus.IN_COLLECTION,
            actor=by,
            reason=f"{_what(settlement)} #{settlement.id} {status.value}",
            on=on,
        )


def _promise_pending(session: Session, case: CollectionCase) -> bool:
    return (
        session.scalar(
            select(PromiseToPay.id)
            .where(PromiseToPay.case_id == case.id, PromiseToPay.status == PromiseStatus.PENDING)
            .limit(1)
        )
        is not None
    )


# --- closing paid cases -------------------------------------------------------------------------


def close_paid_cases(session: Session, on: date, actor: str = SETTLEMENTS_ACTOR) -> int:
    """Close every open case with nothing left to pay (overdue amount and outstanding balance
    both zero): ``paid`` and then ``closed`` on ``on``, its pending promises and open
    settlements cancelled. Returns how many cases were closed.

    The cases are found by one query; each moves through :func:`casedb.lifecycle.change_status`
    (its event and audit entries). Called by the daily tick, before
    :func:`resolve_due_settlements`.
    """
    session.flush()
    ids = list(
        session.scalars(
            select(CollectionCase.id)
            .where(
                CollectionCase.status.in_(OPEN_STATUSES),
                CollectionCase.overdue_principal <= 0,
                CollectionCase.overdue_interest <= 0,
                CollectionCase.overdue_fees <= 0,
                or_(
                    CollectionCase.outstanding_balance.is_(None),
                    CollectionCase.outstanding_balance <= 0,
                ),
            )
            .order_by(CollectionCase.id)
        )
    )
    with acting_as(session, actor):
        for start in range(0, len(ids), CHUNK):
            cases = session.scalars(
                select(CollectionCase)
                .where(key_in(session, CollectionCase.id, ids[start : start + CHUNK]))
                .order_by(CollectionCase.id)
            )
            for case in cases:
                _close_case(
                    session, case, CaseStatus.PAID, actor=actor, on=on, reason="nothing left to pay"
                )
    return len(ids)


def _close_case(
    session: Session,
    case: CollectionCase,
    via: CaseStatus,
    *,
    actor: str,
    on: date,
    reason: str,
) -> None:
    """``via`` (paid or settled) and then closed; what was still open on the case ends."""
    change_status(session, case, via, actor=actor, reason=reason, on=on)
    why = f"the case was {via.value}"
    for promise in session.scalars(
        select(PromiseToPay).where(
            PromiseToPay.case_id == case.id, PromiseToPay.status == PromiseStatus.PENDING
        )
    ):
        promise.status = PromiseStatus.CANCELLED
        promise.resolved_on = on
    for settlement in session.scalars(
        select(Settlement).where(
            Settlement.case_id == case.id, Settlement.status.in_(OPEN_SETTLEMENT_STATUSES)
        )
    ):
        settlement.status = SettlementStatus.CANCELLED
        settlement.ended_on = on
        _add_note(settlement, actor, f"cancelled: {why}")
    change_status(
        session, case, CaseStatus.CLOSED, actor=actor, reason=f"{reason}; closed {via.value}", on=on
    )


# --- the acting user ----------------------------------------------------------------------------


@contextmanager
def acting_as(session: Session, actor: str) -> Iterator[None]:
    """Name ``actor`` in the audit trail for the flushes inside, then restore who it was."""
    previous = session.info.get("actor")
    session.info["actor"] = actor
    try:
        yield
    finally:
        if previous is None:
            session.info.pop("actor", None)
        else:
            session.info["actor"] = previous


def settlements_of(session: Session, case_id: int) -> list[Settlement]:
    """A case's settlements, newest first."""
    return list(
        session.scalars(
            select(Settlement).where(Settlement.case_id == case_id).order_by(Settlement.id.desc())
        )
    )


def schedule_of(settlement: Settlement) -> list[dict[str, Any]]:
    """Each instalment with its number, date, amount and how much of it is paid so far
    (payments fill instalments in date order)."""
    left = settlement.amount_paid or ZERO
    rows = []
    for number, (due_on, amount) in enumerate(_schedule(settlement), 1):
        paid = min(left, amount)
        left -= paid
        rows.append({"number": number, "due_on": due_on, "amount": amount, "paid": paid})
    return rows


def settlement_record(settlement: Settlement) -> dict[str, Any]:
    """A settlement as JSON-able values (the console's API answer, events)."""
    return {
        "id": settlement.id,
        "case_id": settlement.case_id,
        "kind": SettlementKind(settlement.kind).value,
        "status": SettlementStatus(settlement.status).value,
        "owed_amount": str(Decimal(settlement.owed_amount).quantize(CENT)),
        "agreed_amount": str(Decimal(settlement.agreed_amount).quantize(CENT)),
        "discount_percent": str(Decimal(settlement.discount_percent).quantize(CENT)),
        "amount_paid": str(Decimal(settlement.amount_paid or 0).quantize(CENT)),
        "instalments": [dict(item) for item in settlement.instalments or []],
        "proposed_by": settlement.proposed_by,
        "approved_by": settlement.approved_by,
        "approved_at": settlement.approved_at.isoformat() if settlement.approved_at else None,
        "ended_on": settlement.ended_on.isoformat() if settlement.ended_on else None,
        "note": settlement.decided_note,
    }
