"""Compiling a decision table into a durable-rules ruleset whose answers are the table's.

The compiler owns the type discipline the engine lacks. Facts reach the engine only after
:func:`rules_service.facts.normalise_facts`, and both facts and cell literals are written by the
same :func:`wire_value`: numbers as numbers in plain decimal notation (the engine refuses
``1e-05``), booleans as 0/1 (the engine mishandles booleans where numbers are expected), dates as
day ordinals, text as text; ``None`` is left out, and a test on an absent field never matches.

Salience makes the hit policy exact. Each row becomes one rule whose ``pri`` is its rank: row
order for FIRST, UNIQUE and COLLECT; for PRIORITY the rank of the row's outputs (DMN order of
declared output values), then row order. A posted event fires only the lowest-``pri`` matching
rule, which is the FIRST or PRIORITY answer; an asserted fact fires every matching rule in
``pri`` order, which is what UNIQUE (to see a second match) and COLLECT need.

Every condition starts with a discriminator field, so the engine's own state fact, which carries
no such field, can never match a rule.

A last rule, :data:`NO_MATCH_RULE`, matches every message at the lowest salience, so the engine
always handles it and always runs an action. That is not cosmetic: durable-rules 2.0.28 creates
the state of a sid without initialising its action context (``createStateNode`` leaves
``context.messages`` and ``context.stateFact`` as whatever ``malloc`` returned) and
``deleteStateNode`` frees both; only a completed action sets them to NULL. Deleting the state of
a message no rule handled therefore frees garbage pointers and crashes the process, depending on
what the heap held (reproduced under pytest: SIGSEGV/SIGABRT in ``delete_state``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rules_service.decision_table import (
    Cell,
    Compare,
    DecisionTable,
    HitPolicy,
    TableError,
    Test,
)
from rules_service.facts import FactValue, plain_number

DISCRIMINATOR = "decision_input"
# Row ids start with a letter or digit, so this name can never be a row's.
NO_MATCH_RULE = "__no_match__"

_OPERATORS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}
_NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "=": "!=", "!=": "="}

# What durable-rules' bare error codes mean, as far as a table author is concerned.
ENGINE_ERRORS = {
    102: "a rule's priority is not a number",
    105: "a rule has neither 'all' nor 'any'",
    202: "unknown operator",
    204: "malformed rule or value (for example a number written with an exponent)",
    302: "more than 255 properties in one fact",
    309: "no state for this evaluation",
    501: "invalid regular expression",
    508: "invalid regular expression",
}


class RulesetError(TableError):
    """The engine refused a compiled table or an evaluation, located as far as possible."""

    def __init__(self, reason: str, *, code: int | None = None, **where: Any) -> None:
        self.code = code
        super().__init__(reason, **where)


def wire_value(value: FactValue) -> int | float | str:
    """How a typed value is written to the engine, for facts and cell literals alike."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.toordinal()
    return value


def _scalar_json(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return plain_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {value!r} for the engine")


def render_json(value: object) -> str:
    """JSON the engine can read: like ``json.dumps`` but numbers never use exponents."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(k, ensure_ascii=False)}:{render_json(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(render_json(item) for item in value) + "]"
    return _scalar_json(value)


def _comparison(name: str, op: str, value: FactValue) -> dict[str, Any]:
    if op == "=":
        return {name: wire_value(value)}
    return {_OPERATORS[op]: {name: wire_value(value)}}


def _test_condition(name: str, test: Test, negated: bool) -> dict[str, Any]:
    if isinstance(test, Compare):
        return _comparison(name, _NEGATION[test.op] if negated else test.op, test.value)
    low_op = ">=" if test.low_closed else ">"
    high_op = "<=" if test.high_closed else "<"
    if negated:  # outside the interval: below it or above it
        return {
            "$or": [
                _comparison(name, _NEGATION[low_op], test.low),
                _comparison(name, _NEGATION[high_op], test.high),
            ]
        }
    return {"$and": [_comparison(name, low_op, test.low), _comparison(name, high_op, test.high)]}


def cell_condition(name: str, cell: Cell) -> dict[str, Any] | None:
    """The engine condition of one cell, ``None`` for ``-``; not(A, B) is not A and not B."""
    if cell.is_any:
        return None
    parts = [_test_condition(name, test, cell.negated) for test in cell.tests]
    if len(parts) == 1:
        return parts[0]
    return {"$and": parts} if cell.negated else {"$or": parts}


@dataclass(frozen=True)
class CompiledCell:
    column: str
    text: str
    condition: dict[str, Any]


@dataclass(frozen=True)
class CompiledRule:
    """One row as a rule: named by the row id, ranked by ``pri``, with one condition per cell."""

    name: str
    row_index: int
    pri: int
    cells: tuple[CompiledCell, ...]

    def definition(self) -> dict[str, Any]:
        conditions = [{DISCRIMINATOR: 1}, *(cell.condition for cell in self.cells)]
        match = conditions[0] if len(conditions) == 1 else {"$and": conditions}
        return {"all": [{"m": match}], "pri": self.pri}


@dataclass(frozen=True)
class CompiledTable:
    table: DecisionTable
    rules: tuple[CompiledRule, ...]

    @property
    def name(self) -> str:
        return self.table.qualified_name

    @property
    def as_fact(self) -> bool:
        """Post the facts as a fact (every matching rule fires) rather than as an event."""
        return self.table.hit_policy in (HitPolicy.UNIQUE, HitPolicy.COLLECT)

    def ruleset_json(self) -> str:
        """The rules, then the catch-all that makes every message handled (see module notes)."""
        definition = {rule.name: rule.definition() for rule in self.rules}
        definition[NO_MATCH_RULE] = {
            "all": [{"m": {DISCRIMINATOR: 1}}],
            "pri": len(self.rules),
        }
        return render_json(definition)

    def message_json(self, facts: Mapping[str, FactValue | None], sid: str) -> str:
        """One case's normalised facts as the engine message: only this table's columns (so never
        near the 255-property limit), the discriminator, and no field for an unknown value."""
        fields = [f'"sid":{json.dumps(sid)}', f'"{DISCRIMINATOR}":1']
        for name in self.table.fact_names:
            value = facts[name]
            if value is not None:
                fields.append(f'"{name}":{_scalar_json(wire_value(value))}')
        return "{" + ",".join(fields) + "}"


def compile_table(table: DecisionTable) -> CompiledTable:
    """The rules of ``table``, ranked so that the engine applies its hit policy exactly."""
    order = list(range(len(table.rows)))
    if table.hit_policy is HitPolicy.PRIORITY:
        order.sort(key=lambda index: (table.priority_rank(table.rows[index]), index))
    rules = []
    for pri, index in enumerate(order):
        row = table.rows[index]
        cells = []
        for fact, cell in zip(table.inputs, row.when, strict=True):
            condition = cell_condition(fact.name, cell)
            if condition is not None:
                cells.append(CompiledCell(fact.name, cell.text, condition))
        rules.append(CompiledRule(row.id, index, pri, tuple(cells)))
    return CompiledTable(table, tuple(rules))


def engine_error_code(error: BaseException) -> int | None:
    match = re.search(r"error code: (\d+)", str(error))
    return int(match.group(1)) if match else None


def describe_engine_error(error: BaseException) -> str:
    code = engine_error_code(error)
    if code is None:
        return f"the rules engine refused it: {type(error).__name__}: {error}"
    return f"the rules engine refused it with error {code} ({ENGINE_ERRORS.get(code, 'unknown')})"


def locate_engine_error(
    compiled: CompiledTable,
    error: BaseException,
    refuses: Callable[[str], bool],
) -> RulesetError:
    """The row and cell the engine refused, found by offering it each rule, then each cell, alone.

    ``refuses(ruleset_json)`` tries to create a throwaway ruleset and says whether that failed.
    """
    where: dict[str, Any] = {
        "table": compiled.table.name,
        "version": compiled.table.version,
        "code": engine_error_code(error),
    }
    reason = describe_engine_error(error)
    for rule in compiled.rules:
        if not refuses(render_json({rule.name: rule.definition()})):
            continue
        for cell in rule.cells:
            alone = CompiledRule(rule.name, rule.row_index, rule.pri, (cell,))
            if refuses(render_json({rule.name: alone.definition()})):
                return RulesetError(
                    reason, row=rule.name, column=cell.column, cell=cell.text, **where
                )
        return RulesetError(reason, row=rule.name, **where)
    return RulesetError(reason, **where)
