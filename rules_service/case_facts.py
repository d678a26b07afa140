"""The catalogue facts of one case, read from the case database as of the business date."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.delinquency import business_date
from casedb.models import (
    CollectionCase,
    ContactAttempt,
    CreditSnapshot,
    Installment,
    MonthlyStatement,
    Party,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES
from casedb.models.credit import RATING_SCALE
from rules_service.facts import RISK_LEVELS, FactValue, normalise_facts

# How risk levels are written in imported data, mapped onto the catalogue's levels.
_RISK_ALIASES = {"低": "LOW", "中": "MEDIUM", "高": "HIGH", "MID": "MEDIUM"}


def ab_bucket(case_no: str) -> int:
    """The champion/challenger bucket 0-99 of a case: random-looking, but the same every time."""
    return int.from_bytes(hashlib.sha256(case_no.encode("utf-8")).digest()[:8], "big") % 100


def _risk_level(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    level = raw.strip().upper()
    level = _RISK_ALIASES.get(level, level)
    return level if level in RISK_LEVELS else raw  # an unknown level is refused by the catalogue


def _age(birth_date: date | None, recorded: int | None, as_of: date) -> int | None:
    if recorded is not None or birth_date is None:
        return recorded
    had_birthday = (as_of.month, as_of.day) >= (birth_date.month, birth_date.day)
    return as_of.year - birth_date.year - (0 if had_birthday else 1)


def _consecutive_missed(session: Session, case: CollectionCase, as_of: date) -> int | None:
    """Unpaid installments in a row, counted back from the latest one due; for card accounts
    without a schedule, the months past due of the latest statement."""
    installments = session.scalars(
        select(Installment)
        .where(Installment.loan_id == case.loan_id, Installment.due_on <= as_of)
        .order_by(Installment.seq.desc())
    ).all()
    if installments:
        missed = 0
        for installment in installments:
            if installment.amount_paid >= installment.amount_due:
                break
            missed += 1
        return missed
    return session.scalars(
        select(MonthlyStatement.months_past_due)
        .where(MonthlyStatement.loan_id == case.loan_id, MonthlyStatement.period <= as_of)
        .order_by(MonthlyStatement.period.desc())
        .limit(1)
    ).first()


def _payment_ratio(amounts: list[Decimal]) -> float | None:
    """Last amount over the average of the earlier ones (oldest first), if there is a history."""
    if len(amounts) < 2:
        return None
    earlier = amounts[:-1]
    average = sum(earlier, Decimal(0)) / len(earlier)
    return float(amounts[-1] / average) if average > 0 else None


def _payment_history(
    session: Session, case: CollectionCase, as_of: date
) -> tuple[float | None, int | None]:
    """The payment ratio against the customer's own history and the days since the last payment,
    from repayment transactions, else from the amounts paid on monthly statements."""
    end = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    payments = session.execute(
        select(RepaymentTransaction.amount, RepaymentTransaction.paid_at)
        .where(RepaymentTransaction.loan_id == case.loan_id, RepaymentTransaction.paid_at < end)
        .order_by(RepaymentTransaction.paid_at)
    ).all()
    if payments:
        last_paid = payments[-1].paid_at.astimezone(UTC).date()
        return _payment_ratio([p.amount for p in payments]), (as_of - last_paid).days
    statements = session.scalars(
        select(MonthlyStatement.amount_paid)
        .where(MonthlyStatement.loan_id == case.loan_id, MonthlyStatement.period <= as_of)
        .order_by(MonthlyStatement.period)
    ).all()
    return _payment_ratio(list(statements)), None


def _credit(session: Session, customer_id: int) -> dict[str, int | None]:
    snapshots = session.scalars(
        select(CreditSnapshot)
        .where(CreditSnapshot.customer_id == customer_id)
        .order_by(CreditSnapshot.reported_on.desc(), CreditSnapshot.id.desc())
    ).all()
    ratings = [s.rating for s in snapshots if s.rating in RATING_SCALE]
    scores = [s.score for s in snapshots if s.score is not None]
    elsewhere = [
        s.delinquent_accounts_elsewhere
        for s in snapshots
        if s.delinquent_accounts_elsewhere is not None
    ]
    return {
        "rating_change": (
            RATING_SCALE.index(ratings[0]) - RATING_SCALE.index(ratings[1])
            if len(ratings) >= 2
            else None
        ),
        "credit_score": scores[0] if scores else None,
        "delinquent_accounts_elsewhere": elsewhere[0] if elsewhere else None,
    }


def _contacts(session: Session, case: CollectionCase, as_of: date) -> dict[str, int]:
    end = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    last = session.scalar(
        select(func.max(ContactAttempt.started_at)).where(
            ContactAttempt.case_id == case.id, ContactAttempt.started_at < end
        )
    )
    if last is not None and last.tzinfo is None:  # SQLite returns the aggregate naive, in UTC
        last = last.replace(tzinfo=UTC)
    since = last.astimezone(UTC).date() if last is not None else case.opened_on
    window_start = datetime.combine(as_of - timedelta(days=30), time.min, tzinfo=UTC)
    right_party = session.scalar(
        select(func.count())
        .select_from(ContactAttempt)
        .where(
            ContactAttempt.case_id == case.id,
            ContactAttempt.party == Party.DEBTOR,
            ContactAttempt.outcome.in_(RIGHT_PARTY_OUTCOMES),
            ContactAttempt.started_at >= window_start,
            ContactAttempt.started_at < end,
        )
    )
    return {
        # Never contacted counts from the day the case opened: silence since then.
        "days_since_last_contact": (as_of - since).days,
        "right_party_contacts_30d": right_party or 0,
    }


def _promises(session: Session, case_id: int) -> dict[str, object]:
    counts = dict(
        session.execute(
            select(PromiseToPay.status, func.count())
            .where(PromiseToPay.case_id == case_id)
            .group_by(PromiseToPay.status)
        ).all()
    )
    return {
        "broken_promises": counts.get(PromiseStatus.BROKEN, 0),
        "promise_pending": counts.get(PromiseStatus.PENDING, 0) > 0,
    }


def case_facts(
    session: Session, case_id: int, as_of: date | None = None
) -> dict[str, FactValue | None]:
    """Every catalogue fact of case ``case_id``, typed, as of ``as_of`` (the business date).

    Raises ``LookupError`` for an unknown case and ``FactError`` for data the catalogue refuses
    (for example a risk level it does not know).
    """
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise LookupError(f"no collection case with id {case_id}")
    as_of = as_of or business_date(session)
    customer, loan = case.customer, case.loan
    ratio, days_since_payment = _payment_history(session, case, as_of)
    raw: dict[str, object] = {
        "dpd": case.dpd,
        "bucket": case.bucket,
        "overdue_amount": case.overdue_amount,
        "outstanding_balance": case.outstanding_balance,
        "principal": loan.principal,
        "product": loan.product,
        "region": customer.region,
        "risk_level": _risk_level(case.risk_level or customer.risk_level),
        "customer_age": _age(customer.birth_date, customer.age, as_of),
        "status": case.status,
        "on_hold": case.on_hold,
        "opened_on": case.opened_on,
        "case_age_days": (as_of - case.opened_on).days,
        "consecutive_missed_installments": _consecutive_missed(session, case, as_of),
        "payment_ratio_vs_history": ratio,
        "days_since_last_payment": days_since_payment,
        "ab_bucket": ab_bucket(case.case_no),
        **_promises(session, case.id),
        **_credit(session, case.customer_id),
        **_contacts(session, case, as_of),
    }
    return normalise_facts(raw)
