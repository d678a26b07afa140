"""The alert inbox: scope per role, acknowledge / assign / resolve audited, counts by team."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from casedb.models import Alert, AlertStatus, AuditEntry, CollectionCase, Team
from casedb.session import transaction
from tests.console.conftest import sign_in


def alert(case_id: int, kind: str, severity: str, hour: int, **extra) -> Alert:
    return Alert(
        case_id=case_id,
        kind=kind,
        severity=severity,
        raised_at=datetime(2025, 3, 1, hour, tzinfo=UTC),
        ruleset="alert",
        version=1,
        row="L01",
        **extra,
    )


@pytest.fixture
def alerts(engine, run_import, assigned):
    """K1 (team T1, collector1): a warning and a critical alert; K2 (collector2, no team): one
    info alert and a resolved one. A second collector of T1 (collector3) to assign to."""
    run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "username"],
            ["CL3", "催收员丙", "T1", "collector3"],
        ],
    )
    k1, k2 = assigned["K1"], assigned["K2"]
    with transaction(engine) as session:
        rows = [
            alert(k1, "broken_promises", "warning", 8),
            alert(k1, "missed_installments", "critical", 9),
            alert(k2, "no_recent_contact", "info", 7),
            alert(k2, "low_credit_score", "warning", 6, status=AlertStatus.RESOLVED),
        ]
        session.add_all(rows)
        session.flush()
        ids = {a.kind: a.id for a in rows}
        ids["T1"] = session.scalar(select(Team.id).where(Team.code == "T1"))
    return {**assigned, **ids}


def listed(client, query: str = "") -> list[tuple[str, str]]:
    response = client.get(f"/alerts/?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.findall(
        r'data-alert="\d+" data-case="([^"]+)" data-kind="([^"]+)"', response.get_data(as_text=True)
    )


def audited(engine, alert_id: int) -> list[tuple[str, dict]]:
    with transaction(engine) as session:
        return [
            (entry.actor, entry.after)
            for entry in session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.table_name == "alert",
                    AuditEntry.row_id == str(alert_id),
                    AuditEntry.action == "update",
                )
                .order_by(AuditEntry.id)
            )
        ]


def status_of(engine, alert_id: int) -> Alert:
    with transaction(engine) as session:
        found = session.get(Alert, alert_id)
        session.expunge(found)
        return found


def test_each_role_sees_the_alerts_of_its_scope_most_severe_first(app, alerts):
    everything = [
        ("K1", "missed_installments"),
        ("K1", "broken_promises"),
        ("K2", "no_recent_contact"),
    ]
    assert listed(sign_in(app, "analyst")) == everything
    assert listed(sign_in(app, "auditor")) == everything
    assert listed(sign_in(app, "admin")) == everything
    assert listed(sign_in(app, "supervisor1")) == everything[:2]
    assert listed(sign_in(app, "collector1")) == everything[:2]
    assert listed(sign_in(app, "collector2")) == everything[2:]
    analyst = sign_in(app, "analyst")
    # Severity first, then the oldest: K2's resolved warning was raised before K1's.
    assert listed(analyst, "status=all") == [
        everything[0],
        ("K2", "low_credit_score"),
        *everything[1:],
    ]
    assert listed(analyst, "status=resolved") == [("K2", "low_credit_score")]
    assert listed(analyst, "severity=warning") == [("K1", "broken_promises")]
    assert listed(analyst, "kind=no_recent_contact") == [("K2", "no_recent_contact")]
    assert listed(analyst, f"team={alerts['T1']}") == everything[:2]
    response = analyst.get("/alerts/?severity=huge")
    assert response.status_code == 400 and 'id="alert-error"' in response.get_data(as_text=True)
    assert analyst.get("/alerts/?team=x").status_code == 400


def test_acknowledge_assign_and_resolve_are_audited_under_the_user(app, engine, alerts):
    alert_id = alerts["missed_installments"]
    collector = sign_in(app, "collector1")
    assert collector.post(f"/alerts/{alert_id}/acknowledge").status_code == 302
    found = status_of(engine, alert_id)
    assert (found.status, found.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "collector1")
    assert found.acknowledged_at is not None
    # Twice is a conflict, with the reason.
    again = collector.post(f"/alerts/{alert_id}/acknowledge")
    assert again.status_code == 409 and 'id="alert-error"' in again.get_data(as_text=True)
    supervisor = sign_in(app, "supervisor1")
    assert (
        supervisor.post(f"/alerts/{alert_id}/assign", data={"collector": "collector3"}).status_code
        == 302
    )
    found = status_of(engine, alert_id)
    assert (found.status, found.assigned_to) == (AlertStatus.ASSIGNED, "collector3")
    # A note is required to resolve.
    assert collector.post(f"/alerts/{alert_id}/resolve", data={"note": " "}).status_code == 400
    done = collector.post(f"/alerts/{alert_id}/resolve", data={"note": "客户已还款"})
    assert done.status_code == 302
    found = status_of(engine, alert_id)
    assert (found.status, found.resolved_by, found.resolution_note) == (
        AlertStatus.RESOLVED,
        "collector1",
        "客户已还款",
    )
    assert collector.post(f"/alerts/{alert_id}/resolve", data={"note": "x"}).status_code == 409
    assert (
        supervisor.post(f"/alerts/{alert_id}/assign", data={"collector": "collector3"}).status_code
        == 409
    )
    trail = audited(engine, alert_id)
    assert [actor for actor, _ in trail] == ["collector1", "supervisor1", "collector1"]
    assert trail[0][1]["status"] == "acknowledged"
    assert trail[1][1]["assigned_to"] == "collector3"
    assert trail[2][1]["resolution_note"] == "客户已还款"


def test_assigning_outside_the_cases_team_or_by_a_collector_is_refused(app, engine, alerts):
    alert_id = alerts["broken_promises"]
    supervisor = sign_in(app, "supervisor1")
    for name in ("collector2", "nobody", ""):
        response = supervisor.post(f"/alerts/{alert_id}/assign", data={"collector": name})
        assert response.status_code == 400, name
    # A collector may not assign; the case without a team has nobody to assign to.
    collector = sign_in(app, "collector1")
    assert collector.post(
        f"/alerts/{alert_id}/assign", data={"collector": "collector3"}
    ).status_code in {403, 404}
    admin = sign_in(app, "admin")
    no_team = alerts["no_recent_contact"]
    assert (
        admin.post(f"/alerts/{no_team}/assign", data={"collector": "collector2"}).status_code == 400
    )
    assert status_of(engine, alert_id).status is AlertStatus.OPEN
    assert audited(engine, alert_id) == []


def test_missing_or_out_of_scope_alerts_are_not_found(app, alerts):
    collector = sign_in(app, "collector1")
    assert collector.post("/alerts/999999/acknowledge").status_code == 404
    assert collector.post("/alerts/999999/resolve", data={"note": "x"}).status_code == 404
    # K2's alert belongs to collector2.
    assert collector.post(f"/alerts/{alerts['no_recent_contact']}/acknowledge").status_code == 404
    supervisor = sign_in(app, "supervisor1")
    assert (
        supervisor.post("/alerts/999999/assign", data={"collector": "collector3"}).status_code
        == 404
    )
    # The auditor reads only.
    auditor = sign_in(app, "auditor")
    assert auditor.post(f"/alerts/{alerts['broken_promises']}/acknowledge").status_code in {
        403,
        404,
    }


def test_the_summary_counts_unresolved_alerts_by_team_and_kind(app, engine, alerts):
    with transaction(engine) as session:
        k1 = session.scalar(select(CollectionCase.id).where(CollectionCase.case_no == "K1"))
        session.add(alert(k1, "broken_promises", "warning", 10, status=AlertStatus.ASSIGNED))
        session.add(alert(k1, "rating_downgrade", "critical", 11, status=AlertStatus.RESOLVED))
    page = sign_in(app, "analyst").get("/alerts/summary").get_data(as_text=True)
    counts = re.findall(r'<tr class="team-counts" data-team="([^"]+)">(.*?)</tr>', page, re.S)
    table = {team: dict(re.findall(r'data-kind="([^"]+)">(\d+)<', cells)) for team, cells in counts}
    assert table["一组"] == {
        "broken_promises": "2",
        "missed_installments": "1",
        "no_recent_contact": "0",
    }
    assert table["无团队"]["no_recent_contact"] == "1"
    supervisor = sign_in(app, "supervisor1").get("/alerts/summary").get_data(as_text=True)
    assert 'data-team="一组"' in supervisor and 'data-team="无团队"' not in supervisor
    assert sign_in(app, "collector1").get("/alerts/summary").status_code in {403, 404}


def test_the_inbox_speaks_chinese_and_english(app, alerts):
    analyst = sign_in(app, "analyst")
    page = analyst.get("/alerts/").get_data(as_text=True)
    assert "预警" in page and "严重" in page and "连续未还款" in page
    analyst.get("/lang/en")
    page = analyst.get("/alerts/?severity=huge").get_data(as_text=True)
    assert "Alerts" in page and "Any severity" in page
    assert "Severity: choose one of the listed severities" in page
