"""The decision log: decisions found by table, version, row, kind, case and day, in scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from casedb.models import RuleDecision
from casedb.session import transaction
from tests.console.conftest import sign_in


def decision(case_id: int, version: int, rows: list[str], day: int, **extra) -> RuleDecision:
    return RuleDecision(
        case_id=case_id,
        ruleset=extra.pop("ruleset", "assignment"),
        version=version,
        checksum="0" * 64,
        kind=extra.pop("kind", "assignment"),
        rows=rows,
        outputs=[{"row": row, "when": {"dpd": ">= 30"}, "then": {"team": "T1"}} for row in rows],
        facts={"dpd": 45, "bucket": "M2"},
        applied={"team": "一组 (T1)"},
        decided_at=datetime(2025, 3, day, 9, 30, tzinfo=UTC),
        **extra,
    )


@pytest.fixture
def decisions(engine, assigned):
    """K1 (collector1, team T1 of supervisor1) and K2 (collector2, no team) decided by
    assignment v6 and v7 and by a priority table."""
    k1, k2 = assigned["K1"], assigned["K2"]
    with transaction(engine) as session:
        session.add_all(
            [
                decision(k1, 6, ["A01"], day=1),
                decision(k1, 7, ["A03"], day=2),
                decision(k2, 7, ["A03", "A05"], day=3),
                decision(k2, 7, ["A10"], day=4),
                decision(k1, 2, ["P04"], day=5, ruleset="priority", kind="priority"),
            ]
        )
    return assigned


def cases_listed(client, query: str = "") -> list[str]:
    response = client.get(f"/decisions/?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.findall(r'class="decision[^"]*" data-case="([^"]+)"', response.get_data(as_text=True))


def test_which_cases_did_a_row_of_a_version_decide(app, decisions):
    analyst = sign_in(app, "analyst")
    assert cases_listed(analyst, "ruleset=assignment&version=7&row=A03") == ["K2", "K1"]
    assert cases_listed(analyst, "ruleset=assignment&version=v7&row=A05") == ["K2"]
    # A row id is matched whole, not as a prefix or a substring.
    assert cases_listed(analyst, "row=A0") == []
    assert cases_listed(analyst, "row=A1") == []
    assert cases_listed(analyst, "row=A10") == ["K2"]
    assert cases_listed(analyst, "ruleset=assignment&version=6") == ["K1"]
    assert cases_listed(analyst, "kind=priority") == ["K1"]
    assert cases_listed(analyst, "case=K2") == ["K2", "K2"]
    assert cases_listed(analyst, "since=2025-03-02&until=2025-03-03") == ["K2", "K1"]
    assert len(cases_listed(analyst)) == 5


def test_an_entry_shows_rows_conditions_facts_and_what_was_applied(app, decisions):
    page = sign_in(app, "auditor").get("/decisions/?row=A05").get_data(as_text=True)
    assert "assignment v7" in page and "A03" in page and "A05" in page
    assert "&gt;= 30" in page and "bucket" in page and "一组 (T1)" in page
    assert f"/workbench/{decisions['K2']}" in page
    assert "440101198512120021" not in page  # no personal data in the log


def test_each_user_sees_the_decisions_of_the_cases_in_their_scope(app, decisions):
    assert sorted(set(cases_listed(sign_in(app, "collector1")))) == ["K1"]
    assert sorted(set(cases_listed(sign_in(app, "collector2")))) == ["K2"]
    assert sorted(set(cases_listed(sign_in(app, "supervisor1")))) == ["K1"]
    assert sorted(set(cases_listed(sign_in(app, "auditor")))) == ["K1", "K2"]
    assert cases_listed(sign_in(app, "collector1"), "case=K2") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("version=abc", "版本"),
        ("version=0", "版本"),
        ("row=a%20b", "规则号"),
        ("ruleset=Bad-Name", "决策表"),
        ("kind=nope", "类型"),
        ("since=2025-13-01", "起始日期"),
        ("since=2025-03-05&until=2025-03-01", "起始日期晚于结束日期"),
        ("page=0", "页码"),
    ],
)
def test_a_bad_filter_is_answered_400_with_the_reason(app, decisions, query, message):
    response = sign_in(app, "analyst").get(f"/decisions/?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="filter-error"' in page and message in page


def test_the_log_pages_fifty_at_a_time(app, engine, assigned):
    with transaction(engine) as session:
        session.add_all([decision(assigned["K1"], 1, [f"R{n}"], day=1 + n % 28) for n in range(60)])
    analyst = sign_in(app, "analyst")
    first = analyst.get("/decisions/?ruleset=assignment").get_data(as_text=True)
    assert first.count('data-case="') == 50 and "page=2" in first
    second = analyst.get("/decisions/?ruleset=assignment&page=2").get_data(as_text=True)
    assert second.count('data-case="') == 10 and "page=3" not in second


def test_the_log_speaks_english_too(app, decisions):
    analyst = sign_in(app, "analyst")
    assert "决策日志" in analyst.get("/decisions/").get_data(as_text=True)
    analyst.get("/lang/en")
    page = analyst.get("/decisions/?version=x").get_data(as_text=True)
    assert "Decision log" in page and "Version: a whole number from 1" in page
