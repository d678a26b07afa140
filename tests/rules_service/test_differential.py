"""Differential test: durable-rules and the plain-Python reference give the same answers.

For every shipped table, and for tables generated at random, facts are drawn at, just inside
and just outside every bound written in the rows (plus unknown values and odd representations
such as "120" for 120), and the engine's hits must equal the reference's, including which
UNIQUE conflicts are raised, both when the engine decides the case itself and when the service
reuses its answer for an earlier case of the same input class, given the facts raw or typed once
for the whole catalogue, as the service reads them.
"""

import dataclasses
import itertools
import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_service.decision_table import Between, Cell, Compare, from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.facts import FACTS, FactType, normalise_facts
from rules_service.hits import UniqueHitError
from rules_service.reference import evaluate

SHIPPED = default_policy()
_NAMES = itertools.count(1)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def outcome(evaluate_one):
    try:
        return ("hits", evaluate_one())
    except UniqueHitError as conflict:
        return ("unique", conflict.row_ids)


def bounds(table, fact_name):
    """Every literal the rows compare ``fact_name`` with."""
    column = table.fact_names.index(fact_name)
    values = []
    for row in table.rows:
        for test in row.when[column].tests:
            values.extend([test.low, test.high] if isinstance(test, Between) else [test.value])
    return values


def near(fact, literals):
    """Values at, just below and just above each literal."""
    values = []
    for value in literals:
        if fact.type is FactType.INTEGER:
            values += [value - 1, value, value + 1]
        elif fact.type is FactType.NUMBER:
            values += [
                value,
                math.nextafter(value, -math.inf),
                math.nextafter(value, math.inf),
                value - 0.01,
                value + 0.01,
                value - 1,
                value + 1,
            ]
        elif fact.type is FactType.DATE:
            values += [value - timedelta(days=1), value, value + timedelta(days=1)]
        else:
            values.append(value)
    return values


def values_for(fact, literals):
    """Raw values for ``fact``: near the table's bounds, anywhere, unknown, or as text."""
    typed = {
        FactType.INTEGER: st.integers(-1000, 100_000),
        FactType.NUMBER: st.floats(-1e6, 1e6, allow_nan=False),
        FactType.DATE: st.dates(date(2000, 1, 1), date(2040, 12, 31)),
        FactType.TEXT: st.text(max_size=6),
        FactType.ENUM: st.sampled_from(fact.values or ("?",)),
        FactType.BOOLEAN: st.booleans(),
    }[fact.type]
    candidates = near(fact, literals)
    base = st.one_of(st.sampled_from(candidates), typed) if candidates else typed
    if fact.type is FactType.INTEGER:
        base = st.one_of(base, base.map(str))  # "120" must behave as 120
    elif fact.type is FactType.NUMBER:
        base = st.one_of(base, base.map(lambda x: Decimal(repr(x))))
    elif fact.type is FactType.DATE:
        base = st.one_of(base, base.map(date.isoformat))
    return st.one_of(st.none(), base)


def facts_for(table):
    return st.fixed_dictionaries(
        {name: values_for(FACTS[name], bounds(table, name)) for name in table.fact_names}
    )


def by_class_on_typed_facts(rules_engine, name, facts):
    """The service's answer when the case's facts come typed once for the whole catalogue, as
    ``facts_of_cases`` reads them (so the engine does not type them again)."""
    typed = normalise_facts(facts)
    return outcome(lambda: rules_engine.evaluate_by_class(name, typed))


@pytest.fixture(scope="module")
def shipped(rules_engine):
    """The shipped tables, registered under names of their own (``differential_<name>``)."""
    registered = {}
    for kind, table in SHIPPED.items():
        copy = dataclasses.replace(table, name=f"differential_{table.name}")
        registered[kind] = (copy, rules_engine.register(copy))
    return registered


@pytest.mark.parametrize("kind", list(SHIPPED))
@SETTINGS
@given(data=st.data())
def test_every_shipped_table_gives_the_same_answers_in_the_engine(
    rules_engine, shipped, kind, data
):
    table, name = shipped[kind]
    facts = data.draw(facts_for(table), label="facts")
    expected = outcome(lambda: evaluate(table, facts))
    assert outcome(lambda: rules_engine.evaluate(name, facts)) == expected
    # The service's path: the engine's answer for an earlier case of the same input class
    # (every column test answering the same) is reused; it must be this case's answer too.
    assert outcome(lambda: rules_engine.evaluate_by_class(name, facts)) == expected
    assert by_class_on_typed_facts(rules_engine, name, facts) == expected


# ---- generated tables -------------------------------------------------------------------------

POOLS = {
    "dpd": [-1, 0, 1, 30, 31, 90],
    "payment_ratio_vs_history": [0.0, 0.1, 0.25, 0.5, 1e-05, 49999.99],
    "opened_on": [date(2025, 1, 1), date(2025, 1, 2), date(2025, 2, 1)],
    "region": ["", "北京", "120", 'a"b\\c', "x y", "a\x00b", "a"],
    "risk_level": list(FACTS["risk_level"].values),
    "on_hold": [True, False],
}


def cell_tests_for(fact_name):
    fact = FACTS[fact_name]
    literal = st.sampled_from(POOLS[fact_name])
    if fact.type is FactType.BOOLEAN:
        return st.builds(Compare, st.sampled_from(["=", "!="]), literal)
    if fact.type not in (FactType.INTEGER, FactType.NUMBER, FactType.DATE):
        return st.builds(Compare, st.sampled_from(["=", "!="]), literal)
    compare = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "=", "!="]), literal)
    between = (
        st.tuples(literal, literal, st.booleans(), st.booleans())
        .filter(lambda t: t[0] < t[1] or (t[0] == t[1] and t[2] and t[3]))
        .map(lambda t: Between(*t))
    )
    return st.one_of(compare, between)


def cells_for(fact_name):
    return st.one_of(
        st.just(Cell()),
        st.builds(
            Cell,
            st.lists(cell_tests_for(fact_name), min_size=1, max_size=3).map(tuple),
            st.booleans(),
        ),
    )


@st.composite
def generated_tables(draw):
    inputs = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=3, unique=True))
    policy = draw(st.sampled_from(["FIRST", "UNIQUE", "PRIORITY", "COLLECT"]))
    rows = []
    for index in range(draw(st.integers(1, 6))):
        cells = {name: draw(cells_for(name)).text for name in inputs}
        severity = draw(st.sampled_from(["critical", "warning", "info", None]))
        rows.append(
            {
                "id": f"R{index + 1}",
                "when": cells,
                "then": {"alert": f"a{index}", "severity": severity},
            }
        )
    return from_json(
        {
            "format": 1,
            "name": f"generated{next(_NAMES)}",
            "kind": "alert",
            "version": 1,
            "hit_policy": policy,
            "inputs": [{"fact": name, "type": FACTS[name].type.value} for name in inputs],
            "outputs": [
                {"name": "alert", "type": "text"},
                {"name": "severity", "type": "enum", "values": ["critical", "warning", "info"]},
            ],
            "rows": rows,
        }
    )


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(table=generated_tables(), data=st.data())
def test_generated_tables_give_the_same_answers_in_the_engine(rules_engine, table, data):
    name = rules_engine.register(table)
    facts_strategy = st.fixed_dictionaries(
        {n: values_for(FACTS[n], POOLS[n]) for n in table.fact_names}
    )
    for facts in data.draw(st.lists(facts_strategy, min_size=5, max_size=5), label="facts"):
        expected = outcome(lambda f=facts: evaluate(table, f))
        assert outcome(lambda f=facts: rules_engine.evaluate(name, f)) == expected, (
            to_dict(table),
            facts,
        )
        assert outcome(lambda f=facts: rules_engine.evaluate_by_class(name, f)) == expected
        assert by_class_on_typed_facts(rules_engine, name, facts) == expected
