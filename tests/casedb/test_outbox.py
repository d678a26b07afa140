"""A change and its event are committed together or not at all."""

import pytest
from sqlalchemy import func, select

from casedb.models import ChangeEvent, EventKind, Team
from casedb.outbox import emit, pending
from casedb.session import transaction


def _events(engine):
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(ChangeEvent))


def test_an_event_commits_with_its_change(engine):
    with transaction(engine) as session:
        session.add(Team(code="T1", name="一组"))
        emit(session, EventKind.CASE_UPDATED, payload={"team": "T1"}, actor="admin")
    assert _events(engine) == 1


def test_a_rolled_back_change_leaves_no_event(engine):
    class ChangeAbandonedError(Exception):
        pass

    def change_then_fail() -> None:
        with transaction(engine) as session:
            session.add(Team(code="T1", name="一组"))
            emit(session, EventKind.CASE_UPDATED, payload={"team": "T1"})
            session.flush()
            raise ChangeAbandonedError

    with pytest.raises(ChangeAbandonedError):
        change_then_fail()
    assert _events(engine) == 0


def test_pending_events_come_in_commit_order_until_delivered(engine, session):
    for kind in (EventKind.CASE_OPENED, EventKind.PAYMENT_POSTED, EventKind.CONTACT_LOGGED):
        with transaction(engine) as s:
            emit(s, kind)
    events = pending(session)
    assert [e.kind for e in events] == [
        EventKind.CASE_OPENED,
        EventKind.PAYMENT_POSTED,
        EventKind.CONTACT_LOGGED,
    ]
    events[0].delivered_at = events[0].occurred_at
    session.commit()
    assert [e.kind for e in pending(session)] == [
        EventKind.PAYMENT_POSTED,
        EventKind.CONTACT_LOGGED,
    ]
    assert [e.kind for e in pending(session, after_id=events[1].id)] == [EventKind.CONTACT_LOGGED]
