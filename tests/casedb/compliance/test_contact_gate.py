"""The gate over the case database: it reads the debtor's contacts and instructions, answers, and
every answer lands in the append-only compliance log; automated messages wait out quiet hours
instead of going out, and messages the policy forbids are blocked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casedb.compliance.contact_gate import ContactRequest, active_policy, check_contact
from casedb.compliance.history_export import write_history
from casedb.compliance.replay import replay_document
from casedb.contact_log import log_contact
from casedb.models import (
    Channel,
    CollectionCase,
    Collector,
    ComplianceCheck,
    ContactKind,
    ContactPoint,
    DebtorInstruction,
    MessageStatus,
    OutboundMessage,
    Outcome,
    Party,
    Team,
    ThirdPartyContact,
)
from casedb.models.customers import Relationship
from casedb.outbound import OutboxTableSender, deliver_due

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


@pytest.fixture
def case(portfolio, session) -> CollectionCase:
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


@pytest.fixture
def mobile(session, case) -> ContactPoint:
    point = ContactPoint(
        contact_point_no="CP1",
        customer_id=case.customer_id,
        kind=ContactKind.MOBILE,
        value="13800000001",
        value_masked="138****0001",
    )
    session.add(point)
    session.flush()
    return point


def call(session, case, when, outcome=Outcome.NO_ANSWER, **extra):
    return log_contact(
        session,
        case,
        actor="collector1",
        channel=Channel.CALL,
        outcome=outcome,
        started_at=when,
        **extra,
    )


def test_an_allowed_call_is_logged_with_its_answer(session, case, mobile):
    verdict = check_contact(
        session,
        case,
        ContactRequest("call", contact_point_id=mobile.id, at=at(2025, 3, 4, 10)),
        actor="collector1",
    )
    assert verdict.verdict == "allowed"
    entry = session.scalar(select(ComplianceCheck))
    assert (entry.case_id, entry.verdict, entry.origin, entry.policy) == (
        case.id,
        "allowed",
        "click",
        "CN",
    )
    assert entry.target == "138****0001"


def test_a_fourth_connected_call_today_is_blocked_counting_the_agencys_calls(session, case, mobile):
    team = Team(code="AG1", name="外包一组", agency="华信催收")
    session.add(team)
    session.flush()
    agent = Collector(code="AG1-01", name="外包催收员", team_id=team.id)
    session.add(agent)
    session.flush()
    call(session, case, at(2025, 3, 4, 9), Outcome.RIGHT_PARTY_CONTACT, contact_point_id=mobile.id)
    call(session, case, at(2025, 3, 4, 10), Outcome.RIGHT_PARTY_CONTACT, collector_id=agent.id)
    call(session, case, at(2025, 3, 4, 11), Outcome.REFUSED_TO_PAY, collector_id=agent.id)
    verdict = check_contact(
        session, case, ContactRequest("call", at=at(2025, 3, 4, 15)), actor="collector1"
    )
    assert verdict.verdict == "blocked"
    assert [r.rule for r in verdict.reasons] == ["daily_connected_calls"]
    assert "华信催收" in verdict.reasons[0].message
    assert verdict.earliest == at(2025, 3, 5, 8)
    entry = session.scalars(select(ComplianceCheck).order_by(ComplianceCheck.id.desc())).first()
    assert entry.blocking_rule == "daily_connected_calls"
    assert entry.earliest_allowed_at == at(2025, 3, 5, 8)


def test_the_same_history_under_reg_f_counts_each_agency_apart(session, case):
    team = Team(code="AG1", name="Agency", agency="Acme Recovery")
    session.add(team)
    session.flush()
    agent = Collector(code="AG1-01", name="Agent", team_id=team.id)
    session.add(agent)
    session.flush()
    case.customer.timezone = "America/Chicago"
    chicago = ZoneInfo("America/Chicago")
    for day in range(7):
        call(session, case, datetime(2024, 3, 4 + day, 10, tzinfo=chicago), collector_id=agent.id)
    us = active_policy(session, "US-RegF")
    moment = datetime(2024, 3, 10, 15, tzinfo=chicago)
    lender = check_contact(session, case, ContactRequest("call", at=moment), actor="c", policy=us)
    assert lender.verdict == "allowed"
    agency = check_contact(
        session,
        case,
        ContactRequest("call", at=moment),
        actor="c",
        collector_id=agent.id,
        policy=us,
    )
    assert "call_frequency_7in7" in [r.rule for r in agency.reasons]


def test_a_closed_number_and_a_refusing_contact_person_are_blocked(session, case, mobile):
    mobile.opted_out = True
    verdict = check_contact(
        session,
        case,
        ContactRequest("call", contact_point_id=mobile.id, at=at(2025, 3, 4, 10)),
        actor="collector1",
    )
    assert verdict.verdict == "blocked"
    assert "opted out" in verdict.reasons[-1].message
    person = ThirdPartyContact(
        third_party_no="TP1",
        customer_id=case.customer_id,
        name="王五",
        relationship_to_debtor=Relationship.FRIEND,
        refused_contact=True,
        refused_at=at(2025, 3, 1, 10).astimezone(UTC),
    )
    session.add(person)
    session.flush()
    verdict = check_contact(
        session,
        case,
        ContactRequest(
            "call",
            party="emergency_contact",
            third_party_contact_id=person.id,
            at=at(2025, 3, 4, 10),
        ),
        actor="collector1",
    )
    assert "third_party_refused" in [r.rule for r in verdict.reasons]


def test_an_agreement_recorded_for_the_debtor_lifts_the_quiet_hours(session, case):
    late = ContactRequest("call", at=at(2025, 3, 4, 22, 30))
    assert check_contact(session, case, late, actor="c").verdict == "blocked"
    session.add(
        DebtorInstruction(
            customer_id=case.customer_id,
            kind="agreement",
            allows="late_hours",
            given_at=at(2025, 3, 1, 9),
            recorded_by="collector1",
        )
    )
    session.flush()
    assert check_contact(session, case, late, actor="c").verdict == "allowed"


def test_the_compliance_log_refuses_changes_and_deletions(engine, session, case):
    check_contact(session, case, ContactRequest("call", at=at(2025, 3, 4, 10)), actor="c")
    session.commit()
    for statement in (
        "UPDATE compliance_check SET verdict = 'allowed'",
        "DELETE FROM compliance_check",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))


def test_an_sms_due_in_quiet_hours_waits_until_eight_and_then_goes_out(engine, session, case):
    from casedb.compliance.contact_gate import outbound_gate  # noqa: PLC0415

    session.add(
        OutboundMessage(
            case_id=case.id,
            channel="sms",
            recipient="+8613800000001",
            body="【示例银行】您的贷款已逾期，请尽快还款。",
            next_attempt_at=at(2025, 3, 4, 23).astimezone(UTC),
        )
    )
    session.commit()
    sender = OutboxTableSender(engine)
    result = deliver_due(engine, sender, at(2025, 3, 4, 23), gate=outbound_gate)
    assert (result.held, result.sent) == (1, 0)
    with Session(engine) as fresh:
        message = fresh.scalar(select(OutboundMessage))
        assert message.status is MessageStatus.QUEUED
        assert message.next_attempt_at == at(2025, 3, 5, 8)
        assert "quiet hours" in message.last_error
    result = deliver_due(engine, sender, at(2025, 3, 5, 8), gate=outbound_gate)
    assert result.sent == 1


def test_a_threatening_sms_is_blocked_for_good(engine, session, case):
    from casedb.compliance.contact_gate import outbound_gate  # noqa: PLC0415

    pytest.importorskip("casedb.compliance.script_audit")
    session.add(
        OutboundMessage(
            case_id=case.id,
            channel="sms",
            recipient="+8613800000001",
            body="再不还钱明天就让警察上门抓你",
            next_attempt_at=at(2025, 3, 4, 10).astimezone(UTC),
        )
    )
    session.commit()
    result = deliver_due(engine, OutboxTableSender(engine), at(2025, 3, 4, 10), gate=outbound_gate)
    assert result.blocked == 1
    with Session(engine) as fresh:
        assert fresh.scalar(select(OutboundMessage.status)) is MessageStatus.BLOCKED


def test_the_exported_history_replays_to_the_verdicts_the_gate_gives(session, case, mobile):
    import json  # noqa: PLC0415
    from io import StringIO  # noqa: PLC0415

    for hour in (9, 10, 11):
        call(
            session,
            case,
            at(2025, 3, 4, hour),
            Outcome.RIGHT_PARTY_CONTACT,
            contact_point_id=mobile.id,
        )
    call(session, case, at(2025, 3, 4, 12), Outcome.NO_ANSWER, contact_point_id=mobile.id)
    session.flush()
    out = StringIO()
    assert write_history(session, out, policy="CN") == 4
    results = replay_document(json.loads(out.getvalue()))
    assert [r["verdict"] for r in results] == ["allowed", "allowed", "allowed", "blocked"]
    assert results[-1]["rules"][0]["id"] == "daily_connected_calls"


def test_a_call_to_a_party_named_by_the_enum_is_judged_as_that_party(session, case):
    verdict = check_contact(
        session,
        case,
        ContactRequest("call", party=Party.EMERGENCY_CONTACT.value, at=at(2025, 3, 4, 10)),
        actor="c",
    )
    assert "third_party_debtor_reachable" in [r.rule for r in verdict.reasons]


def test_history_beyond_the_window_is_not_read(session, case):
    start = at(2024, 1, 1, 10)
    for n in range(60):
        call(session, case, start + timedelta(days=n))
    verdict = check_contact(session, case, ContactRequest("call", at=at(2025, 3, 4, 10)), actor="c")
    assert verdict.verdict == "allowed"
