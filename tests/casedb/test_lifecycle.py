"""Case statuses follow the life cycle; an illegal change is refused with a reason."""

from datetime import date

import pytest
from sqlalchemy import select

from casedb.lifecycle import ALLOWED, IllegalTransition, change_status, check_transition
from casedb.models import AuditEntry, CaseStatus, ChangeEvent, CollectionCase, EventKind


@pytest.fixture
def case(portfolio, session):
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def test_a_case_moves_from_new_to_promised_to_paid_and_is_closed_on_payment(case, session):
    change_status(session, case, CaseStatus.IN_COLLECTION, actor="collector1")
    change_status(session, case, CaseStatus.PROMISED, actor="collector1", reason="PTP 3/15")
    change_status(session, case, CaseStatus.PAID, actor="system", on=date(2025, 3, 15))
    session.commit()
    assert case.status is CaseStatus.PAID
    assert case.closed_on == date(2025, 3, 15)
    events = session.scalars(
        select(ChangeEvent).where(ChangeEvent.kind == EventKind.CASE_UPDATED)
    ).all()
    assert [e.payload["status"] for e in events] == ["in_collection", "promised", "paid"]
    assert events[1].payload["reason"] == "PTP 3/15"
    audit = session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "collection_case", AuditEntry.action == "update"
        )
    ).all()
    assert [(a.actor, a.after["status"]) for a in audit] == [
        ("collector1", "in_collection"),
        ("collector1", "promised"),
        ("system", "paid"),
    ]


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        (CaseStatus.PAID, CaseStatus.PROMISED, "a paid case cannot become promised"),
        (CaseStatus.CLOSED, CaseStatus.IN_COLLECTION, "nothing: it is final"),
        (CaseStatus.LEGAL, CaseStatus.IN_COLLECTION, "can become closed, paid, settled"),
        (CaseStatus.NEW, CaseStatus.NEW, "already new"),
    ],
)
def test_illegal_changes_are_refused_with_a_reason(current, target, reason):
    with pytest.raises(IllegalTransition, match=reason):
        check_transition(current, target)


def test_a_refused_change_leaves_the_case_and_the_outbox_alone(case, session):
    change_status(session, case, CaseStatus.PAID, actor="system")
    session.commit()
    with pytest.raises(IllegalTransition):
        change_status(session, case, CaseStatus.IN_COLLECTION, actor="collector1")
    session.rollback()
    assert case.status is CaseStatus.PAID
    assert session.query(ChangeEvent).filter_by(kind=EventKind.CASE_UPDATED).count() == 1


def test_every_status_can_reach_closed_and_closed_is_final():
    for status, targets in ALLOWED.items():
        if status is not CaseStatus.CLOSED:
            assert CaseStatus.CLOSED in targets
    assert ALLOWED[CaseStatus.CLOSED] == frozenset()
