"""Bulk actions on cases: each case judged on its own, every change on the timeline and audited."""

import pytest
from sqlalchemy import select

from casedb.case_actions import (
    BulkActionRefused,
    change_status_of,
    hold,
    reassign,
)
from casedb.lifecycle import change_status
from casedb.models import (
    AuditEntry,
    CaseStatus,
    ChangeEvent,
    CollectionCase,
    Collector,
    EventKind,
)
from casedb.timeline import case_timeline


@pytest.fixture
def cases(portfolio, run_import, session):
    """K1 (new) and K2 (in collection); collectors CL1 (team T1, capacity 1) and CL2 (T2)."""
    run_import(
        "teams",
        [["team_code", "name", "supervisor_username"], ["T1", "一组", ""], ["T2", "二组", ""]],
    )
    run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "capacity"],
            ["CL1", "催收员甲", "T1", "1"],
            ["CL2", "催收员乙", "T2", "100"],
        ],
    )
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "status"],
            ["K2", "L2", "2025-02-01", "20", "300", "in_collection"],
        ],
    )
    return list(session.scalars(select(CollectionCase).order_by(CollectionCase.case_no)))


def _collector(session, code):
    return session.scalar(select(Collector).where(Collector.code == code))


def test_reassigning_moves_open_cases_to_the_collector_and_their_team(cases, session):
    change_status(session, cases[1], CaseStatus.PAID, actor="system")
    target = _collector(session, "CL2")
    result = reassign(session, cases, target.id, actor="supervisor1", reason="调岗 leave cover")
    session.commit()
    k1, k2 = cases
    assert result.changed == ["K1"]
    assert result.refused == {"K2": "the case is paid"}
    assert (k1.collector_id, k1.team_id) == (target.id, target.team_id)
    assert k2.collector_id is None
    event = session.scalar(
        select(ChangeEvent).where(
            ChangeEvent.kind == EventKind.CASE_UPDATED, ChangeEvent.case_id == k1.id
        )
    )
    assert event.payload["collector"] == "CL2"
    assert event.payload["reason"] == "调岗 leave cover"
    assert event.actor == "supervisor1"
    assert any("CL2" in entry.summary for entry in case_timeline(session, k1.id))
    audit = session.scalar(
        select(AuditEntry).where(
            AuditEntry.table_name == "collection_case",
            AuditEntry.row_id == str(k1.id),
            AuditEntry.action == "update",
        )
    )
    assert audit.actor == "supervisor1"
    assert audit.after["collector_id"] == target.id


def test_reassigning_past_capacity_changes_the_cases_and_warns(cases, session):
    result = reassign(session, cases, _collector(session, "CL1").id, actor="s", reason="r")
    assert sorted(result.changed) == ["K1", "K2"]
    assert result.warnings == ["催收员甲 is now 1 case(s) over a capacity of 1"]


def test_a_bulk_action_needs_a_reason_and_an_active_collector(cases, session):
    with pytest.raises(BulkActionRefused, match="reason"):
        hold(session, cases, True, actor="s", reason="  ")
    with pytest.raises(BulkActionRefused, match="collector"):
        reassign(session, cases, 999_999, actor="s", reason="r")


def test_a_status_change_applies_where_the_life_cycle_allows_and_says_why_not(cases, session):
    change_status(session, cases[1], CaseStatus.PAID, actor="system")
    result = change_status_of(session, cases, CaseStatus.LEGAL, actor="s", reason="诉讼 suit")
    assert result.changed == ["K1"]
    assert "a paid case cannot become legal" in result.refused["K2"]
    assert cases[0].status is CaseStatus.LEGAL


def test_hold_takes_cases_out_of_work_and_release_puts_them_back(cases, session):
    k1 = cases[0]
    assert hold(session, [k1], True, actor="s", reason="投诉 complaint").changed == ["K1"]
    assert k1.on_hold
    assert hold(session, [k1], True, actor="s", reason="again").refused == {"K1": "already on hold"}
    assert hold(session, [k1], False, actor="s", reason="resolved").changed == ["K1"]
    assert not k1.on_hold
