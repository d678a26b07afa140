"""The plain-Python evaluator of decision tables: the meaning the engine must reproduce.

It is the oracle of the differential test and the evaluator of the authoring tools (simulation
over the portfolio, static analysis), which need no engine, no sids and no thread discipline.
A fact that is missing or ``None`` matches only ``-``, including under ``not(...)``, the same as
durable-rules, where a test on an absent field never matches.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from rules_service.decision_table import Between, Cell, DecisionTable, HitPolicy, Row, Test
from rules_service.facts import FactValue, typed_facts
from rules_service.hits import Hit, UniqueHitError

_COMPARE: Mapping[str, Callable[[object, object], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


def passes(test: Test, value: FactValue) -> bool:
    """Whether a known value passes one test (not for ``None``; see :func:`cell_matches`)."""
    if isinstance(test, Between):
        above = value >= test.low if test.low_closed else value > test.low  # type: ignore[operator]
        below = value <= test.high if test.high_closed else value < test.high  # type: ignore[operator]
        return above and below
    return _COMPARE[test.op](value, test.value)


def cell_matches(cell: Cell, value: FactValue | None) -> bool:
    if not cell.tests:
        return True
    if value is None:
        return False
    for test in cell.tests:
        if passes(test, value):
            return not cell.negated
    return cell.negated


def row_matches(table: DecisionTable, row: Row, facts: Mapping[str, FactValue | None]) -> bool:
    """Whether every cell of ``row`` passes, on facts already normalised."""
    for fact, cell in zip(table.inputs, row.when, strict=True):
        if cell.tests and not cell_matches(cell, facts[fact.name]):
            return False
    return True


def matching_rows(table: DecisionTable, facts: Mapping[str, object]) -> list[Row]:
    """Every row that matches, in table order, whatever the hit policy (for analysis tools)."""
    values = typed_facts(facts, table.fact_names)
    return [row for row in table.rows if row_matches(table, row, values)]


def evaluate(table: DecisionTable, facts: Mapping[str, object]) -> list[Hit]:
    """The hits ``table`` gives for ``facts`` under its hit policy.

    Raises ``FactError`` for a fact that is not of its declared type and ``UniqueHitError`` when
    a UNIQUE table matches more than one row.
    """
    rows = matching_rows(table, facts)
    if table.hit_policy is HitPolicy.FIRST:
        rows = rows[:1]
    elif table.hit_policy is HitPolicy.PRIORITY:
        rows = [min(rows, key=table.priority_rank)] if rows else []
    elif table.hit_policy is HitPolicy.UNIQUE and len(rows) > 1:
        raise UniqueHitError(table.qualified_name, [row.id for row in rows])
    return [Hit(row.id, dict(row.then)) for row in rows]
