"""The compiler: salience per hit policy, conditions per operator, facts as the engine sees them.

Operators and normalisation are checked through the real engine, next to the reference.
"""

import dataclasses
import json
from datetime import date
from decimal import Decimal

import pytest

from rules_service import compiler
from rules_service.compiler import (
    DISCRIMINATOR,
    NO_MATCH_RULE,
    CompiledCell,
    RulesetError,
    compile_table,
    locate_engine_error,
    render_json,
)
from rules_service.engine import _refused_by_engine
from rules_service.reference import evaluate


def test_every_rule_starts_with_the_discriminator_and_is_named_by_its_row(make_table):
    table = make_table(
        [("R1", {"dpd": ">= 90", "risk_level": '"HIGH", "MEDIUM"'}), ("R2", {})],
        inputs=["dpd", "risk_level"],
    )
    compiled = compile_table(table)
    assert [rule.name for rule in compiled.rules] == ["R1", "R2"]
    assert compiled.rules[0].definition() == {
        "all": [
            {
                "m": {
                    "$and": [
                        {DISCRIMINATOR: 1},
                        {"$gte": {"dpd": 90}},
                        {"$or": [{"risk_level": "HIGH"}, {"risk_level": "MEDIUM"}]},
                    ]
                }
            }
        ],
        "pri": 0,
    }
    assert compiled.rules[1].definition() == {"all": [{"m": {DISCRIMINATOR: 1}}], "pri": 1}


@pytest.mark.parametrize(
    ("policy", "as_fact", "order"),
    [
        ("FIRST", False, ["R1", "R2", "R3", "R4"]),
        ("UNIQUE", True, ["R1", "R2", "R3", "R4"]),
        ("COLLECT", True, ["R1", "R2", "R3", "R4"]),
        # severity declared critical, warning, info; within a rank, row order
        ("PRIORITY", False, ["R2", "R4", "R3", "R1"]),
    ],
)
def test_salience_makes_the_hit_policy_exact(make_table, policy, as_fact, order):
    rows = [
        ("R1", {}, {"alert": "a", "severity": "info"}),
        ("R2", {}, {"alert": "b", "severity": "critical"}),
        ("R3", {}, {"alert": "c", "severity": "warning"}),
        ("R4", {}, {"alert": "d", "severity": "critical"}),
    ]
    compiled = compile_table(make_table(rows, policy=policy))
    assert compiled.as_fact is as_fact
    ranked = sorted(compiled.rules, key=lambda rule: rule.pri)
    assert [rule.name for rule in ranked] == order
    assert [rule.pri for rule in ranked] == [0, 1, 2, 3]


def test_engine_json_never_writes_exponents():
    assert render_json({"n": [1e-05, 1e14, 0.5, 3, "x", None, True]}) == (
        '{"n":[0.00001,100000000000000,0.5,3,"x",null,true]}'
    )


def test_the_message_carries_only_the_tables_columns_typed_for_the_engine(make_table):
    table = make_table(
        [("R1", {})], inputs=["dpd", "on_hold", "opened_on", "region", "payment_ratio_vs_history"]
    )
    message = compile_table(table).message_json(
        {
            "dpd": 45,
            "on_hold": True,
            "opened_on": date(2025, 1, 1),
            "region": "北京",
            "payment_ratio_vs_history": None,
        },
        "e1",
    )
    assert json.loads(message) == {
        "sid": "e1",
        DISCRIMINATOR: 1,
        "dpd": 45,
        "on_hold": 1,
        "opened_on": date(2025, 1, 1).toordinal(),
        "region": "北京",
    }


OPERATOR_CASES = [
    # fact, cell, value, matches
    ("dpd", ">= 90", 90, True),
    ("dpd", ">= 90", 89, False),
    ("dpd", "> 90", 90, False),
    ("dpd", "> 90", 91, True),
    ("dpd", "<= 30", 30, True),
    ("dpd", "<= 30", 31, False),
    ("dpd", "< 30", 30, False),
    ("dpd", "< 30", -5, True),
    ("dpd", "5", 5, True),
    ("dpd", "= 5", 6, False),
    ("dpd", "!= 5", 5, False),
    ("dpd", "!= 5", 6, True),
    ("dpd", "[30..60)", 30, True),
    ("dpd", "[30..60)", 60, False),
    ("dpd", "(30..60]", 30, False),
    ("dpd", "(30..60]", 60, True),
    ("dpd", "[30..60]", 45, True),
    ("dpd", "(30..60)", 29, False),
    ("dpd", "< 10, > 100", 101, True),
    ("dpd", "< 10, > 100", 50, False),
    # overlapping tests: the engine fires the row once per matching branch; one hit counts
    ("dpd", "< 10, < 20", 5, True),
    ("dpd", "[0..10], [5..20], 7", 7, True),
    ("dpd", "not([30..60))", 29, True),
    ("dpd", "not([30..60))", 60, True),
    ("dpd", "not([30..60))", 45, False),
    ("dpd", "not(5, 6)", 6, False),
    ("dpd", "not(5, 6)", 7, True),
    ("dpd", "not(< 10)", 10, True),
    ("overdue_amount", ">= 50000", Decimal("50000.00"), True),
    ("overdue_amount", ">= 50000", Decimal("49999.99"), False),
    ("payment_ratio_vs_history", "< 0.5", 0.49999999999999994, True),
    ("payment_ratio_vs_history", "< 0.5", 0.5, False),
    ("payment_ratio_vs_history", "[0.00001..0.00002)", 0.000015, True),
    ("payment_ratio_vs_history", "[0.00001..0.00002)", 0.00002, False),
    ("payment_ratio_vs_history", "= 0.1", 0.1, True),
    ("payment_ratio_vs_history", "= 0.3", 0.1 + 0.2, False),
    ("risk_level", '"HIGH", "MEDIUM"', "MEDIUM", True),
    ("risk_level", '"HIGH", "MEDIUM"', "LOW", False),
    ("risk_level", 'not("LOW")', "HIGH", True),
    ("risk_level", 'not("LOW")', "LOW", False),
    ("risk_level", '!= "LOW"', "LOW", False),
    ("bucket", '"M4+"', "M4+", True),
    ("region", '"北京"', "北京", True),
    ("region", '"北京"', "北京市", False),
    ("region", '"120"', "120", True),
    ("region", '"120"', "120.0", False),
    ("region", '"120"', 120, True),  # an integer given for a text fact is read as its text
    ("region", '""', "", True),
    ("region", '"a\\"b\\\\c"', 'a"b\\c', True),
    ("region", '"a\\u0000b"', "a\x00b", True),
    ("region", '"a\\u0000b"', "a\x00c", False),  # compared whole, not as C strings
    ("on_hold", "true", True, True),
    ("on_hold", "true", 1, True),
    ("on_hold", "true", "true", True),
    ("on_hold", "false", False, True),
    ("on_hold", "false", True, False),
    ("on_hold", "!= true", False, True),
    ("on_hold", "not(false)", True, True),
    ("opened_on", ">= 2025-01-01", date(2025, 1, 1), True),
    ("opened_on", ">= 2025-01-01", "2024-12-31", False),
    ("opened_on", "[2025-01-01..2025-02-01)", "2025-01-31", True),
    ("opened_on", "[2025-01-01..2025-02-01)", date(2025, 2, 1), False),
    # unknown values match nothing but "-", whatever the operator
    ("dpd", "!= 5", None, False),
    ("dpd", "not([30..60))", None, False),
    ("risk_level", 'not("LOW")', None, False),
    ("on_hold", "false", None, False),
    ("dpd", "-", None, True),
]


@pytest.mark.parametrize(("fact", "cell", "value", "matches"), OPERATOR_CASES)
def test_every_operator_through_the_engine_agrees_with_the_reference(
    rules_engine, make_table, fact, cell, value, matches
):
    table = make_table([("R1", {fact: cell})], inputs=[fact], policy="COLLECT")
    name = rules_engine.register(table)
    facts = {fact: value}
    expected = ["R1"] if matches else []
    assert [hit.row_id for hit in evaluate(table, facts)] == expected
    assert [hit.row_id for hit in rules_engine.evaluate(name, facts)] == expected


def test_strings_and_numbers_give_the_same_answer(rules_engine, make_table):
    """durable-rules alone would compare "120" > 30 as text and miss it; we normalise first."""
    table = make_table([("R1", {"dpd": "> 30"})], policy="FIRST")
    name = rules_engine.register(table)
    for value in (120, "120", 120.0, Decimal("120"), " 120 "):
        assert [hit.row_id for hit in rules_engine.evaluate(name, {"dpd": value})] == ["R1"]
    assert rules_engine.evaluate(name, {"dpd": "5"}) == []


def _corrupt(compiled, row, operator):
    """The compiled table with one cell's condition using an operator the engine lacks."""
    rules = []
    for rule in compiled.rules:
        if rule.name == row:
            cell = rule.cells[0]
            bad = CompiledCell(cell.column, cell.text, {operator: cell.condition})
            rule = dataclasses.replace(rule, cells=(bad, *rule.cells[1:]))
        rules.append(rule)
    return dataclasses.replace(compiled, rules=tuple(rules))


def test_an_engine_error_in_a_cell_is_reported_with_table_row_and_cell(
    rules_engine, make_table, monkeypatch
):
    table = make_table(
        [("R1", {"dpd": ">= 90"}), ("R2", {"dpd": "< 30", "risk_level": '"HIGH"'})],
        inputs=["dpd", "risk_level"],
    )
    real_compile = compiler.compile_table
    monkeypatch.setattr(
        "rules_service.engine.compile_table", lambda t: _corrupt(real_compile(t), "R2", "$foo")
    )
    with pytest.raises(RulesetError) as caught:
        rules_engine.register(table)
    error = caught.value
    assert (error.table, error.version, error.row, error.column, error.cell, error.code) == (
        table.name,
        1,
        "R2",
        "dpd",
        "< 30",
        202,
    )
    assert str(error) == (
        f"table {table.name} v1, row R2, column dpd, cell '< 30': "
        "the rules engine refused it with error 202 (unknown operator)"
    )
    assert table.qualified_name not in rules_engine.registered


def test_an_engine_error_outside_any_cell_names_the_row(make_table):
    class ShapelessRule:
        """A compiled rule whose shape, not any cell, is wrong ("all" is not a list)."""

        name, row_index, pri, cells = "R9", 0, 0, ()

        def definition(self):
            return {"all": {"m": {DISCRIMINATOR: 1}}}

    table = make_table([("R9", {})])
    compiled = dataclasses.replace(compile_table(table), rules=(ShapelessRule(),))
    error = locate_engine_error(
        compiled, RuntimeError("Could not create ruleset, error code: 204"), _refused_by_engine
    )
    assert (error.table, error.row, error.cell, error.code) == (table.name, "R9", None, 204)
    assert "error 204 (malformed rule or value" in str(error)


def test_an_error_the_engine_does_not_number_is_still_located(make_table):
    table = make_table([("R1", {"dpd": "5"})])
    error = locate_engine_error(compile_table(table), KeyError("run"), lambda text: False)
    assert (error.table, error.row, error.code) == (table.name, None, None)
    assert "the rules engine refused it: KeyError: 'run'" in str(error)


def test_the_ruleset_ends_with_a_catch_all_so_every_message_is_handled(make_table):
    table = make_table([("R1", {"dpd": "5"}), ("R2", {"dpd": "6"})])
    definition = json.loads(compile_table(table).ruleset_json())
    assert list(definition) == ["R1", "R2", NO_MATCH_RULE]
    assert definition[NO_MATCH_RULE] == {"all": [{"m": {DISCRIMINATOR: 1}}], "pri": 2}
