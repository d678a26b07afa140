"""Logging a call updates the case at once and tells the rules service."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from casedb.contact_log import ContactRejected, PromiseTerms, log_contact
from casedb.models import (
    CaseStatus,
    ChangeEvent,
    Channel,
    CollectionCase,
    EventKind,
    Outcome,
    Party,
    PromiseToPay,
)

CALLED_AT = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)  # 10:30 in Beijing


@pytest.fixture
def case(portfolio, session):
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def test_a_promise_on_a_call_moves_the_case_to_promised(case, session):
    attempt = log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=Outcome.PROMISE_TO_PAY,
        started_at=CALLED_AT,
        duration_seconds=185,
        notes="客户表示月底发工资后还款",
        promise=PromiseTerms(Decimal("600.00"), date(2025, 3, 31)),
    )
    session.commit()
    assert case.status is CaseStatus.PROMISED
    assert attempt.local_timezone == "Asia/Shanghai"
    promise = session.scalar(select(PromiseToPay))
    assert (promise.amount, promise.promised_for, promise.contact_attempt_id) == (
        Decimal("600.00"),
        date(2025, 3, 31),
        attempt.id,
    )
    kinds = [e.kind for e in session.scalars(select(ChangeEvent).order_by(ChangeEvent.id))]
    assert kinds[-4:] == [
        EventKind.CONTACT_LOGGED,
        EventKind.CASE_UPDATED,
        EventKind.PROMISE_MADE,
        EventKind.CASE_UPDATED,
    ]


def test_an_unanswered_call_moves_a_new_case_into_collection(case, session):
    log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=Outcome.NO_ANSWER,
        started_at=CALLED_AT,
    )
    session.commit()
    assert case.status is CaseStatus.IN_COLLECTION
    assert session.scalar(select(PromiseToPay)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"started_at": CALLED_AT.replace(tzinfo=None)}, "time zone"),
        ({"started_at": datetime.now(UTC) + timedelta(hours=1)}, "future"),
        ({"outcome": Outcome.PROMISE_TO_PAY}, "needs the promised amount"),
        ({"promise": PromiseTerms(Decimal(0), date(2025, 3, 31))}, "positive"),
        ({"promise": PromiseTerms(Decimal(10), date(2025, 2, 1))}, "before the contact"),
        (
            {"promise": PromiseTerms(Decimal(10), date(2025, 3, 5)), "party": Party.THIRD_PARTY},
            "only the debtor",
        ),
        (
            {
                "promise": PromiseTerms(Decimal(10), date(2025, 3, 5)),
                "outcome": Outcome.RIGHT_PARTY_CONTACT,
            },
            "needs the outcome",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_nothing_is_saved(case, session, changes, reason):
    arguments = {
        "actor": "collector1",
        "channel": Channel.CALL,
        "outcome": Outcome.PROMISE_TO_PAY if "promise" in changes else Outcome.NO_ANSWER,
        "started_at": CALLED_AT,
    } | changes
    with pytest.raises(ContactRejected, match=reason):
        log_contact(session, case, **arguments)
    session.rollback()
    assert case.status is CaseStatus.NEW
