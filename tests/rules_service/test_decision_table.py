"""Decision tables: cell syntax, the JSON document, its schema messages and its checksum."""

import copy
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_service.decision_table import (
    Between,
    Cell,
    Compare,
    HitPolicy,
    Kind,
    TableError,
    checksum,
    from_json,
    parse_cell,
    to_json,
)
from rules_service.facts import FACTS
from tests.rules_service.conftest import table_document

DPD, AMOUNT, RISK, REGION, HOLD, OPENED, BUCKET = (
    FACTS[name]
    for name in ("dpd", "overdue_amount", "risk_level", "region", "on_hold", "opened_on", "bucket")
)


@pytest.mark.parametrize(
    ("fact", "text", "cell", "canonical"),
    [
        (DPD, "-", Cell(), "-"),
        (DPD, " - ", Cell(), "-"),
        (DPD, ">= 90", Cell((Compare(">=", 90),)), ">= 90"),
        (DPD, ">=90", Cell((Compare(">=", 90),)), ">= 90"),
        (DPD, "> 90", Cell((Compare(">", 90),)), "> 90"),
        (DPD, "< 30", Cell((Compare("<", 30),)), "< 30"),
        (DPD, "<= 30", Cell((Compare("<=", 30),)), "<= 30"),
        (DPD, "5", Cell((Compare("=", 5),)), "5"),
        (DPD, "= 5", Cell((Compare("=", 5),)), "5"),
        (DPD, "!= 5", Cell((Compare("!=", 5),)), "!= 5"),
        (DPD, "-5", Cell((Compare("=", -5),)), "-5"),
        (DPD, "[30..60)", Cell((Between(30, 60, True, False),)), "[30..60)"),
        (DPD, "[30..60]", Cell((Between(30, 60, True, True),)), "[30..60]"),
        (DPD, "(30..60]", Cell((Between(30, 60, False, True),)), "(30..60]"),
        (DPD, "( 30 .. 60 )", Cell((Between(30, 60, False, False),)), "(30..60)"),
        (DPD, "[5..5]", Cell((Between(5, 5, True, True),)), "[5..5]"),
        (DPD, "< 10, > 100", Cell((Compare("<", 10), Compare(">", 100))), "< 10, > 100"),
        (DPD, "not(5, [10..20))", Cell((Compare("=", 5), Between(10, 20, True, False)), True),
         "not(5, [10..20))"),
        (AMOUNT, ">= 50000", Cell((Compare(">=", 50000.0),)), ">= 50000"),
        (AMOUNT, "< 0.5", Cell((Compare("<", 0.5),)), "< 0.5"),
        (AMOUNT, "< 1e-5", Cell((Compare("<", 0.00001),)), "< 0.00001"),
        (AMOUNT, "[0.25..0.5)", Cell((Between(0.25, 0.5, True, False),)), "[0.25..0.5)"),
        (RISK, '"HIGH","MEDIUM"', Cell((Compare("=", "HIGH"), Compare("=", "MEDIUM"))),
         '"HIGH", "MEDIUM"'),
        (RISK, 'not("LOW")', Cell((Compare("=", "LOW"),), True), 'not("LOW")'),
        (RISK, 'NOT ( "LOW" )', Cell((Compare("=", "LOW"),), True), 'not("LOW")'),
        (RISK, '!= "LOW"', Cell((Compare("!=", "LOW"),)), '!= "LOW"'),
        (BUCKET, '"M4+"', Cell((Compare("=", "M4+"),)), '"M4+"'),
        (REGION, '"北京", "广东"', Cell((Compare("=", "北京"), Compare("=", "广东"))),
         '"北京", "广东"'),
        (REGION, '"say \\"hi\\", ok"', Cell((Compare("=", 'say "hi", ok'),)),
         '"say \\"hi\\", ok"'),
        (REGION, '""', Cell((Compare("=", ""),)), '""'),
        (HOLD, "true", Cell((Compare("=", True),)), "true"),
        (HOLD, "False", Cell((Compare("=", False),)), "false"),
        (HOLD, "!= true", Cell((Compare("!=", True),)), "!= true"),
        (HOLD, "not(true)", Cell((Compare("=", True),), True), "not(true)"),
        (OPENED, ">= 2025-01-01", Cell((Compare(">=", date(2025, 1, 1)),)), ">= 2025-01-01"),
        (OPENED, '< date("2025-02-01")', Cell((Compare("<", date(2025, 2, 1)),)), "< 2025-02-01"),
        (OPENED, "[2025-01-01..2025-02-01)",
         Cell((Between(date(2025, 1, 1), date(2025, 2, 1), True, False),)),
         "[2025-01-01..2025-02-01)"),
    ],
)  # fmt: skip
def test_every_test_syntax_parses_and_renders_canonically(fact, text, cell, canonical):
    parsed = parse_cell(text, fact)
    assert parsed == cell
    assert parsed.text == canonical
    assert parse_cell(canonical, fact) == parsed


def _cell_error(fact, text):
    document = table_document([("R7", {fact.name: text})], inputs=[fact.name], name="cells")
    with pytest.raises(TableError) as caught:
        from_json(document)
    return caught.value


@pytest.mark.parametrize(
    ("fact", "text", "reason"),
    [
        (DPD, "", "the cell is empty; write - for any value"),
        (DPD, ">=", "a value is missing at the end"),
        (DPD, ">= abc", "dpd is integer; abc is not a value of that type"),
        (DPD, ">= 30.5", "dpd is an integer; 30.5 is not a whole number"),
        (DPD, '"90"', 'dpd is integer; "90" is quoted text'),
        (DPD, "[60..30)", "the interval is empty"),
        (DPD, "[30..30)", "the interval is empty"),
        (DPD, "[30..60", "an interval ends with ]"),
        (DPD, "[30,60]", "an interval is written [low..high]"),
        (DPD, "30 60", "unexpected '60'; separate tests with a comma"),
        (DPD, "5,", "a test is missing"),
        (DPD, "- , 5", "- (any value) stands alone"),
        (DPD, "not 5", "write a negation as not("),
        (DPD, "not()", "write a negation as not("),
        (DPD, ">= 99999999999999999999", "outside ±2**53"),
        (DPD, "true", "dpd is integer; true is a boolean"),
        (DPD, "2025-01-01", "dpd is integer; 2025-01-01 is a date"),
        (DPD, "~5", "dpd is integer; ~5 is not a value of that type"),
        (AMOUNT, ">= 1e16", "outside ±10**15"),
        (RISK, "HIGH", 'text values need double quotes: write "HIGH"'),
        (RISK, '"SEVERE"', '"SEVERE" is not one of LOW, MEDIUM, HIGH'),
        (RISK, '>= "HIGH"', ">= needs a number, integer or date column; risk_level is enum"),
        (REGION, "[1..2]", "an interval needs a number, integer or date column"),
        (REGION, "110000", 'write the value in quotes: "110000"'),
        (REGION, '"bad \\q escape"', "has an invalid escape"),
        (REGION, '"unterminated', "cannot read"),
        (BUCKET, "M4+", 'write "M4+"'),
        (HOLD, "yes", "write true or false, not yes"),
        (HOLD, "1", "on_hold is boolean; 1 is a number"),
        (HOLD, "> true", "> needs a number, integer or date column"),
        (OPENED, ">= 2025-02-30", "2025-02-30 is not a valid date"),
        (OPENED, ">= 5", "opened_on is date; 5 is a number"),
        (OPENED, "date(2025-01-01)", 'write a date as 2025-01-31 or date("2025-01-31")'),
    ],
)
def test_every_malformed_cell_is_reported_with_table_row_column_and_cell(fact, text, reason):
    error = _cell_error(fact, text)
    assert (error.table, error.version, error.row, error.column, error.cell) == (
        "cells",
        1,
        "R7",
        fact.name,
        text,
    )
    assert str(error).startswith(f"table cells v1, row R7, column {fact.name}, cell {text!r}: ")
    assert reason in error.reason


def test_a_boolean_cell_may_list_both_values_meaning_known():
    assert parse_cell("true, false", HOLD) == Cell((Compare("=", True), Compare("=", False)))


def test_a_cell_that_is_not_text_in_the_json_is_refused():
    error = _cell_error(DPD, 90)
    assert error.cell == "90"
    assert 'a cell is text such as ">= 90"' in error.reason


# ---- documents --------------------------------------------------------------------------------

GOOD = table_document(
    [("R1", {"dpd": ">= 90"}), ("R2", {"dpd": "[30..60)", "risk_level": '"HIGH"'})],
    inputs=["dpd", "risk_level"],
    name="sample",
)


def _broken(change):
    document = copy.deepcopy(GOOD)
    change(document)
    with pytest.raises(TableError) as caught:
        from_json(document)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("rows"), "table sample v1, at (document): missing key 'rows'"),
        (lambda d: d.update(hitpolicy="FIRST"), "unknown key 'hitpolicy' (known keys:"),
        (lambda d: d.update(format=2), "unsupported format 2; expected 1"),
        (lambda d: d.update(format=True), "unsupported format True"),
        (lambda d: d.update(name="Bad Name"), "at name: the table name must be"),
        (lambda d: d.update(name="has__double"), "at name: the table name must be"),
        (lambda d: d.update(version=0), "table sample: the version must be a whole number"),
        (lambda d: d.update(name=5), "at name: the table name must be"),
        (lambda d: d.update(version="1"), "the version must be a whole number from 1, found '1'"),
        (lambda d: d.update(kind="collections"), "at kind: expected one of assignment, priority"),
        (lambda d: d.update(hit_policy="ANY"), "expected one of FIRST, UNIQUE, PRIORITY, COLLECT"),
        (lambda d: d.update(description="x"), "at description: expected a JSON object"),
        (lambda d: d.update(description={"fr": "x"}), "unknown key 'fr'"),
        (lambda d: d.update(inputs=[]), "at inputs: expected a non-empty JSON list"),
        (lambda d: d["inputs"][0].update(fact="dpdd"), "unknown fact 'dpdd'; did you mean 'dpd'?"),
        (lambda d: d["inputs"][0].update(type="number"),
         "column dpd: declared 'number' but the fact catalogue says 'integer'"),
        (lambda d: d["inputs"].append({"fact": "dpd", "type": "integer"}),
         "column dpd: the same fact is used by two columns"),
        (lambda d: d["inputs"].__setitem__(slice(None), [{"fact": "dpd", "type": "integer"}] * 251),
         "at most 250 entries"),
        (lambda d: d.update(outputs=[{"name": "alert", "type": "text"}]),
         "a alert table must have an output column 'severity'"),
        (lambda d: d["outputs"][0].update(type="date"), "output type must be one of"),
        (lambda d: d["outputs"][0].update(values=["a"]), "enum outputs, and only they"),
        (lambda d: d["outputs"][1].update(values=["a", "a"]), "distinct, non-empty texts"),
        (lambda d: d["outputs"].append({"name": "alert", "type": "text"}),
         "column alert: two output columns have this name"),
        (lambda d: d["outputs"].append({"name": "sid", "type": "text"}), "reserved name"),
        (lambda d: d.update(hit_policy="PRIORITY", outputs=[
            {"name": "alert", "type": "text"}, {"name": "severity", "type": "text"}]),
         "hit policy PRIORITY ranks rows by the order of an enum output's values"),
        (lambda d: d.update(rows=[]), "at rows: expected a non-empty JSON list"),
        (lambda d: d["rows"][1].update(id="R1"), "row R1: two rows have this id"),
        (lambda d: d["rows"][1].update(id="R 2"), "at rows[1].id: a row id must be"),
        (lambda d: d["rows"][1].pop("then"), "at rows[1]: missing key 'then'"),
        (lambda d: d["rows"][1].update(when=["-"]), "row R2: when is a JSON object"),
        (lambda d: d["rows"][1]["when"].update(dpdd="1"),
         "row R2: no input column 'dpdd' (columns: dpd, risk_level)"),
        (lambda d: d["rows"][1]["then"].pop("severity"),
         "row R2, column severity: no value for this output (write null for none)"),
        (lambda d: d["rows"][1]["then"].update(team="x"), "row R2: no output column 'team'"),
        (lambda d: d["rows"][1]["then"].update(severity="fatal"),
         "row R2, column severity: 'fatal' is not one of critical, warning, info"),
        (lambda d: d["rows"][1]["then"].update(alert=5), "row R2, column alert: expected text"),
        (lambda d: d["rows"][1].update(annotation=5), "row R2: an annotation is text"),
    ],
)  # fmt: skip
def test_every_malformed_document_gets_a_clear_message(change, message):
    assert message in _broken(change)


@pytest.mark.parametrize(
    ("output", "value", "expected", "message"),
    [
        ({"type": "integer"}, 80, 80, None),
        ({"type": "integer"}, 80.0, 80, None),
        ({"type": "integer"}, 80.5, None, "expected a whole number"),
        ({"type": "integer"}, True, None, "expected a number"),
        ({"type": "number"}, 0.5, 0.5, None),
        ({"type": "number"}, "0.5", None, "expected a number"),
        ({"type": "boolean"}, False, False, None),
        ({"type": "boolean"}, 0, None, "expected true or false"),
        ({"type": "text"}, None, None, None),
    ],
)
def test_output_values_are_typed(output, value, expected, message):
    document = copy.deepcopy(GOOD)
    document["outputs"].append({"name": "extra", **output})
    for row in document["rows"]:
        row["then"]["extra"] = value
    if message is None:
        assert from_json(document).rows[0].then["extra"] == expected
    else:
        with pytest.raises(TableError, match=message):
            from_json(document)


def test_invalid_json_text_names_line_and_column():
    with pytest.raises(TableError, match="not valid JSON: Expecting ',' delimiter at line 2"):
        from_json('{"format": 1\n "name": "x"}')


def test_a_document_reads_into_the_table_model():
    table = from_json(json.dumps(GOOD))
    assert (table.name, table.kind, table.version, table.hit_policy) == (
        "sample",
        Kind.ALERT,
        1,
        HitPolicy.FIRST,
    )
    assert table.qualified_name == "sample__v1"
    assert table.fact_names == ("dpd", "risk_level")
    assert [row.id for row in table.rows] == ["R1", "R2"]
    assert table.rows[0].when[1] == Cell()  # a column left out of "when" is "-"
    assert table.rows[1].then == {"alert": "R2", "severity": "warning"}


def test_the_canonical_json_round_trips_and_its_checksum_ignores_how_it_was_written():
    table = from_json(GOOD)
    text = to_json(table)
    assert from_json(text) == table
    assert to_json(from_json(text)) == text
    sloppy = copy.deepcopy(GOOD)
    sloppy["rows"][0]["when"]["dpd"] = ">=90"
    sloppy["rows"][0]["when"]["risk_level"] = " - "
    reordered = dict(reversed(list(sloppy.items())))
    assert checksum(from_json(reordered)) == checksum(table)
    changed = copy.deepcopy(GOOD)
    changed["rows"][0]["when"]["dpd"] = "> 90"
    assert checksum(from_json(changed)) != checksum(table)
    assert len(checksum(table)) == 64


def _tests_for(values):
    compare = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "=", "!="]), values)
    between = st.tuples(values, values, st.booleans(), st.booleans()).filter(
        lambda t: t[0] < t[1] or (t[0] == t[1] and t[2] and t[3])
    )
    return st.one_of(compare, between.map(lambda t: Between(*t)))


@given(
    st.lists(
        _tests_for(st.floats(-1e14, 1e14, allow_nan=False).map(lambda x: x + 0.0)),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_any_number_cell_renders_to_text_that_parses_back_to_itself(tests, negated):
    cell = Cell(tuple(tests), negated)
    assert parse_cell(cell.text, AMOUNT) == cell


@given(st.lists(st.text(max_size=8), min_size=1, max_size=4), st.booleans())
def test_any_text_cell_renders_to_text_that_parses_back_to_itself(values, negated):
    cell = Cell(tuple(Compare("=", value) for value in values), negated)
    assert parse_cell(cell.text, REGION) == cell
