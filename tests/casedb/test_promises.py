"""Promises to pay become kept, partly kept or broken by themselves: payments are matched to them
as they are imported, and the daily tick settles those whose date plus grace has passed.
Time is injected through the stored business date and ``as_of``; nothing sleeps."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

import config
from casedb.contact_log import ContactRejected, PromiseTerms, log_contact
from casedb.delinquency import set_business_date
from casedb.lifecycle import change_status
from casedb.models import (
    AuditEntry,
    CaseStatus,
    ChangeEvent,
    Channel,
    CollectionCase,
    Collector,
    EventKind,
    Outcome,
    PromiseStatus,
    PromiseToPay,
    ReevaluationRun,
    RepaymentTransaction,
)
from casedb.promises import match_payments, resolve_due_promises
from casedb.work_queue import my_queue
from rules_service.case_facts import case_facts
from rules_service.daily_tick import advance_to

TODAY = date(2025, 3, 1)
CALLED_AT = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)  # 10:30 in Beijing, on the business date
PAYMENTS_HEADER = ["txn_no", "loan_no", "amount", "paid_at"]


@pytest.fixture(autouse=True)
def _two_days_grace(monkeypatch):
    monkeypatch.setattr(config, "PROMISE_GRACE_DAYS", 2)
    monkeypatch.setattr(config, "BUSINESS_DATE", "")


@pytest.fixture
def case(portfolio, session):
    """K1 on loan L1, 1,200.50 overdue, with the business date at 2025-03-01."""
    set_business_date(session, TODAY)
    session.commit()
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def promise(session, case, amount: str, promised_for: date, called_at=CALLED_AT) -> PromiseToPay:
    attempt = log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=Outcome.PROMISE_TO_PAY,
        started_at=called_at,
        promise=PromiseTerms(Decimal(amount), promised_for),
    )
    session.commit()
    return session.scalar(select(PromiseToPay).where(PromiseToPay.contact_attempt_id == attempt.id))


def events(session, kind: EventKind) -> list[ChangeEvent]:
    return list(
        session.scalars(
            select(ChangeEvent).where(ChangeEvent.kind == kind).order_by(ChangeEvent.id)
        )
    )


def audit_actors(session, table: str) -> set[str]:
    rows = session.scalars(
        select(AuditEntry.actor).where(
            AuditEntry.table_name == table, AuditEntry.action == "update"
        )
    )
    return set(rows)


def reread(session, *objects) -> None:
    session.rollback()  # end the read transaction: see what imports committed
    for obj in objects:
        session.refresh(obj)


def test_a_full_payment_before_the_date_keeps_the_promise_at_once(case, session, run_import):
    ptp = promise(session, case, "600.00", date(2025, 3, 15))
    report = run_import("payments", [PAYMENTS_HEADER, ["T1", "L1", "600.00", "2025-03-10 10:00"]])
    assert report.ok, report.summary()
    reread(session, ptp, case)
    assert (ptp.status, ptp.amount_paid, ptp.resolved_on) == (
        PromiseStatus.KEPT,
        Decimal("600.00"),
        date(2025, 3, 10),
    )
    [kept] = events(session, EventKind.PROMISE_KEPT)
    assert kept.payload["promise_no"] == ptp.promise_no
    assert kept.payload["amount_paid"] == "600.00"
    assert kept.actor == "import:payments"
    assert case.status is CaseStatus.IN_COLLECTION, "no promise pending: the path goes on"
    assert len(events(session, EventKind.PAYMENT_POSTED)) == 1
    assert audit_actors(session, "promise_to_pay") >= {"import:payments"}, "audited"


def test_a_partial_payment_then_the_grace_passing_leaves_it_partly_kept(case, session, run_import):
    ptp = promise(session, case, "600.00", date(2025, 3, 15))
    run_import("payments", [PAYMENTS_HEADER, ["T1", "L1", "200.00", "2025-03-12 09:00"]])
    reread(session, ptp)
    assert (ptp.status, ptp.amount_paid) == (PromiseStatus.PENDING, Decimal("200.00"))

    on_last_day_of_grace = resolve_due_promises(session, date(2025, 3, 17))
    assert on_last_day_of_grace.resolved == 0
    result = resolve_due_promises(session, date(2025, 3, 18))
    session.commit()
    assert (result.partly_kept, result.kept, result.broken) == (1, 0, 0)
    session.refresh(ptp)
    assert (ptp.status, ptp.resolved_on) == (PromiseStatus.PARTLY_KEPT, date(2025, 3, 18))
    [event] = events(session, EventKind.PROMISE_KEPT)
    assert (event.payload["status"], event.payload["amount"], event.payload["amount_paid"]) == (
        "partly_kept",
        "600.00",
        "200.00",
    )


def test_a_promise_with_nothing_paid_is_broken_and_the_case_goes_back_to_collection(case, session):
    ptp = promise(session, case, "600.00", date(2025, 3, 15))
    before = case_facts(session, case.id, date(2025, 3, 18))
    assert (before["broken_promises"], before["promise_pending"]) == (0, True)
    assert case.status is CaseStatus.PROMISED

    result = resolve_due_promises(session, date(2025, 3, 18))
    session.commit()

    assert (result.broken, result.returned_to_collection) == (1, 1)
    session.refresh(ptp)
    assert (ptp.status, ptp.amount_paid, ptp.resolved_on) == (
        PromiseStatus.BROKEN,
        Decimal("0.00"),
        date(2025, 3, 18),
    )
    [broken] = events(session, EventKind.PROMISE_BROKEN)
    assert (broken.case_id, broken.loan_id) == (case.id, case.loan_id)
    assert broken.payload["amount"] == "600.00" and broken.payload["amount_paid"] == "0.00"
    assert case.status is CaseStatus.IN_COLLECTION
    moved = events(session, EventKind.CASE_UPDATED)[-1]
    assert (moved.payload["old_status"], moved.payload["status"]) == ("promised", "in_collection")
    after = case_facts(session, case.id, date(2025, 3, 18))
    assert (after["broken_promises"], after["promise_pending"]) == (1, False)
    assert resolve_due_promises(session, date(2025, 3, 19)).resolved == 0, "settled once"


def test_a_payment_that_matches_no_promise_stays_on_the_loan(case, session, run_import):
    report = run_import(
        "payments",
        [
            PAYMENTS_HEADER,
            ["T1", "L1", "300.00", "2025-03-02 10:00"],
            ["T2", "L2", "50", "2025-03-02"],
        ],
    )
    assert report.ok, report.summary()
    session.rollback()
    paid = session.scalars(
        select(RepaymentTransaction.txn_no).order_by(RepaymentTransaction.txn_no)
    )
    assert list(paid) == ["T1", "T2"]
    assert len(events(session, EventKind.PAYMENT_POSTED)) == 1, "L1's case is told"
    [result] = match_payments(
        session,
        case.loan_id,
        [{"txn_no": "T3", "amount": Decimal("10"), "paid_at": CALLED_AT}],
    )
    assert (result.matched, result.unmatched) == (False, Decimal("10"))
    assert "stays on the loan" in result.text()


def test_two_promises_are_filled_oldest_first(case, session):
    later = promise(session, case, "400.00", date(2025, 3, 20))
    earlier = promise(session, case, "300.00", date(2025, 3, 10))
    [result] = match_payments(
        session,
        case.loan_id,
        [
            {
                "txn_no": "T1",
                "amount": Decimal("500.00"),
                "paid_at": datetime(2025, 3, 8, tzinfo=UTC),
            }
        ],
    )
    session.commit()
    assert result.applied == {
        earlier.promise_no: Decimal("300.00"),
        later.promise_no: Decimal("200.00"),
    }
    assert result.kept == (earlier.promise_no,)
    assert (earlier.status, later.status) == (PromiseStatus.KEPT, PromiseStatus.PENDING)
    assert later.amount_paid == Decimal("200.00")
    session.refresh(case)
    assert case.status is CaseStatus.PROMISED, "one promise is still pending"


def test_a_payment_after_the_date_and_grace_does_not_count(case, session):
    ptp = promise(session, case, "300.00", date(2025, 3, 10))
    late = datetime(2025, 3, 13, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a day after the grace
    [result] = match_payments(
        session, case.loan_id, [{"txn_no": "T1", "amount": Decimal("300"), "paid_at": late}]
    )
    session.commit()
    assert not result.matched
    assert (ptp.status, ptp.amount_paid) == (PromiseStatus.PENDING, Decimal("0.00"))
    assert resolve_due_promises(session, date(2025, 3, 13)).broken == 1


@pytest.mark.parametrize(
    ("amount", "promised_for", "business_date", "reason"),
    [
        ("100.00", date(2025, 3, 3), date(2025, 3, 5), "in the past"),
        ("1200.51", date(2025, 3, 10), TODAY, "more than is owed"),
    ],
)
def test_a_promise_in_the_past_or_for_more_than_is_owed_is_refused_with_the_reason(
    case, session, amount, promised_for, business_date, reason
):
    set_business_date(session, business_date)
    session.commit()
    with pytest.raises(ContactRejected, match=reason):
        promise(session, case, amount, promised_for)
    session.rollback()
    assert session.scalar(select(PromiseToPay)) is None


def test_a_promise_on_a_closed_case_is_refused_with_the_reason(case, session):
    change_status(session, case, CaseStatus.CLOSED, actor="supervisor1", on=TODAY)
    session.commit()
    with pytest.raises(ContactRejected, match="closed case takes no promise"):
        promise(session, case, "100.00", date(2025, 3, 10))
    session.rollback()
    assert session.scalar(select(PromiseToPay)) is None


def test_the_daily_tick_settles_promises_before_asking_for_re_evaluation(case, session):
    kept = promise(session, case, "300.00", date(2025, 3, 5))
    broken = promise(session, case, "400.00", date(2025, 3, 10))
    match_payments(
        session,
        case.loan_id,
        [{"txn_no": "T1", "amount": Decimal("300"), "paid_at": datetime(2025, 3, 4, tzinfo=UTC)}],
    )
    session.commit()
    assert case.status is CaseStatus.PROMISED

    tick = advance_to(session, date(2025, 3, 12))
    session.commit()
    assert broken.status is PromiseStatus.PENDING, "3-10 plus two days is not past on 3-12"

    tick = advance_to(session, date(2025, 3, 13))
    session.commit()
    assert (kept.status, broken.status) == (PromiseStatus.KEPT, PromiseStatus.BROKEN)
    assert case.status is CaseStatus.IN_COLLECTION
    run = session.get(ReevaluationRun, tick.run_id)
    assert run is not None
    broken_event = events(session, EventKind.PROMISE_BROKEN)[-1]
    assert broken_event.actor == "daily-tick"
    assert "daily-tick" in audit_actors(session, "promise_to_pay")


def test_a_promise_broken_by_the_tick_puts_the_case_on_top_of_the_collectors_queue(
    case, session, run_import
):
    run_import("collectors", [["collector_code", "name", "username"], ["CL1", "甲", "collector1"]])
    run_import(
        "loans",
        [["loan_no", "customer_no", "product", "principal"], ["L3", "C2", "cash_loan", "800"]],
    )
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "collector_code"],
            ["K1", "L1", "2025-01-01", "45", "1200.50", "CL1"],
            ["K3", "L3", "2025-01-01", "95", "800", "CL1"],
        ],
    )
    session.rollback()  # a fresh transaction that sees the imports
    session.execute(update(CollectionCase).values(priority_score=50))
    session.commit()
    collector_id = session.scalar(select(Collector.id))
    assert [i.case_no for i in my_queue(session, collector_id)] == ["K3", "K1"], "DPD decides"

    promise(session, case, "600.00", date(2025, 3, 15))
    advance_to(session, date(2025, 3, 18))
    session.commit()

    queue = my_queue(session, collector_id)
    assert [(i.case_no, i.broken_promise) for i in queue] == [("K1", True), ("K3", False)]
