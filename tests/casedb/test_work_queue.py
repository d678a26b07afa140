"""A collector works their queue in order; get-next never hands one customer to two people."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from casedb.models import CollectionCase, Collector, PromiseStatus, PromiseToPay
from casedb.work_queue import get_next, lock_key, my_queue, release


@pytest.fixture
def queues(run_import, portfolio, session):
    """collector1: K1 (C1, priority 50) and K3 (C2, priority 80); collector2: K2 (C2)."""
    run_import(
        "collectors",
        [
            ["collector_code", "name", "username"],
            ["CL1", "甲", "collector1"],
            ["CL2", "乙", "collector2"],
        ],
    )
    run_import(
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal"],
            ["L3", "C2", "cash_loan", "800"],
        ],
    )
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "collector_code"],
            ["K1", "L1", "2025-01-01", "45", "1200.50", "CL1"],
            ["K2", "L2", "2025-01-01", "10", "100", "CL2"],
            ["K3", "L3", "2025-01-01", "95", "800", "CL1"],
        ],
    )
    session.execute(
        update(CollectionCase).where(CollectionCase.case_no == "K1").values(priority_score=50)
    )
    session.execute(
        update(CollectionCase).where(CollectionCase.case_no == "K3").values(priority_score=80)
    )
    session.commit()
    return {c.code: c.id for c in session.scalars(select(Collector))}


def test_the_queue_is_ordered_by_priority(queues, session):
    items = my_queue(session, queues["CL1"])
    assert [i.case_no for i in items] == ["K3", "K1"]
    assert items[0].overdue == Decimal("800.00")
    assert not any(i.broken_promise for i in items)


def test_a_broken_promise_puts_the_case_on_top(queues, session):
    k1 = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
    session.add(
        PromiseToPay(
            promise_no="P1",
            case_id=k1.id,
            amount=Decimal(100),
            promised_for=date(2025, 1, 10),
            status=PromiseStatus.BROKEN,
        )
    )
    session.commit()
    items = my_queue(session, queues["CL1"])
    assert [(i.case_no, i.broken_promise) for i in items] == [("K1", True), ("K3", False)]


def test_get_next_locks_the_customer_for_everyone_else(queues, session, redis_connection):
    first = get_next(session, redis_connection, queues["CL1"])
    assert first.case_no == "K3"
    assert 0 < redis_connection.ttl(lock_key(first.customer_id)) <= 15 * 60
    assert get_next(session, redis_connection, queues["CL1"]).case_no == "K3", "still mine"
    assert get_next(session, redis_connection, queues["CL2"]) is None, "K2's customer is C2: locked"
    assert release(redis_connection, first.customer_id, queues["CL2"]) is False
    assert release(redis_connection, first.customer_id, queues["CL1"]) is True
    assert get_next(session, redis_connection, queues["CL2"]).case_no == "K2"


def test_cases_on_hold_or_closed_are_not_in_the_queue(queues, session):
    session.execute(
        update(CollectionCase).where(CollectionCase.case_no == "K3").values(on_hold=True)
    )
    session.execute(
        update(CollectionCase).where(CollectionCase.case_no == "K1").values(status="paid")
    )
    session.commit()
    assert my_queue(session, queues["CL1"]) == []
