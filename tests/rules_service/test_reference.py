"""The reference evaluator: hit policies exactly, unknown facts matching only "-"."""

import pytest

from rules_service.facts import FactError
from rules_service.hits import Hit, UniqueHitError
from rules_service.reference import evaluate, matching_rows

ROWS = [
    ("R1", {"dpd": ">= 90"}),
    ("R2", {"dpd": ">= 30"}),
    ("R3", {"dpd": "-"}),
]


def ids(hits):
    return [hit.row_id for hit in hits]


def test_first_gives_the_first_matching_row_in_table_order(make_table):
    table = make_table(ROWS, policy="FIRST")
    assert ids(evaluate(table, {"dpd": 95})) == ["R1"]
    assert ids(evaluate(table, {"dpd": 45})) == ["R2"]
    assert ids(evaluate(table, {"dpd": 5})) == ["R3"]
    assert evaluate(table, {"dpd": 95}) == [Hit("R1", {"alert": "R1", "severity": "warning"})]


def test_collect_gives_every_matching_row_in_table_order(make_table):
    table = make_table(ROWS, policy="COLLECT")
    assert ids(evaluate(table, {"dpd": 95})) == ["R1", "R2", "R3"]
    assert ids(evaluate(table, {"dpd": 45})) == ["R2", "R3"]


def test_no_matching_row_gives_no_hits(make_table):
    table = make_table([("R1", {"dpd": ">= 90"})], policy="FIRST")
    assert evaluate(table, {"dpd": 5}) == []


def test_unique_gives_the_one_match_and_refuses_two(make_table):
    table = make_table(
        [("R1", {"dpd": ">= 90"}), ("R2", {"dpd": "[30..90)"}), ("R3", {"dpd": ">= 60"})],
        policy="UNIQUE",
    )
    assert ids(evaluate(table, {"dpd": 45})) == ["R2"]
    assert evaluate(table, {"dpd": 5}) == []
    with pytest.raises(UniqueHitError) as caught:
        evaluate(table, {"dpd": 95})
    assert caught.value.row_ids == ("R1", "R3")
    assert str(caught.value) == (
        f"table {table.qualified_name}: hit policy UNIQUE but rows R1, R3 all match"
    )


def test_priority_ranks_by_the_declared_order_of_output_values_then_row_order(make_table):
    rows = [
        ("R1", {"dpd": ">= 0"}, {"alert": "low", "severity": "info"}),
        ("R2", {"dpd": ">= 30"}, {"alert": "mid", "severity": "warning"}),
        ("R3", {"dpd": ">= 60"}, {"alert": "high-a", "severity": "critical"}),
        ("R4", {"dpd": ">= 60"}, {"alert": "high-b", "severity": "critical"}),
        ("R5", {"dpd": "-"}, {"alert": "none", "severity": None}),
    ]
    table = make_table(rows, policy="PRIORITY")
    # severity values are declared critical, warning, info: critical ranks first.
    assert ids(evaluate(table, {"dpd": 95})) == ["R3"]  # R3 and R4 tie: the earlier row
    assert ids(evaluate(table, {"dpd": 45})) == ["R2"]
    assert ids(evaluate(table, {"dpd": 5})) == ["R1"]
    assert ids(evaluate(table, {"dpd": None})) == ["R5"]  # null ranks below every value


def test_an_unknown_fact_matches_only_the_any_cell_even_when_negated(make_table):
    table = make_table(
        [
            ("NOT", {"risk_level": 'not("LOW")'}),
            ("NEQ", {"risk_level": '!= "LOW"'}),
            ("OUT", {"dpd": "not([30..60))"}),
            ("ANY", {"dpd": "-", "risk_level": "-"}),
        ],
        inputs=["dpd", "risk_level"],
        policy="COLLECT",
    )
    assert ids(evaluate(table, {})) == ["ANY"]
    assert ids(evaluate(table, {"dpd": None, "risk_level": None})) == ["ANY"]
    assert ids(evaluate(table, {"dpd": 70, "risk_level": "HIGH"})) == ["NOT", "NEQ", "OUT", "ANY"]
    assert ids(evaluate(table, {"dpd": 45, "risk_level": "LOW"})) == ["ANY"]


def test_facts_are_normalised_before_matching(make_table):
    table = make_table([("R1", {"dpd": "> 100"})], policy="FIRST")
    assert ids(evaluate(table, {"dpd": "120"})) == ["R1"]  # not compared as text
    with pytest.raises(FactError, match="'dpd': a boolean is not an integer"):
        evaluate(table, {"dpd": True})


def test_matching_rows_lists_every_match_whatever_the_policy(make_table):
    table = make_table(ROWS, policy="FIRST")
    assert [row.id for row in matching_rows(table, {"dpd": 95})] == ["R1", "R2", "R3"]
