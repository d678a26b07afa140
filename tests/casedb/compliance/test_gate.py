"""The contact gate, rule by rule, on the shipped CN and US-RegF policies: what it blocks, what it
flags for review, what it lets through, and when a blocked contact would be allowed."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from casedb.compliance.events import Contact, Debtor, Instruction, TimeWindow
from casedb.compliance.gate import DebtorHistory, judge
from casedb.compliance.policy import PolicyError, parse_policy, shipped_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
PHOENIX = ZoneInfo("America/Phoenix")
CN = shipped_policy("CN")
US = shipped_policy("US-RegF")


def debtor(*zones: ZoneInfo, region: str | None = None, **extra) -> DebtorHistory:
    return DebtorHistory(Debtor("D1", zones or (SHANGHAI,), region, **extra))


_counter = iter(range(1, 1_000_000))


def contact(at: datetime, channel: str = "call", **fields) -> Contact:
    fields.setdefault("debts", ("A",))
    return Contact(id=f"c{next(_counter)}", debtor="D1", at=at, channel=channel, **fields)


def instruction(kind: str, at: datetime, **fields) -> Instruction:
    return Instruction(id=f"e{next(_counter)}", type=kind, debtor="D1", at=at, **fields)


def rules_of(verdict) -> set[str]:
    return {reason.rule for reason in verdict.reasons}


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


# --- time of day -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "verdict"),
    [
        (7, 59, "blocked"),
        (8, 0, "allowed"),
        (21, 59, "allowed"),
        (22, 0, "blocked"),
        (3, 0, "blocked"),
    ],
)
def test_cn_quiet_hours_are_22_to_8_in_the_debtors_local_time(hour, minute, verdict):
    answer = judge(contact(local(SHANGHAI, 2025, 3, 4, hour, minute)), debtor(), CN)
    assert answer.verdict == verdict
    assert ("quiet_hours" in rules_of(answer)) == (verdict == "blocked")


def test_a_blocked_late_call_is_allowed_from_eight_the_next_morning():
    answer = judge(contact(local(SHANGHAI, 2025, 3, 4, 22, 30)), debtor(), CN)
    assert answer.earliest == local(SHANGHAI, 2025, 3, 5, 8, 0)
    assert answer.reasons[0].sources == (
        "cn.gbt2025.time",
        "cn.nifa2024.time_frequency",
        "cn.cba2026.time",
    )
    assert "22:30" in answer.reasons[0].message and "22:30" in answer.reasons[0].message_zh


def test_the_debtors_agreement_to_late_hours_lifts_the_quiet_hours():
    history = debtor()
    history.record(instruction("agreement", local(SHANGHAI, 2025, 3, 1, 10), allows="late_hours"))
    assert judge(contact(local(SHANGHAI, 2025, 3, 4, 22, 30)), history, CN).verdict == "allowed"


def test_a_letter_has_no_inconvenient_hour():
    assert (
        judge(contact(local(SHANGHAI, 2025, 3, 4, 23), "letter"), debtor(), CN).verdict == "allowed"
    )


@pytest.mark.parametrize(
    ("hour", "verdict"), [(7, "blocked"), (8, "allowed"), (20, "allowed"), (21, "blocked")]
)
def test_us_convenient_hours_are_8_to_21_at_the_consumers_location(hour, verdict):
    answer = judge(contact(local(CHICAGO, 2024, 3, 4, hour)), debtor(CHICAGO), US)
    assert answer.verdict == verdict


def test_with_two_possible_zones_only_hours_convenient_in_both_are():
    history = debtor(NEW_YORK, LOS_ANGELES)
    # 8:30 in New York is 5:30 in Los Angeles: inconvenient there.
    early = judge(contact(local(NEW_YORK, 2024, 5, 6, 8, 30)), history, US)
    assert early.verdict == "blocked"
    assert early.earliest == local(NEW_YORK, 2024, 5, 6, 11, 0)
    # 20:30 in Los Angeles is 23:30 in New York.
    late = judge(contact(local(LOS_ANGELES, 2024, 5, 6, 20, 30)), history, US)
    assert late.verdict == "blocked"
    assert judge(contact(local(NEW_YORK, 2024, 5, 6, 12)), history, US).verdict == "allowed"


def test_on_the_spring_forward_day_eight_oclock_is_still_eight_local():
    # 2024-03-10: New York moves from UTC-5 to UTC-4 at 02:00.
    at_eight = local(NEW_YORK, 2024, 3, 10, 8, 0)
    assert at_eight.utcoffset() == timedelta(hours=-4)
    assert judge(contact(at_eight), debtor(NEW_YORK), US).verdict == "allowed"
    blocked = judge(contact(local(NEW_YORK, 2024, 3, 10, 7, 59)), debtor(NEW_YORK), US)
    assert blocked.earliest == at_eight


def test_on_the_fall_back_day_a_call_at_7_30_local_is_blocked_though_it_is_8_30_by_summer_time():
    moment = datetime(2024, 11, 3, 12, 30, tzinfo=ZoneInfo("UTC"))  # 07:30 EST
    answer = judge(contact(moment), debtor(NEW_YORK), US)
    assert answer.verdict == "blocked"
    assert answer.earliest == local(NEW_YORK, 2024, 11, 3, 8, 0)


def test_a_zone_without_dst_keeps_its_hours_when_others_change():
    # Phoenix stays at UTC-7 all year: 8:00 there is 15:00 UTC in March and in November.
    for day in (datetime(2024, 3, 10), datetime(2024, 11, 3)):
        moment = datetime(day.year, day.month, day.day, 15, 0, tzinfo=ZoneInfo("UTC"))
        assert judge(contact(moment), debtor(PHOENIX), US).verdict == "allowed"
        assert (
            judge(contact(moment - timedelta(minutes=1)), debtor(PHOENIX), US).verdict == "blocked"
        )


def test_times_the_consumer_said_are_inconvenient_are_blocked_too():
    history = debtor(CHICAGO, inconvenient_times=(TimeWindow(*map(_clock, ("09:00", "17:00"))),))
    answer = judge(contact(local(CHICAGO, 2024, 3, 4, 10)), history, US)
    assert rules_of(answer) == {"debtor_inconvenient_time"}
    assert answer.earliest == local(CHICAGO, 2024, 3, 4, 17)


def _clock(text: str):
    return datetime.strptime(text, "%H:%M").time()


def test_a_region_override_moves_the_quiet_hours_for_debtors_there():
    document = {**CN.document, "region_overrides": {"新疆": {"quiet_hours": {"from": "21:00"}}}}
    policy = parse_policy(document)
    at = local(SHANGHAI, 2025, 3, 4, 21, 30)
    assert judge(contact(at), debtor(region="新疆"), policy).verdict == "blocked"
    assert judge(contact(at), debtor(region="北京"), policy).verdict == "allowed"


# --- CN caps -----------------------------------------------------------------------------


def test_cn_counts_connected_calls_of_the_lender_and_its_agencies_together():
    history = debtor()
    day = local(SHANGHAI, 2025, 3, 4, 9)
    for n, agent in enumerate(("lender", "agency-a", "agency-b")):
        history.record(contact(day + timedelta(hours=n), outcome="conversation", agent=agent))
    answer = judge(contact(day + timedelta(hours=5), agent="agency-c"), history, CN)
    assert answer.verdict == "blocked"
    assert "daily_connected_calls" in rules_of(answer)
    assert answer.earliest == local(SHANGHAI, 2025, 3, 5, 8)
    # The next day starts a new count.
    assert judge(contact(local(SHANGHAI, 2025, 3, 5, 9)), history, CN).verdict == "allowed"


def test_cn_allows_at_most_six_unanswered_dials_a_day_to_one_number():
    history = debtor()
    start = local(SHANGHAI, 2025, 3, 4, 9)
    for n in range(6):
        history.record(contact(start + timedelta(hours=n), outcome="no_answer", target="cp:1"))
    blocked = judge(contact(start + timedelta(hours=7), target="cp:1"), history, CN)
    assert "daily_unanswered_dials" in rules_of(blocked)
    other_number = judge(contact(start + timedelta(hours=7), target="cp:2"), history, CN)
    assert other_number.verdict == "allowed"


def test_a_second_unanswered_call_within_five_minutes_is_flagged_for_review_not_blocked():
    history = debtor()
    first = local(SHANGHAI, 2025, 3, 4, 9)
    history.record(contact(first, outcome="no_answer", target="cp:1"))
    answer = judge(contact(first + timedelta(minutes=4), target="cp:1"), history, CN)
    assert answer.verdict == "review"
    assert rules_of(answer) == {"rapid_redial"}
    later = judge(contact(first + timedelta(minutes=5), target="cp:1"), history, CN)
    assert later.verdict == "allowed"


def test_an_emergency_contact_only_when_the_debtor_cannot_be_reached():
    history = debtor()
    day = local(SHANGHAI, 2025, 3, 4, 9)
    ask = {"party": "emergency_contact", "target": "tp:7"}
    assert "third_party_debtor_reachable" in rules_of(judge(contact(day, **ask), history, CN))
    for n in range(3):
        history.record(contact(day + timedelta(hours=n), outcome="no_answer", target="cp:1"))
    assert judge(contact(day + timedelta(hours=4), **ask), history, CN).verdict == "allowed"
    history.record(contact(day + timedelta(hours=5), outcome="conversation", target="cp:1"))
    reached = judge(contact(day + timedelta(hours=6), **ask), history, CN)
    assert reached.verdict == "blocked"
    assert "third_party_debtor_reachable" in rules_of(reached)


def test_an_emergency_contact_who_refused_is_never_contacted_again():
    history = debtor()
    day = local(SHANGHAI, 2025, 3, 4, 9)
    for n in range(3):
        history.record(contact(day + timedelta(hours=n), outcome="no_answer"))
    history.record(
        instruction("refused", day + timedelta(hours=3), party="emergency_contact", target="tp:7")
    )
    answer = judge(
        contact(day + timedelta(days=40), party="emergency_contact", target="tp:7"), history, CN
    )
    assert "third_party_refused" in rules_of(answer)
    assert answer.earliest is None


def test_a_field_visit_needs_two_to_three_collectors_and_at_most_one_a_day():
    history = debtor()
    day = local(SHANGHAI, 2025, 3, 4, 10)
    assert "field_visit_collectors" in rules_of(
        judge(contact(day, "visit", collectors=1), history, CN)
    )
    assert "field_visit_collectors" in rules_of(
        judge(contact(day, "visit", collectors=4), history, CN)
    )
    assert judge(contact(day, "visit", collectors=2), history, CN).verdict == "allowed"
    history.record(contact(day, "visit", collectors=2, outcome="conversation"))
    second = judge(contact(day + timedelta(hours=3), "visit", collectors=2), history, CN)
    assert "field_visit_daily" in rules_of(second)


# --- Regulation F ------------------------------------------------------------------------


def test_reg_f_an_eighth_call_in_seven_days_about_one_debt_is_blocked_until_the_first_drops_out():
    history = debtor(CHICAGO)
    for day in range(7):
        history.record(contact(local(CHICAGO, 2024, 3, 4 + day, 10), outcome="voicemail"))
    answer = judge(contact(local(CHICAGO, 2024, 3, 10, 15)), history, US)
    assert "call_frequency_7in7" in rules_of(answer)
    assert answer.earliest == local(CHICAGO, 2024, 3, 11, 8)


def test_reg_f_counts_per_debt_and_per_debt_collector():
    history = debtor(CHICAGO)
    for day in range(7):
        history.record(contact(local(CHICAGO, 2024, 3, 4 + day, 10), outcome="no_answer"))
    at = local(CHICAGO, 2024, 3, 10, 15)
    assert judge(contact(at, debts=("B",)), history, US).verdict == "allowed"
    assert judge(contact(at, agent="agency-a"), history, US).verdict == "allowed"


def test_reg_f_busy_and_not_in_service_calls_do_not_count():
    history = debtor(CHICAGO)
    for day in range(7):
        outcome = "busy" if day % 2 else "not_in_service"
        history.record(contact(local(CHICAGO, 2024, 3, 4 + day, 10), outcome=outcome))
    assert judge(contact(local(CHICAGO, 2024, 3, 10, 15)), history, US).verdict == "allowed"


def test_reg_f_no_call_for_seven_days_after_a_conversation_counting_its_day():
    history = debtor(CHICAGO)
    history.record(contact(local(CHICAGO, 2024, 3, 4, 10), outcome="conversation"))
    answer = judge(contact(local(CHICAGO, 2024, 3, 10, 20)), history, US)
    assert "call_after_conversation" in rules_of(answer)
    assert answer.earliest == local(CHICAGO, 2024, 3, 11, 8)
    assert judge(contact(local(CHICAGO, 2024, 3, 11, 9)), history, US).verdict == "allowed"
    # An SMS is not a telephone call.
    assert judge(contact(local(CHICAGO, 2024, 3, 5, 10), "sms"), history, US).verdict == "allowed"


def test_reg_f_calls_within_seven_days_of_consent_given_directly_do_not_count():
    history = debtor(CHICAGO)
    history.record(instruction("consent", local(CHICAGO, 2024, 3, 4, 9), channel="call"))
    for day in range(7):
        history.record(contact(local(CHICAGO, 2024, 3, 4 + day, 10), outcome="no_answer"))
    assert judge(contact(local(CHICAGO, 2024, 3, 10, 15)), history, US).verdict == "allowed"


def test_reg_f_a_cease_request_closes_every_channel_but_the_attorney():
    history = debtor(CHICAGO)
    history.record(instruction("cease", local(CHICAGO, 2024, 3, 4, 9)))
    at = local(CHICAGO, 2024, 3, 5, 10)
    for channel in ("call", "sms", "email", "letter"):
        answer = judge(contact(at, channel), history, US)
        assert answer.verdict == "blocked" and "cease" in rules_of(answer)
        assert answer.earliest is None
    assert judge(contact(at, party="attorney"), history, US).verdict == "allowed"


def test_reg_f_an_opted_out_channel_is_closed_until_the_consumer_writes_in_on_it():
    history = debtor(CHICAGO)
    history.record(instruction("opt_out", local(CHICAGO, 2024, 3, 4, 9), channel="sms"))
    at = local(CHICAGO, 2024, 3, 5, 10)
    assert "opt_out" in rules_of(judge(contact(at, "sms"), history, US))
    assert judge(contact(at, "email"), history, US).verdict == "allowed"
    history.record(contact(at, "sms", direction="inbound", outcome="delivered"))
    assert judge(contact(at + timedelta(minutes=5), "sms"), history, US).verdict == "allowed"
    history.record(contact(at + timedelta(minutes=5), "sms", outcome="delivered"))
    assert judge(contact(at + timedelta(hours=1), "sms"), history, US).verdict == "blocked"


def test_reg_f_a_represented_consumer_is_contacted_through_the_attorney():
    history = debtor(CHICAGO)
    history.record(instruction("represented", local(CHICAGO, 2024, 3, 4, 9)))
    at = local(CHICAGO, 2024, 3, 5, 10)
    assert "represented" in rules_of(judge(contact(at), history, US))
    assert judge(contact(at, party="attorney"), history, US).verdict == "allowed"


def test_reg_f_a_third_party_is_contacted_once_for_location_information():
    history = debtor(CHICAGO)
    at = local(CHICAGO, 2024, 3, 5, 10)
    assert judge(contact(at, party="third_party", target="tp:1"), history, US).verdict == "allowed"
    history.record(contact(at, party="third_party", target="tp:1", outcome="conversation"))
    again = judge(contact(at + timedelta(days=10), party="third_party", target="tp:1"), history, US)
    assert again.verdict == "review" and "third_party_repeat" in rules_of(again)


def test_history_older_than_the_windows_is_forgotten():
    history = debtor(CHICAGO)
    start = local(CHICAGO, 2024, 1, 1, 10)
    for n in range(10_000):
        history.record(contact(start + timedelta(hours=n), outcome="no_answer"))
    assert len(history.contacts) <= 32 * 24 + 1


# --- policies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": {"quiet_hours": {"from": "25:00", "source": ["x"]}}}, "'from'"),
        ({"rules": {"quiet_hours": {"from": "22:00"}}}, "name its legal source"),
        ({"rules": {"daily_connected_calls": {"max": -1, "source": ["x"]}}}, "'max'"),
        ({"rules": {"call_everyone": {"source": ["x"]}}}, "'call_everyone' is unknown"),
        (
            {"rules": {"quiet_hours": {"form": "22:00", "source": ["x"]}}},
            "unknown parameter 'form'",
        ),
        ({"counting": "per_moon"}, "'counting'"),
        ({"rules": {"script": {"lawful_actions": ["arrest"], "source": ["x"]}}}, "'arrest' is not"),
        ({"region_overrides": {"新疆": {"quiet_hours": {"to": "nine"}}}}, "region '新疆'"),
    ],
)
def test_a_policy_the_gate_could_not_apply_is_refused_with_the_rule_and_parameter(change, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy({**CN.document, **change})


def test_every_shipped_rule_cites_a_source_in_the_knowledge_base():
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    path = Path(__file__).resolve().parents[3] / "rulesets" / "compliance" / "sources.json"
    known = {source["id"] for source in json.loads(path.read_text(encoding="utf-8"))["sources"]}
    for policy in (CN, US):
        for rule in policy.rules.values():
            assert set(rule.sources) <= known, (policy.name, rule.id)
