"""The shipped tables: canonical files, the documented policy, and UNIQUE strategy coverage."""

import itertools
from pathlib import Path

import pytest

from rules_service.decision_table import HitPolicy, Kind, TableError, to_json
from rules_service.default_policy import RULESETS_DIR, default_policy, load_table
from rules_service.facts import FACTS
from rules_service.reference import evaluate, matching_rows

POLICY = default_policy()


def outputs(kind, facts):
    return [hit.outputs for hit in evaluate(POLICY[kind], facts)]


def test_each_kind_ships_with_its_documented_hit_policy():
    assert {kind: table.hit_policy for kind, table in POLICY.items()} == {
        Kind.ASSIGNMENT: HitPolicy.FIRST,
        Kind.PRIORITY: HitPolicy.PRIORITY,
        Kind.STRATEGY: HitPolicy.UNIQUE,
        Kind.ALERT: HitPolicy.COLLECT,
    }
    for table in POLICY.values():
        assert table.description["en"] and table.description["zh"]
        assert table.version == 1


@pytest.mark.parametrize("kind", list(Kind))
def test_the_files_are_canonical(kind):
    path = RULESETS_DIR / f"{kind.value}.json"
    assert path.read_text(encoding="utf-8") == to_json(POLICY[kind])


@pytest.mark.parametrize(
    ("facts", "team", "skill"),
    [
        ({"status": "legal", "bucket": "M2"}, "legal", "legal"),
        ({"status": "closed", "bucket": "M4+"}, None, None),
        ({"status": "in_collection", "on_hold": True, "bucket": "M4+"}, "special_handling", None),
        ({"status": "new", "on_hold": False, "bucket": "M4+"}, "legal_review", "legal"),
        ({"status": "new", "bucket": "M1", "outstanding_balance": 50000},
         "high_balance", "high_balance"),
        ({"status": "new", "bucket": "M3", "outstanding_balance": 49999.99}, "late_stage", None),
        ({"status": "new", "bucket": "M2", "risk_level": "HIGH"}, "calls", "high_risk"),
        ({"status": "new", "bucket": "M1", "broken_promises": 2}, "calls", "negotiation"),
        ({"status": "new", "bucket": "M2"}, "calls", None),
        ({"status": "new", "bucket": "M1"}, "early", None),
    ],
)  # fmt: skip
def test_assignment_sends_cases_to_the_documented_teams(facts, team, skill):
    [decision] = outputs(Kind.ASSIGNMENT, facts)
    assert (decision["team"], decision["required_skill"]) == (team, skill)


def test_priority_rises_with_days_past_due_and_amount():
    def score(**facts):
        [decision] = outputs(Kind.PRIORITY, facts)
        return decision["score"], decision["level"]

    assert score(dpd=0) == (10, "P4")
    assert score(dpd=15) == (30, "P4")
    assert score(dpd=15, overdue_amount=8000) == (45, "P3")
    assert score(dpd=45) == (55, "P3")
    assert score(dpd=45, overdue_amount=25000) == (65, "P2")
    assert score(dpd=75) == (72, "P2")
    assert score(dpd=75, overdue_amount=25000) == (82, "P1")
    assert score(dpd=120) == (88, "P1")
    assert score(dpd=120, overdue_amount=25000) == (95, "P1")
    # escalations: a more urgent level wins over row order
    assert score(dpd=15, outstanding_balance=80000) == (75, "P2")
    assert score(dpd=45, broken_promises=2) == (85, "P1")


def test_every_case_fits_exactly_one_strategy_row():
    table = POLICY[Kind.STRATEGY]
    for bucket, pending, broken, ab in itertools.product(
        FACTS["bucket"].values, (True, False), range(4), range(100)
    ):
        facts = {"bucket": bucket, "promise_pending": pending, "broken_promises": broken}
        assert len(matching_rows(table, facts | {"ab_bucket": ab})) == 1, facts


def test_champion_challenger_splits_m1_good_customers_80_20():
    arms = [
        outputs(
            Kind.STRATEGY,
            {"bucket": "M1", "promise_pending": False, "broken_promises": 0, "ab_bucket": ab},
        )[0]["arm"]
        for ab in range(100)
    ]
    assert arms.count("champion") == 80
    assert arms.count("challenger") == 20


def test_alerts_collect_every_warning_once_per_kind():
    facts = {
        "consecutive_missed_installments": 2,
        "payment_ratio_vs_history": 0.3,
        "rating_change": 2,
        "broken_promises": 3,
        "credit_score": 500,
        "delinquent_accounts_elsewhere": 2,
        "dpd": 75,
        "days_since_last_contact": 20,
        "right_party_contacts_30d": 0,
    }
    alerts = {(o["alert"], o["severity"]) for o in outputs(Kind.ALERT, facts)}
    assert alerts == {
        ("missed_installments", "warning"),
        ("payment_falling", "warning"),
        ("rating_downgrade", "warning"),
        ("broken_promises", "critical"),
        ("low_credit_score", "warning"),
        ("debt_elsewhere", "warning"),
        ("no_recent_contact", "info"),
        ("no_right_party_contact", "warning"),
    }
    assert outputs(Kind.ALERT, {"consecutive_missed_installments": 1, "dpd": 5}) == []
    assert outputs(Kind.ALERT, {"payment_ratio_vs_history": 0.2})[0]["severity"] == "critical"


def test_a_broken_file_is_reported_with_its_name(tmp_path: Path):
    path = tmp_path / "alert.json"
    path.write_text('{"format": 1', encoding="utf-8")
    with pytest.raises(TableError, match=r"^alert\.json: not valid JSON"):
        load_table(path)


def test_a_file_holding_another_kind_is_refused(tmp_path: Path):
    for kind in Kind:
        source = RULESETS_DIR / ("priority.json" if kind is Kind.ALERT else f"{kind.value}.json")
        (tmp_path / f"{kind.value}.json").write_text(source.read_text(encoding="utf-8"))
    with pytest.raises(TableError, match=r"alert\.json holds a priority table"):
        default_policy(tmp_path)
