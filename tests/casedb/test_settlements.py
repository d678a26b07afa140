"""Settlements and payment plans: agreed within each role's discount limit (above it a supervisor
approves, never the proposer), paid down by payments until the case closes with settlement,
broken when an instalment is missed beyond the grace days; fully paid cases close by themselves.
Time is given (business dates, payment times); nothing reads the clock."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

import config
from casedb.contact_log import PromiseTerms, log_contact
from casedb.lifecycle import change_status
from casedb.models import (
    AuditEntry,
    CaseStatus,
    ChangeEvent,
    Channel,
    CollectionCase,
    EventKind,
    Outcome,
    PromiseStatus,
    PromiseToPay,
    Settlement,
    SettlementKind,
    SettlementStatus,
)
from casedb.settlements import (
    COLLECTOR,
    COLLECTOR_DISCOUNT_LIMIT_PERCENT,
    MAX_INSTALMENTS,
    SUPERVISOR,
    SUPERVISOR_DISCOUNT_LIMIT_PERCENT,
    OutsideAuthority,
    SettlementConflict,
    SettlementRefused,
    approve_settlement,
    authority_of,
    cancel_settlement,
    close_paid_cases,
    propose_payment_plan,
    propose_settlement,
    reject_settlement,
    resolve_due_settlements,
    settle_payments,
)
from console import roles
from rules_service.case_facts import case_facts

TODAY = date(2025, 3, 1)
PAYMENTS_HEADER = ["txn_no", "loan_no", "amount", "paid_at"]


@pytest.fixture(autouse=True)
def _two_days_grace(monkeypatch):
    monkeypatch.setattr(config, "PROMISE_GRACE_DAYS", 2)
    monkeypatch.setattr(config, "BUSINESS_DATE", "")


@pytest.fixture
def case(portfolio, session):
    """K1 on loan L1: 1,000.00 overdue, 1,000.00 outstanding, in collection."""
    session.execute(
        update(CollectionCase)
        .where(CollectionCase.case_no == "K1")
        .values(
            overdue_principal=Decimal("1000.00"),
            outstanding_balance=Decimal("1000.00"),
            status=CaseStatus.IN_COLLECTION,
        )
    )
    session.commit()
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def settle(session, case, amount: str, by="collector1", role=COLLECTOR, **extra) -> Settlement:
    found = propose_settlement(
        session, case, agreed_amount=Decimal(amount), by=by, role=role, on=TODAY, **extra
    )
    session.commit()
    return found


def plan(session, case, *instalments: tuple[str, str], by="collector1", role=COLLECTOR):
    found = propose_payment_plan(
        session,
        case,
        instalments=[(date.fromisoformat(d), Decimal(a)) for d, a in instalments],
        by=by,
        role=role,
        on=TODAY,
    )
    session.commit()
    return found


def pay(session, case, txn_no: str, amount: str, day: date, hour_utc: int = 2):
    paid_at = datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)
    [result] = settle_payments(
        session, case.loan_id, [{"txn_no": txn_no, "amount": Decimal(amount), "paid_at": paid_at}]
    )
    session.commit()
    return result


def status_changes(session, case) -> list[tuple[str, str]]:
    return [
        (e.payload["old_status"], e.payload["status"])
        for e in session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.kind == EventKind.CASE_UPDATED, ChangeEvent.case_id == case.id)
            .order_by(ChangeEvent.id)
        )
        if "status" in e.payload
    ]


def audit_of(session, settlement) -> list[tuple[str, str, dict]]:
    return [
        (entry.actor, entry.action, entry.after)
        for entry in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.table_name == "settlement", AuditEntry.row_id == str(settlement.id))
            .order_by(AuditEntry.id)
        )
    ]


# --- limits -------------------------------------------------------------------------------------


def test_the_roles_are_the_consoles_and_the_limits_rise_with_them():
    assert (COLLECTOR, SUPERVISOR) == (roles.COLLECTOR, roles.SUPERVISOR)
    assert COLLECTOR_DISCOUNT_LIMIT_PERCENT < SUPERVISOR_DISCOUNT_LIMIT_PERCENT
    assert authority_of({roles.COLLECTOR, roles.SUPERVISOR}) == SUPERVISOR
    assert authority_of({roles.ANALYST, roles.ADMIN}) is None


def test_a_collector_agrees_a_discount_within_their_limit_at_once(case, session):
    found = settle(session, case, "900.00", note="客户一次性结清")
    assert found.kind is SettlementKind.SETTLEMENT
    assert found.status is SettlementStatus.ACTIVE
    assert (found.owed_amount, found.agreed_amount, found.discount_percent) == (
        Decimal("1000.00"),
        Decimal("900.00"),
        Decimal("10.00"),
    )
    assert (found.proposed_by, found.approved_by) == ("collector1", "collector1")
    assert found.approved_at is not None
    assert "客户一次性结清" in found.decided_note and "within the 10% limit" in found.decided_note
    # One payment by 30 days after the proposal.
    assert found.instalments == [{"due_on": "2025-03-31", "amount": "900.00"}]
    assert case.status is CaseStatus.PROMISED, "an agreed settlement holds the case mid-promise"
    assert status_changes(session, case) == [("in_collection", "promised")]
    [(actor, action, after)] = audit_of(session, found)
    assert (actor, action, after["status"]) == ("collector1", "insert", "active")


def test_the_amount_owed_is_the_outstanding_balance_when_it_is_larger(case, session):
    case.outstanding_balance = Decimal("5000.00")
    session.commit()
    found = settle(session, case, "4600.00")
    assert (found.owed_amount, found.discount_percent, found.status) == (
        Decimal("5000.00"),
        Decimal("8.00"),
        SettlementStatus.ACTIVE,
    )


def test_above_the_collectors_limit_a_supervisor_approves_never_the_proposer(case, session):
    found = settle(session, case, "750.00")
    assert (found.status, found.discount_percent, found.approved_by) == (
        SettlementStatus.PROPOSED,
        Decimal("25.00"),
        None,
    )
    assert case.status is CaseStatus.IN_COLLECTION, "a proposal holds nothing yet"
    with pytest.raises(OutsideAuthority, match="someone else must approve"):
        approve_settlement(session, found, by="collector1", role=SUPERVISOR, on=TODAY)
    with pytest.raises(OutsideAuthority, match="beyond the 10% a Collector may approve"):
        approve_settlement(session, found, by="collector2", role=COLLECTOR, on=TODAY)
    with pytest.raises(OutsideAuthority, match="may not approve"):
        approve_settlement(session, found, by="analyst", role="Analyst", on=TODAY)
    session.rollback()

    approve_settlement(
        session, found, by="supervisor1", role=SUPERVISOR, on=TODAY, note="客户失业，同意"
    )
    session.commit()
    assert (found.status, found.approved_by) == (SettlementStatus.ACTIVE, "supervisor1")
    assert case.status is CaseStatus.PROMISED
    assert [(actor, after["status"]) for actor, _, after in audit_of(session, found)] == [
        ("collector1", "proposed"),
        ("supervisor1", "active"),
    ]
    with pytest.raises(SettlementConflict, match="only a proposed settlement"):
        approve_settlement(session, found, by="supervisor2", role=SUPERVISOR, on=TODAY)


def test_a_supervisors_own_proposal_within_their_limit_is_active_at_once(case, session):
    found = settle(session, case, "600.00", by="supervisor1", role=SUPERVISOR)
    assert (found.status, found.discount_percent, found.approved_by) == (
        SettlementStatus.ACTIVE,
        Decimal("40.00"),
        "supervisor1",
    )


def test_a_discount_beyond_the_supervisors_limit_is_refused_outright(case, session):
    for role in (COLLECTOR, SUPERVISOR):
        with pytest.raises(SettlementRefused, match="more than anyone may grant"):
            propose_settlement(
                session, case, agreed_amount=Decimal("599.99"), by="x", role=role, on=TODAY
            )
    assert session.scalars(select(Settlement)).all() == []


def test_a_discount_a_cent_above_the_limit_is_not_within_it(case, session):
    found = settle(session, case, "899.99")
    # 10.001% forgiven: shown rounded up, and waiting for a supervisor.
    assert (found.discount_percent, found.status) == (Decimal("10.01"), SettlementStatus.PROPOSED)


def test_a_rejection_says_why_and_frees_the_case_for_another_proposal(case, session):
    found = settle(session, case, "700.00")
    with pytest.raises(SettlementRefused, match="say why"):
        reject_settlement(session, found, by="supervisor1", role=SUPERVISOR, note=" ", on=TODAY)
    with pytest.raises(OutsideAuthority, match="someone else must reject"):
        reject_settlement(session, found, by="collector1", role=SUPERVISOR, note="x", on=TODAY)
    with pytest.raises(SettlementConflict, match=r"already has settlement #\d+, proposed"):
        settle(session, case, "950.00")
    session.rollback()
    reject_settlement(session, found, by="supervisor1", role=SUPERVISOR, note="折扣过大", on=TODAY)
    session.commit()
    assert (found.status, found.ended_on) == (SettlementStatus.REJECTED, TODAY)
    assert "rejected: 折扣过大" in found.decided_note
    assert settle(session, case, "950.00").status is SettlementStatus.ACTIVE


def test_an_agreed_settlement_can_be_cancelled_with_a_reason(case, session):
    found = settle(session, case, "950.00")
    with pytest.raises(OutsideAuthority):
        cancel_settlement(session, found, by="collector2", role="Auditor", note="x", on=TODAY)
    cancel_settlement(session, found, by="collector1", role=COLLECTOR, note="客户反悔", on=TODAY)
    session.commit()
    assert found.status is SettlementStatus.CANCELLED
    assert case.status is CaseStatus.IN_COLLECTION, "back in collection: nothing holds it"


# --- validation with reasons --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "extra", "reason"),
    [
        ("0", {}, "must be positive"),
        ("-5", {}, "must be positive"),
        ("100.005", {}, "more than two decimals"),
        ("abc", {}, "is not an amount"),
        ("1000.01", {}, r"more than is owed \(1000.00\)"),
        ("900", {"pay_by": date(2025, 2, 28)}, "before the date of the proposal"),
        ("900", {"note": "x" * 2001}, "longer than 2000 characters"),
        ("900", {"role": "Analyst"}, "may not propose settlements"),
    ],
)
def test_a_settlement_is_refused_with_the_reason(case, session, amount, extra, reason):
    arguments = {"agreed_amount": amount, "by": "collector1", "role": COLLECTOR, "on": TODAY}
    with pytest.raises(SettlementRefused, match=reason):
        propose_settlement(session, case, **{**arguments, **extra})


@pytest.mark.parametrize(
    ("instalments", "reason"),
    [
        ([], "at least one instalment"),
        ([("2025-04-01", "1000")] * (MAX_INSTALMENTS + 1), "at most 24 instalments, not 25"),
        ([("2025-02-27", "500"), ("2025-04-01", "500")], "instalment 1 is due on 2025-02-27"),
        (
            [("2025-04-01", "500"), ("2025-04-01", "500")],
            r"instalment 2 is due on 2025-04-01, not after instalment 1",
        ),
        ([("2025-04-01", "500"), ("2025-05-01", "0")], "instalment 2's amount must be positive"),
        ([("2025-04-01", "600"), ("2025-05-01", "600")], "1200.00 is more than is owed"),
        ([("2025-04-01", "300"), ("2025-05-01", "200")], "discount of 50.00%"),
    ],
)
def test_a_payment_plan_is_refused_with_the_reason(case, session, instalments, reason):
    with pytest.raises(SettlementRefused, match=reason):
        plan(session, case, *instalments)


def test_a_closed_case_takes_no_settlement(case, session):
    change_status(session, case, CaseStatus.WRITTEN_OFF, actor="supervisor1", on=TODAY)
    session.commit()
    with pytest.raises(SettlementConflict, match="a closed case takes no settlement"):
        settle(session, case, "900")


def test_a_payment_plan_of_the_whole_amount_needs_no_approval(case, session):
    found = plan(session, case, ("2025-03-15", "400"), ("2025-04-15", "300"), ("2025-05-15", "300"))
    assert (found.kind, found.status, found.discount_percent) == (
        SettlementKind.PAYMENT_PLAN,
        SettlementStatus.ACTIVE,
        Decimal("0.00"),
    )
    assert found.agreed_amount == Decimal("1000.00")
    assert [i["due_on"] for i in found.instalments] == ["2025-03-15", "2025-04-15", "2025-05-15"]


def test_a_plan_for_less_than_owed_is_a_discount_under_the_same_limits(case, session):
    found = plan(session, case, ("2025-03-15", "400"), ("2025-04-15", "400"))
    assert (found.discount_percent, found.status) == (Decimal("20.00"), SettlementStatus.PROPOSED)


def test_a_proposal_cannot_be_approved_once_its_first_date_has_passed(case, session):
    found = settle(session, case, "800", pay_by=date(2025, 3, 10))
    with pytest.raises(SettlementConflict, match="propose it again with new dates"):
        approve_settlement(session, found, by="supervisor1", role=SUPERVISOR, on=date(2025, 3, 11))


# --- payments -----------------------------------------------------------------------------------


def test_payments_complete_the_settlement_and_close_the_case_with_settlement(case, session):
    found = settle(session, case, "900.00")
    first = pay(session, case, "T1", "500.00", date(2025, 3, 10))
    assert (first.settlement_id, first.applied, first.completed) == (
        found.id,
        Decimal("500.00"),
        False,
    )
    assert (found.status, found.amount_paid) == (SettlementStatus.ACTIVE, Decimal("500.00"))
    assert case.status is CaseStatus.PROMISED

    # More than what is left: 400 counts, the rest stays on the loan.
    last = pay(session, case, "T2", "450.00", date(2025, 3, 20))
    assert (last.applied, last.completed) == (Decimal("400.00"), True)
    assert "the settlement is paid" in last.text()
    assert (found.status, found.amount_paid, found.ended_on) == (
        SettlementStatus.COMPLETED,
        Decimal("900.00"),
        date(2025, 3, 20),
    )
    assert (case.status, case.closed_on) == (CaseStatus.CLOSED, date(2025, 3, 20))
    assert status_changes(session, case) == [
        ("in_collection", "promised"),
        ("promised", "settled"),
        ("settled", "closed"),
    ]
    assert ("settlements", "update") in {(a, act) for a, act, _ in audit_of(session, found)}
    after = pay(session, case, "T3", "10", date(2025, 3, 21))
    assert after.settlement_id is None and "counts towards no settlement" in after.text()


def test_an_imported_payment_completes_the_settlement_and_closes_the_case(
    case, session, run_import
):
    """The payments import passes its new rows to the settlements as it does to the promises:
    paid in full, the settlement completes and the case is settled, then closed."""
    found = settle(session, case, "900.00")
    session.commit()
    report = run_import("payments", [PAYMENTS_HEADER, ["T1", "L1", "900.00", "2025-03-05 10:00"]])
    assert report.ok, report.summary()
    session.rollback()
    session.refresh(found)
    session.refresh(case)
    assert (found.status, found.ended_on) == (SettlementStatus.COMPLETED, date(2025, 3, 5))
    assert found.amount_paid == Decimal("900.00")
    assert case.status is CaseStatus.CLOSED
    assert status_changes(session, case)[-2:] == [("promised", "settled"), ("settled", "closed")]


def test_a_plan_paid_in_full_without_discount_closes_the_case_as_paid(case, session):
    found = plan(session, case, ("2025-03-15", "500"), ("2025-04-15", "500"))
    pay(session, case, "T1", "500", date(2025, 3, 14))
    pay(session, case, "T2", "500", date(2025, 4, 16))  # within the grace days
    assert found.status is SettlementStatus.COMPLETED
    assert status_changes(session, case)[-2:] == [("promised", "paid"), ("paid", "closed")]


def test_a_proposal_takes_no_payments_until_it_is_approved(case, session):
    found = settle(session, case, "800")
    assert pay(session, case, "T1", "800", date(2025, 3, 5)).settlement_id is None
    assert found.amount_paid == Decimal("0.00")


# --- broken plans and the daily tick --------------------------------------------------------------


def test_a_missed_instalment_beyond_the_grace_breaks_the_plan(case, session):
    found = plan(session, case, ("2025-03-15", "400"), ("2025-04-15", "300"), ("2025-05-15", "300"))
    pay(session, case, "T1", "400", date(2025, 3, 15))
    # 15 April plus two days of grace: still in time on the 17th.
    assert resolve_due_settlements(session, date(2025, 4, 17)).broken == 0
    assert found.status is SettlementStatus.ACTIVE

    result = resolve_due_settlements(session, date(2025, 4, 18), actor="daily-tick")
    session.commit()
    assert (result.broken, result.returned_to_collection) == (1, 1)
    assert (found.status, found.ended_on) == (SettlementStatus.BROKEN, date(2025, 4, 18))
    assert "instalment 2 due on 2025-04-15 not paid: 400.00 paid of 700.00" in found.decided_note
    assert case.status is CaseStatus.IN_COLLECTION
    assert status_changes(session, case)[-1] == ("promised", "in_collection")
    assert ("daily-tick", "update") in {(a, act) for a, act, _ in audit_of(session, found)}
    assert resolve_due_settlements(session, date(2025, 4, 19)).broken == 0, "broken once"


def test_a_payment_made_after_the_plan_broke_does_not_count(case, session):
    found = plan(session, case, ("2025-03-15", "500"), ("2025-04-15", "500"))
    late = pay(session, case, "T1", "500", date(2025, 3, 18))
    assert late.settlement_id is None
    assert found.amount_paid == Decimal("0.00")


def test_a_broken_plan_leaves_a_case_with_a_pending_promise_promised(case, session):
    found = plan(session, case, ("2025-03-05", "500"), ("2025-04-05", "500"))
    log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=Outcome.PROMISE_TO_PAY,
        started_at=datetime(2025, 3, 8, 2, tzinfo=UTC),
        promise=PromiseTerms(Decimal("500"), date(2025, 3, 20)),
    )
    session.commit()
    result = resolve_due_settlements(session, date(2025, 3, 10))
    assert (result.broken, result.returned_to_collection) == (1, 0)
    assert (found.status, case.status) == (SettlementStatus.BROKEN, CaseStatus.PROMISED)


def test_an_undecided_proposal_lapses_after_its_first_payment_date(case, session):
    found = settle(session, case, "800", pay_by=date(2025, 3, 10))
    assert resolve_due_settlements(session, date(2025, 3, 10)).lapsed == 0
    assert resolve_due_settlements(session, date(2025, 3, 11)).lapsed == 1
    assert (found.status, found.ended_on) == (SettlementStatus.CANCELLED, date(2025, 3, 11))
    assert "not decided before its first payment date 2025-03-10" in found.decided_note


# --- fully paid cases close ---------------------------------------------------------------------


def test_cases_with_nothing_left_to_pay_close_as_paid(case, session, run_import):
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "outstanding_balance"],
            ["K2", "L2", "2025-02-01", "20", "0", "800"],
        ],
    )
    session.rollback()  # see what the import committed
    promise = log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=Outcome.PROMISE_TO_PAY,
        started_at=datetime(2025, 3, 1, 2, tzinfo=UTC),
        promise=PromiseTerms(Decimal("1000"), date(2025, 3, 20)),
    )
    session.commit()
    assert close_paid_cases(session, TODAY) == 0, "K1 owes 1,000; K2 still has a balance"

    found = settle(session, case, "950")
    case.overdue_principal = Decimal(0)
    case.outstanding_balance = Decimal(0)
    session.commit()
    assert close_paid_cases(session, date(2025, 3, 2), actor="daily-tick") == 1
    session.commit()
    assert (case.status, case.closed_on) == (CaseStatus.CLOSED, date(2025, 3, 2))
    assert status_changes(session, case)[-2:] == [("promised", "paid"), ("paid", "closed")]
    ptp = session.scalar(select(PromiseToPay).where(PromiseToPay.contact_attempt_id == promise.id))
    assert ptp.status is PromiseStatus.CANCELLED, "nothing stays pending on a closed case"
    assert found.status is SettlementStatus.CANCELLED
    k2 = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K2"))
    assert k2.status is CaseStatus.NEW
    assert close_paid_cases(session, date(2025, 3, 3)) == 0, "closed once"


def test_an_active_plan_pauses_the_path_like_a_promise_and_a_broken_one_resumes_it(case, session):
    """The strategy table reads ``promise_pending``: an agreed plan counts, so the case follows
    the promise path while it runs and returns to its own when the plan breaks."""
    assert case_facts(session, case.id, TODAY)["promise_pending"] is False
    found = plan(session, case, ("2025-03-15", "500"), ("2025-04-15", "500"))
    assert found.status is SettlementStatus.ACTIVE
    assert case_facts(session, case.id, TODAY)["promise_pending"] is True
    resolve_due_settlements(session, date(2025, 3, 18), actor="daily-tick")
    session.commit()
    assert found.status is SettlementStatus.BROKEN
    assert case_facts(session, case.id, date(2025, 3, 18))["promise_pending"] is False
