"""Rule decisions on the case timeline: the table, version, row and its conditions."""

from __future__ import annotations

from casedb.models import RuleDecision
from casedb.timeline import condition_text, conditions_text, describe_decision


def test_cells_read_as_conditions():
    assert condition_text("dpd", ">= 90") == "dpd ≥ 90"
    assert condition_text("dpd", "[31..60]") == "dpd in [31..60]"
    assert condition_text("bucket", '"M1", "M2"') == 'bucket = "M1", "M2"'
    assert condition_text("bucket", 'not("M4+")') == 'bucket not in ("M4+")'
    assert condition_text("on_hold", "true") == "on_hold = true"
    assert (
        conditions_text({"dpd": ">= 90", "outstanding_balance": ">= 50000"})
        == "dpd ≥ 90 and outstanding_balance ≥ 50000"
    )
    assert conditions_text({}) == "always"


def _decision(**fields):
    base = {
        "ruleset": "assignment",
        "version": 7,
        "rows": ["A05"],
        "outputs": [
            {
                "row": "A05",
                "when": {"outstanding_balance": ">= 50000"},
                "then": {"team": "high_balance", "required_skill": "high_balance"},
            }
        ],
        "applied": {"team": "大额组 (T_HIGH)", "collector": "王五 (C1)"},
        "error": None,
    }
    return RuleDecision(**(base | fields))


def test_a_decision_names_its_row_conditions_and_effect():
    assert describe_decision(_decision()) == (
        "assignment v7 row A05: team=大额组 (T_HIGH), required_skill=high_balance, "
        "collector=王五 (C1) (outstanding_balance ≥ 50000)"
    )
    assert describe_decision(_decision(rows=[], outputs=[])) == "assignment v7: no row matched"
    assert describe_decision(_decision(error="fact 'risk_level': unknown")) == (
        "assignment v7: could not decide (fact 'risk_level': unknown)"
    )
