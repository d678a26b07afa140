"""Early warnings: the alert table's fired rows become alerts, once per unresolved kind."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casedb.models import Alert, AlertStatus, CollectionCase, RuleDecision
from rules_service.bulk_decide import decide_cases
from rules_service.decision_table import from_json
from rules_service.policy import Policy, publish_all
from rules_service.reevaluation import request_reevaluation
from rules_service.relay import Relay
from tests.rules_service.conftest import table_document
from tests.rules_service.test_service import many_cases

CASES = 4


def alert_v2(version: int = 2):
    """An alert table that warns on every case over 41 DPD (and a second code over 100)."""
    return from_json(
        table_document(
            [
                ("X01", {"dpd": "> 41"}, {"alert": "late", "severity": "critical"}),
                ("X02", {"dpd": "> 100"}, {"alert": "very_late", "severity": "info"}),
            ],
            name="alert",
            version=version,
            policy="COLLECT",
        )
    )


def alerts(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return sorted(
            tuple(row)
            for row in session.execute(
                select(CollectionCase.case_no, Alert.kind, Alert.status).join(
                    CollectionCase, CollectionCase.id == Alert.case_id
                )
            )
        )


def test_a_fired_row_raises_one_open_alert_with_provenance_once(
    engine, staff, run_import, published
):
    with Session(engine) as session, session.begin():
        publish_all(session, [alert_v2()], by="analyst")
    many_cases(run_import, CASES)  # dpd 40..43
    relay = Relay(engine)
    relay.run(once=True)
    assert alerts(engine) == [("MK2", "late", "open"), ("MK3", "late", "open")]
    with Session(engine) as session:
        alert = session.scalars(select(Alert).order_by(Alert.id)).first()
        assert (alert.ruleset, alert.version, alert.row, alert.severity) == (
            "alert",
            2,
            "X01",
            "critical",
        )
        decision = session.get(RuleDecision, alert.raised_by_decision_id)
        assert decision.case_id == alert.case_id and decision.kind == "alert"
        assert decision.rows == ["X01"]
        assert alert.raised_at is not None and alert.assigned_to is None
    # Decided again (by the relay and by re-evaluation): no second alert of the same kind.
    with Session(engine) as session, session.begin():
        request_reevaluation(session, "by hand")
    relay.run(once=True)
    assert alerts(engine) == [("MK2", "late", "open"), ("MK3", "late", "open")]


def test_a_resolved_alert_that_fires_again_is_raised_anew(engine, staff, run_import, published):
    with Session(engine) as session, session.begin():
        publish_all(session, [alert_v2()], by="analyst")
    many_cases(run_import, CASES)
    relay = Relay(engine)
    relay.run(once=True)
    with Session(engine) as session, session.begin():
        case_id = session.scalar(select(CollectionCase.id).where(CollectionCase.case_no == "MK3"))
        session.execute(
            update(Alert).where(Alert.case_id == case_id).values(status=AlertStatus.ACKNOWLEDGED)
        )
        request_reevaluation(session, "by hand")
    relay.run(once=True)
    assert alerts(engine) == [("MK2", "late", "open"), ("MK3", "late", "acknowledged")]
    with Session(engine) as session, session.begin():
        session.execute(
            update(Alert).where(Alert.case_id == case_id).values(status=AlertStatus.RESOLVED)
        )
        request_reevaluation(session, "by hand")
    relay.run(once=True)
    assert alerts(engine) == [
        ("MK2", "late", "open"),
        ("MK3", "late", "open"),
        ("MK3", "late", "resolved"),
    ]
    with Session(engine) as session:
        # Re-evaluation recorded nothing new: the new alert points at the decision that still
        # holds, the one the first alert pointed at.
        first, again = session.scalars(
            select(Alert.raised_by_decision_id).where(Alert.case_id == case_id).order_by(Alert.id)
        ).all()
        assert again == first is not None


def test_an_alert_that_no_longer_fires_stays_until_resolved(engine, staff, run_import, published):
    with Session(engine) as session, session.begin():
        publish_all(session, [alert_v2()], by="analyst")
    many_cases(run_import, CASES)
    relay = Relay(engine)
    relay.run(once=True)
    with Session(engine) as session, session.begin():
        session.execute(update(CollectionCase).values(dpd=5))
        request_reevaluation(session, "by hand")
    relay.run(once=True)
    assert alerts(engine) == [("MK2", "late", "open"), ("MK3", "late", "open")]


def test_re_evaluation_chunks_raise_alerts(engine, staff, run_import, published):
    many_cases(run_import, CASES)
    relay = Relay(engine)
    relay.run(once=True)
    # The shipped table: no contact yet on cases over 30 DPD.
    assert {kind for _, kind, _ in alerts(engine)} == {"no_recent_contact"}
    with Session(engine) as session, session.begin():
        publish_all(session, [alert_v2()], by="analyst")
    relay.run(once=True)
    late = [a for a in alerts(engine) if a[1] == "late"]
    assert late == [("MK2", "late", "open"), ("MK3", "late", "open")]
    with Session(engine) as session:
        decision_ids = session.scalars(
            select(Alert.raised_by_decision_id).where(Alert.kind == "late")
        ).all()
        events = [session.get(RuleDecision, i).event_id for i in decision_ids]
        assert events == [None, None]  # raised by the re-evaluation's decisions


def test_decide_cases_raises_alerts_in_the_callers_transaction(
    engine, staff, run_import, published
):
    many_cases(run_import, CASES)
    with Session(engine) as session, session.begin():
        publish_all(session, [alert_v2()], by="analyst")
        session.execute(update(CollectionCase).values(dpd=150))
    policy = Policy()
    with Session(engine) as session:
        policy.refresh(session)
    with Session(engine) as session:
        ids = session.scalars(select(CollectionCase.id).order_by(CollectionCase.id)).all()
        decide_cases(session, policy, ids[0], ids[-1])
        assert len(session.scalars(select(Alert)).all()) == 2 * CASES
        session.rollback()
    assert alerts(engine) == []
