"""Case facts read from the case database, as of the business date."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from casedb.models import (
    Channel,
    CollectionCase,
    ContactAttempt,
    CreditSnapshot,
    CreditSource,
    Installment,
    Outcome,
    Party,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
)
from rules_service.case_facts import ab_bucket, case_facts
from rules_service.default_policy import default_policy
from rules_service.facts import FACTS, FactError
from rules_service.reference import evaluate

AS_OF = date(2025, 3, 15)


@pytest.fixture
def case(portfolio, session):
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def test_a_bare_case_gives_every_catalogue_fact_typed(case, session):
    facts = case_facts(session, case.id, AS_OF)
    assert set(facts) == set(FACTS)
    assert facts["dpd"] == 45
    assert facts["bucket"] == "M2"
    assert facts["overdue_amount"] == pytest.approx(1200.5)
    assert facts["principal"] == 10000.0
    assert facts["product"] == "cash_loan"
    assert facts["region"] == "北京"
    assert facts["status"] == "new"
    assert facts["on_hold"] is False
    assert facts["opened_on"] == date(2025, 1, 1)
    assert facts["case_age_days"] == 73
    assert facts["ab_bucket"] == ab_bucket("K1")
    assert (facts["broken_promises"], facts["promise_pending"]) == (0, False)
    # never contacted: silent since the case opened
    assert facts["days_since_last_contact"] == 73
    assert facts["right_party_contacts_30d"] == 0
    for unknown in ("payment_ratio_vs_history", "rating_change", "credit_score", "risk_level"):
        assert facts[unknown] is None, unknown


def test_history_on_the_case_becomes_alert_facts(case, session):
    session.add_all(
        [
            PromiseToPay(promise_no="P1", case_id=case.id, amount=Decimal(500),
                         promised_for=date(2025, 2, 1), status=PromiseStatus.BROKEN),
            PromiseToPay(promise_no="P2", case_id=case.id, amount=Decimal(500),
                         promised_for=date(2025, 2, 20), status=PromiseStatus.BROKEN),
            PromiseToPay(promise_no="P3", case_id=case.id, amount=Decimal(300),
                         promised_for=date(2025, 3, 31)),
            ContactAttempt(attempt_no="A1", case_id=case.id, customer_id=case.customer_id,
                           channel=Channel.CALL, party=Party.DEBTOR, outcome=Outcome.PROMISE_TO_PAY,
                           started_at=datetime(2025, 3, 10, 2, 0, tzinfo=UTC)),
            ContactAttempt(attempt_no="A2", case_id=case.id, customer_id=case.customer_id,
                           channel=Channel.CALL, party=Party.DEBTOR, outcome=Outcome.NO_ANSWER,
                           started_at=datetime(2025, 3, 12, 2, 0, tzinfo=UTC)),
            ContactAttempt(attempt_no="A3", case_id=case.id, customer_id=case.customer_id,
                           channel=Channel.CALL, party=Party.DEBTOR,
                           outcome=Outcome.RIGHT_PARTY_CONTACT,
                           started_at=datetime(2025, 1, 5, 2, 0, tzinfo=UTC)),
            CreditSnapshot(snapshot_no="S1", customer_id=case.customer_id,
                           source_kind=CreditSource.BUREAU_REPORT, provider="PBOC",
                           reported_on=date(2024, 12, 1), score=640, rating="A"),
            CreditSnapshot(snapshot_no="S2", customer_id=case.customer_id,
                           source_kind=CreditSource.BUREAU_REPORT, provider="PBOC",
                           reported_on=date(2025, 3, 1), score=520, rating="BB",
                           delinquent_accounts_elsewhere=2),
            *(
                RepaymentTransaction(txn_no=f"T{i}", loan_id=case.loan_id, amount=Decimal(amount),
                                     paid_at=datetime(2024, month, 10, tzinfo=UTC))
                for i, (month, amount) in enumerate([(9, 1000), (10, 1000), (11, 400)])
            ),
            *(
                Installment(loan_id=case.loan_id, seq=seq, due_on=due_on,
                            principal_due=Decimal(900), interest_due=Decimal(100),
                            fee_due=Decimal(0), amount_paid=Decimal(paid))
                for seq, due_on, paid in [
                    (1, date(2024, 10, 1), 1000),
                    (2, date(2024, 11, 1), 1000),
                    (3, date(2024, 12, 1), 400),
                    (4, date(2025, 1, 1), 0),
                    (5, date(2025, 4, 1), 0),  # not yet due
                ]
            ),
        ]
    )  # fmt: skip
    session.commit()
    facts = case_facts(session, case.id, AS_OF)
    assert (facts["broken_promises"], facts["promise_pending"]) == (2, True)
    assert facts["days_since_last_contact"] == 3
    assert facts["right_party_contacts_30d"] == 1  # the call in January is outside the window
    assert (facts["rating_change"], facts["credit_score"]) == (2, 520)  # A -> BBB -> BB
    assert facts["delinquent_accounts_elsewhere"] == 2
    assert facts["payment_ratio_vs_history"] == pytest.approx(0.4)
    assert facts["days_since_last_payment"] == (AS_OF - date(2024, 11, 10)).days
    assert facts["consecutive_missed_installments"] == 2  # seq 4 unpaid, seq 3 part-paid


def test_a_risk_level_the_catalogue_does_not_know_is_refused(case, session):
    case.risk_level = "高"
    session.commit()
    assert case_facts(session, case.id, AS_OF)["risk_level"] == "HIGH"
    case.risk_level = "severe"
    session.commit()
    with pytest.raises(FactError, match="'risk_level': expected one of LOW, MEDIUM, HIGH"):
        case_facts(session, case.id, AS_OF)


def test_an_unknown_case_is_a_lookup_error(session):
    with pytest.raises(LookupError, match="no collection case with id 999"):
        case_facts(session, 999, AS_OF)


def test_the_ab_bucket_is_stable_and_spread():
    assert ab_bucket("K1") == ab_bucket("K1")
    buckets = [ab_bucket(f"CASE-{i:07d}") for i in range(10_000)]
    assert min(buckets) == 0 and max(buckets) == 99
    assert 1800 <= sum(b >= 80 for b in buckets) <= 2200


def test_database_facts_feed_the_shipped_tables(case, session):
    facts = case_facts(session, case.id, AS_OF)
    decisions = {kind: evaluate(table, facts) for kind, table in default_policy().items()}
    assert [hit.outputs["team"] for hit in decisions["assignment"]] == ["calls"]
    assert [hit.outputs["level"] for hit in decisions["priority"]] == ["P3"]
    assert [hit.outputs["treatment_path"] for hit in decisions["strategy"]] == ["m2_calls"]
    assert [hit.outputs["alert"] for hit in decisions["alert"]] == ["no_recent_contact"]
