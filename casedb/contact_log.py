"""Logging a contact with a case: the attempt, an optional promise to pay, and their effects.

Saving updates the case at once: a first contact moves a new case into collection, a promise
moves it to promised, and the rules service is told through the outbox (contact logged,
promise made) in the same transaction. The compliance gate that must pass *before* an outbound
contact is placed belongs to the compliance work; this records what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.case_tasks import complete_tasks_for_contact
from casedb.lifecycle import change_status
from casedb.models import (
    CaseStatus,
    Channel,
    CollectionCase,
    ContactAttempt,
    ContactPoint,
    Direction,
    EventKind,
    Outcome,
    Party,
    PromiseToPay,
)
from casedb.outbox import emit
from casedb.promises import PromiseRefused, validate_promise


class ContactRejected(ValueError):  # noqa: N818  (reads as the domain says it)
    """The contact cannot be logged as given; the message says what to fix."""


@dataclass(frozen=True)
class PromiseTerms:
    amount: Decimal
    promised_for: date


def log_contact(
    session: Session,
    case: CollectionCase,
    *,
    actor: str,
    channel: Channel,
    outcome: Outcome,
    started_at: datetime,
    party: Party = Party.DEBTOR,
    direction: Direction = Direction.OUTBOUND,
    duration_seconds: int = 0,
    notes: str = "",
    collector_id: int | None = None,
    contact_point_id: int | None = None,
    promise: PromiseTerms | None = None,
) -> ContactAttempt:
    """Record the contact (and promise) on ``case``; raises ``ContactRejected`` on bad input."""
    if started_at.tzinfo is None:
        raise ContactRejected("give the time of the contact with its time zone")
    if started_at > datetime.now(UTC):
        raise ContactRejected("a contact cannot be logged in the future")
    if duration_seconds < 0:
        raise ContactRejected("duration cannot be negative")
    if promise is not None:
        if outcome is not Outcome.PROMISE_TO_PAY:
            raise ContactRejected("a promise to pay needs the outcome 'ptp'")
        if party is not Party.DEBTOR:
            raise ContactRejected("only the debtor can promise to pay")
        if promise.amount <= 0:
            raise ContactRejected("the promised amount must be positive")
        if promise.promised_for < started_at.date():
            raise ContactRejected("the promised date is before the contact")
        try:
            validate_promise(session, case, promise.amount, promise.promised_for)
        except PromiseRefused as refused:
            raise ContactRejected(str(refused)) from refused
    elif outcome is Outcome.PROMISE_TO_PAY:
        raise ContactRejected("outcome 'ptp' needs the promised amount and date")
    if contact_point_id is not None:
        owner = session.scalar(
            select(ContactPoint.customer_id).where(ContactPoint.id == contact_point_id)
        )
        if owner != case.customer_id:
            raise ContactRejected("the number called is not one of the customer's")
    session.info["actor"] = actor
    attempt = ContactAttempt(
        attempt_no=f"CA-{uuid4().hex[:16]}",
        case_id=case.id,
        customer_id=case.customer_id,
        collector_id=collector_id,
        contact_point_id=contact_point_id,
        channel=channel,
        party=party,
        direction=direction,
        started_at=started_at,
        local_timezone=case.customer.timezone,
        duration_seconds=duration_seconds,
        outcome=outcome,
        notes=notes or None,
    )
    session.add(attempt)
    session.flush()
    ids = {"case_id": case.id, "customer_id": case.customer_id, "loan_id": case.loan_id}
    emit(
        session,
        EventKind.CONTACT_LOGGED,
        **ids,
        payload={
            "attempt_no": attempt.attempt_no,
            "channel": channel.value,
            "party": party.value,
            "outcome": outcome.value,
            "started_at": started_at.astimezone(UTC).isoformat(),
        },
        actor=actor,
    )
    complete_tasks_for_contact(session, attempt, actor)
    if case.status is CaseStatus.NEW:
        change_status(session, case, CaseStatus.IN_COLLECTION, actor=actor, reason="first contact")
    if promise is not None:
        ptp = PromiseToPay(
            promise_no=f"PTP-{uuid4().hex[:16]}",
            case_id=case.id,
            contact_attempt_id=attempt.id,
            collector_id=collector_id,
            amount=promise.amount,
            promised_for=promise.promised_for,
        )
        session.add(ptp)
        session.flush()
        emit(
            session,
            EventKind.PROMISE_MADE,
            **ids,
            payload={
                "promise_no": ptp.promise_no,
                "amount": str(promise.amount),
                "promised_for": promise.promised_for.isoformat(),
            },
            actor=actor,
        )
        if case.status is not CaseStatus.PROMISED:
            change_status(session, case, CaseStatus.PROMISED, actor=actor, reason=ptp.promise_no)
    return attempt
