"""The end of the road: a reviewer hands a case off to legal or recommends a write-off, which a
supervisor other than the recommender approves or rejects; each step leaves its trail."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from casedb.legal import (
    WRITE_OFF_ALERT,
    LegalRefused,
    approve_write_off,
    hand_off_to_legal,
    pending_write_off,
    recommend_write_off,
    reject_write_off,
)
from casedb.models import (
    Alert,
    AlertStatus,
    AuditEntry,
    CaseStatus,
    CaseTask,
    ChangeEvent,
    CollectionCase,
    EventKind,
    TaskStatus,
)


@pytest.fixture
def case(portfolio, session):
    session.execute(
        update(CollectionCase)
        .where(CollectionCase.case_no == "K1")
        .values(status=CaseStatus.IN_COLLECTION)
    )
    found = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
    session.add(
        CaseTask(
            case_id=found.id,
            path="m4_legal_review",
            path_version=1,
            step="L1",
            action="legal_review",
            due_at=datetime(2025, 3, 1, 1, tzinfo=UTC),
        )
    )
    session.commit()
    return found


def statuses(session, case) -> list[tuple[str, str]]:
    return [
        (e.payload["old_status"], e.payload["status"])
        for e in session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.kind == EventKind.CASE_UPDATED, ChangeEvent.case_id == case.id)
            .order_by(ChangeEvent.id)
        )
    ]


def review_task(session, case) -> CaseTask:
    return session.scalar(select(CaseTask).where(CaseTask.action == "legal_review"))


def test_a_hand_off_to_legal_moves_the_case_and_closes_the_review(case, session):
    hand_off_to_legal(session, case, by="lawyer1", reason="诉讼:金额较大,失联")
    session.commit()
    assert case.status is CaseStatus.LEGAL
    assert statuses(session, case) == [("in_collection", "legal")]
    task = review_task(session, case)
    assert (task.status, task.done_by) == (TaskStatus.DONE, "lawyer1")
    assert "诉讼" in task.note
    with pytest.raises(LegalRefused, match="already legal"):
        hand_off_to_legal(session, case, by="lawyer1", reason="again")


def test_a_write_off_needs_another_supervisor_and_leaves_a_trail(case, session):
    recommend_write_off(session, case, by="supervisor1", reason="债务人已身故,无可执行财产")
    session.commit()
    assert pending_write_off(session, case.id).created_by == "supervisor1"
    [alert] = session.scalars(select(Alert)).all()
    assert (alert.kind, alert.status) == (WRITE_OFF_ALERT, AlertStatus.OPEN)
    with pytest.raises(LegalRefused, match="maker-checker"):
        approve_write_off(session, case, by="supervisor1")
    session.rollback()
    with pytest.raises(LegalRefused, match="already waiting"):
        recommend_write_off(session, case, by="collector1", reason="again")
    session.rollback()
    approve_write_off(session, case, by="supervisor2")
    session.commit()
    assert case.status is CaseStatus.WRITTEN_OFF and case.closed_on is not None
    assert pending_write_off(session, case.id) is None
    session.refresh(alert)
    assert (alert.status, alert.resolved_by) == (AlertStatus.RESOLVED, "supervisor2")
    actors = set(
        session.scalars(select(AuditEntry.actor).where(AuditEntry.table_name == "case_task"))
    )
    assert {"supervisor1", "supervisor2"} <= actors


def test_a_rejected_write_off_leaves_the_case_as_it_was_with_the_reason(case, session):
    recommend_write_off(session, case, by="collector1", reason="长期失联")
    session.commit()
    with pytest.raises(LegalRefused, match="say why"):
        reject_write_off(session, case, by="supervisor1", reason=" ")
    reject_write_off(session, case, by="supervisor1", reason="尚有工资收入,继续催收")
    session.commit()
    assert case.status is CaseStatus.IN_COLLECTION
    task = session.scalar(select(CaseTask).where(CaseTask.action == "write_off_approval"))
    assert task.status is TaskStatus.CANCELLED and "继续催收" in task.note
    with pytest.raises(LegalRefused, match="no write-off waits"):
        approve_write_off(session, case, by="supervisor2")


def test_a_closed_case_cannot_be_handed_off_or_written_off(case, session):
    case.status = CaseStatus.CLOSED
    session.commit()
    with pytest.raises(LegalRefused, match="closed case cannot become legal"):
        hand_off_to_legal(session, case, by="lawyer1", reason="late")
    with pytest.raises(LegalRefused, match="closed case cannot become written_off"):
        recommend_write_off(session, case, by="collector1", reason="late")
