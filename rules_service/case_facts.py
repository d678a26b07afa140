"""The catalogue facts of cases, read from the case database as of the business date.

One code path for one case (the outbox relay) and for thousands (re-evaluation): the facts of a
batch of cases are read with one query per source table (installments, statements, payments,
bureau snapshots, contacts, promises) and put together in Python, so a chunk of 2,000 cases
costs nine queries, not 18,000.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, func, select
from sqlalchemy.orm import Session

from casedb.delinquency import business_date
from casedb.importing.writer import key_in
from casedb.models import (
    CasePropensity,
    CaseStatus,
    CollectionCase,
    ContactAttempt,
    CreditSnapshot,
    Customer,
    Installment,
    Loan,
    MonthlyStatement,
    Party,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES
from casedb.models.credit import RATING_SCALE
from rules_service.facts import RISK_LEVELS, FactError, FactValue, normalise_facts

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


def _end_of(as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite returns aggregates of timestamps naive (in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _grouped(rows: Iterable[Any]) -> dict[int, list[Any]]:
    """Rows grouped by their first column, in the order the query gave them."""
    groups: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        groups[row[0]].append(row)
    return groups


def _payment_ratio(amounts: list[Decimal]) -> float | None:
    """Last amount over the average of the earlier ones (oldest first), if there is a history."""
    if len(amounts) < 2:
        return None
    earlier = amounts[:-1]
    average = sum(earlier, Decimal(0)) / len(earlier)
    return float(amounts[-1] / average) if average > 0 else None


def _core_execute(session: Session) -> Callable[[Executable], list[Any]]:
    """Runs a query on the session's connection, its pending changes flushed first as
    ``Session.execute`` would, and returns all its rows at once: plain rows, without the ORM's
    per-row loading or a driver call per row (together a fifth of the reads' time for 2,000
    cases)."""
    if session.autoflush:
        session.flush()
    connection = session.connection()
    return lambda query: connection.execute(query).all()


class _Sources:
    """Everything the facts of a batch of cases read, one query per table."""

    def __init__(self, session: Session, cases: list[Any], as_of: date) -> None:
        self.as_of = as_of
        execute = _core_execute(session)
        end = _end_of(as_of)
        loan_ids = sorted({case.loan_id for case in cases})
        customer_ids = sorted({case.customer_id for case in cases})
        case_ids = [case.id for case in cases]
        # Installments due by the as-of date, latest first: consecutive missed ones count back.
        self.installments = _grouped(
            execute(
                select(
                    Installment.loan_id,
                    Installment.principal_due + Installment.interest_due + Installment.fee_due,
                    Installment.amount_paid,
                )
                .where(key_in(session, Installment.loan_id, loan_ids), Installment.due_on <= as_of)
                .order_by(Installment.loan_id, Installment.seq.desc())
            )
        )
        self.statements = _grouped(
            execute(
                select(
                    MonthlyStatement.loan_id,
                    MonthlyStatement.months_past_due,
                    MonthlyStatement.amount_paid,
                )
                .where(
                    key_in(session, MonthlyStatement.loan_id, loan_ids),
                    MonthlyStatement.period <= as_of,
                )
                .order_by(MonthlyStatement.loan_id, MonthlyStatement.period)
            )
        )
        self.payments = _grouped(
            execute(
                select(
                    RepaymentTransaction.loan_id,
                    RepaymentTransaction.amount,
                    RepaymentTransaction.paid_at,
                )
                .where(
                    key_in(session, RepaymentTransaction.loan_id, loan_ids),
                    RepaymentTransaction.paid_at < end,
                )
                .order_by(
                    RepaymentTransaction.loan_id,
                    RepaymentTransaction.paid_at,
                    RepaymentTransaction.id,
                )
            )
        )
        self.snapshots = _grouped(
            execute(
                select(
                    CreditSnapshot.customer_id,
                    CreditSnapshot.rating,
                    CreditSnapshot.score,
                    CreditSnapshot.delinquent_accounts_elsewhere,
                )
                .where(key_in(session, CreditSnapshot.customer_id, customer_ids))
                .order_by(
                    CreditSnapshot.customer_id,
                    CreditSnapshot.reported_on.desc(),
                    CreditSnapshot.id.desc(),
                )
            )
        )
        window_start = datetime.combine(as_of - timedelta(days=30), time.min, tzinfo=UTC)
        self.contacts = {
            row.case_id: row
            for row in execute(
                select(
                    ContactAttempt.case_id,
                    func.max(ContactAttempt.started_at).label("last"),
                    func.count()
                    .filter(
                        ContactAttempt.party == Party.DEBTOR,
                        ContactAttempt.outcome.in_(RIGHT_PARTY_OUTCOMES),
                        ContactAttempt.started_at >= window_start,
                    )
                    .label("right_party"),
                )
                .where(
                    key_in(session, ContactAttempt.case_id, case_ids),
                    ContactAttempt.started_at < end,
                )
                .group_by(ContactAttempt.case_id)
            )
        }
        # The latest repayment-propensity score (rules_service.propensity), where scored.
        self.propensity = dict(
            execute(
                select(CasePropensity.case_id, CasePropensity.score).where(
                    key_in(session, CasePropensity.case_id, case_ids)
                )
            )
        )
        self.promises: dict[int, dict[PromiseStatus, int]] = defaultdict(dict)
        for case_id, status, count in execute(
            select(PromiseToPay.case_id, PromiseToPay.status, func.count())
            .where(key_in(session, PromiseToPay.case_id, case_ids))
            .group_by(PromiseToPay.case_id, PromiseToPay.status)
        ):
            self.promises[case_id][status] = count

    def consecutive_missed(self, loan_id: int) -> int | None:
        """Unpaid installments in a row, counted back from the latest one due; for card accounts
        without a schedule, the months past due of the latest statement."""
        installments = self.installments.get(loan_id)
        if installments:
            missed = 0
            for _, amount_due, amount_paid in installments:
                if amount_paid >= amount_due:
                    break
                missed += 1
            return missed
        statements = self.statements.get(loan_id)
        return statements[-1].months_past_due if statements else None

    def payment_history(self, loan_id: int) -> tuple[float | None, int | None]:
        """The payment ratio against the customer's own history and the days since the last
        payment, from repayment transactions, else from the amounts paid on statements."""
        payments = self.payments.get(loan_id)
        if payments:
            last_paid = _utc(payments[-1].paid_at).date()
            ratio = _payment_ratio([p.amount for p in payments])
            return ratio, (self.as_of - last_paid).days
        statements = self.statements.get(loan_id, [])
        return _payment_ratio([s.amount_paid for s in statements]), None

    def credit(self, customer_id: int) -> dict[str, int | None]:
        snapshots = self.snapshots.get(customer_id, [])
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

    def contact_facts(self, case_id: int, opened_on: date) -> dict[str, int]:
        row = self.contacts.get(case_id)
        since = _utc(row.last).date() if row is not None else opened_on
        return {
            # Never contacted counts from the day the case opened: silence since then.
            "days_since_last_contact": (self.as_of - since).days,
            "right_party_contacts_30d": row.right_party if row is not None else 0,
        }

    def promise_facts(self, case_id: int, status: CaseStatus) -> dict[str, object]:
        counts = self.promises.get(case_id, {})
        return {
            "broken_promises": counts.get(PromiseStatus.BROKEN, 0),
            # A promise or an agreed settlement / payment plan (both keep the case promised).
            "promise_pending": counts.get(PromiseStatus.PENDING, 0) > 0
            or status == CaseStatus.PROMISED,
        }


_CASE_COLUMNS = (
    CollectionCase.id,
    CollectionCase.case_no,
    CollectionCase.customer_id,
    CollectionCase.loan_id,
    CollectionCase.dpd,
    CollectionCase.bucket,
    CollectionCase.overdue_principal,
    CollectionCase.overdue_interest,
    CollectionCase.overdue_fees,
    CollectionCase.outstanding_balance,
    CollectionCase.status,
    CollectionCase.on_hold,
    CollectionCase.opened_on,
    CollectionCase.risk_level,
    Customer.region,
    Customer.risk_level.label("customer_risk_level"),
    Customer.birth_date,
    Customer.age,
    Loan.principal,
    Loan.product,
)


def facts_of_cases(
    session: Session, case_ids: Collection[int], as_of: date | None = None
) -> dict[int, dict[str, FactValue | None] | FactError]:
    """The catalogue facts of each of ``case_ids`` as of ``as_of`` (the business date), typed.

    A case whose data the catalogue refuses (for example a risk level it does not know) maps to
    the :class:`FactError` saying why; unknown case ids are left out.
    """
    if not case_ids:
        return {}
    as_of = as_of or business_date(session)
    cases = _core_execute(session)(
        select(*_CASE_COLUMNS)
        .join(Customer, Customer.id == CollectionCase.customer_id)
        .join(Loan, Loan.id == CollectionCase.loan_id)
        .where(key_in(session, CollectionCase.id, sorted(case_ids)))
        .order_by(CollectionCase.id)
    )
    sources = _Sources(session, cases, as_of)
    facts: dict[int, dict[str, FactValue | None] | FactError] = {}
    for case in cases:
        ratio, days_since_payment = sources.payment_history(case.loan_id)
        raw: dict[str, object] = {
            "dpd": case.dpd,
            "bucket": case.bucket,
            "overdue_amount": case.overdue_principal + case.overdue_interest + case.overdue_fees,
            "outstanding_balance": case.outstanding_balance,
            "principal": case.principal,
            "product": case.product,
            "region": case.region,
            "risk_level": _risk_level(case.risk_level or case.customer_risk_level),
            "customer_age": _age(case.birth_date, case.age, as_of),
            "status": case.status,
            "on_hold": case.on_hold,
            "opened_on": case.opened_on,
            "case_age_days": (as_of - case.opened_on).days,
            "consecutive_missed_installments": sources.consecutive_missed(case.loan_id),
            "payment_ratio_vs_history": ratio,
            "days_since_last_payment": days_since_payment,
            "ab_bucket": ab_bucket(case.case_no),
            "repayment_propensity": sources.propensity.get(case.id),
            **sources.promise_facts(case.id, case.status),
            **sources.credit(case.customer_id),
            **sources.contact_facts(case.id, case.opened_on),
        }
        try:
            facts[case.id] = normalise_facts(raw)
        except FactError as error:
            facts[case.id] = error
    return facts


def case_facts(
    session: Session, case_id: int, as_of: date | None = None
) -> dict[str, FactValue | None]:
    """Every catalogue fact of case ``case_id``, typed, as of ``as_of`` (the business date).

    Raises ``LookupError`` for an unknown case and ``FactError`` for data the catalogue refuses
    (for example a risk level it does not know).
    """
    found = facts_of_cases(session, [case_id], as_of)
    if case_id not in found:
        raise LookupError(f"no collection case with id {case_id}")
    facts = found[case_id]
    if isinstance(facts, FactError):
        raise facts
    return facts
