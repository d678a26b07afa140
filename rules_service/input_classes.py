"""Cases a decision table cannot tell apart, so the engine decides each kind of case once.

A table only ever looks at a fact through the tests written in its column (``>= 90``,
``[30..60)``, ``"华东"``), and every test compares the fact with a constant. Two values that lie
in the same place among a column's constants (below all of them, equal to the second, between
the second and the third, ...) therefore give the same answer to every test of the column, and
two cases whose values lie in the same places in every column match exactly the same rows, so
they get the same hits under any hit policy. The class of a case is that vector of places
(``None`` for an unknown fact, which only ``-`` matches), found by bisection;
:class:`ClassCache` keeps the engine's answer per class, so a re-evaluation of a million cases
goes through durable-rules once per class that occurs (a few hundred for the shipped tables)
instead of once per case. The answers are durable-rules' own, only reused.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping

from rules_service.decision_table import Between, DecisionTable
from rules_service.facts import FactValue
from rules_service.hits import Hit, UniqueHitError
from rules_service.reference import passes

# Classes remembered per table version before the memory is cleared (stays flat however many
# cases are evaluated).
MAX_CLASSES = 100_000

Answer = list[Hit] | UniqueHitError


class _Column:
    """The constants one input column's tests compare with, sorted: a value's place among them
    decides every test of the column."""

    def __init__(self, name: str, tests: tuple) -> None:
        self.name = name
        self.tests = tests
        constants = {
            bound
            for test in tests
            for bound in ((test.low, test.high) if isinstance(test, Between) else (test.value,))
        }
        try:
            self.bounds: list | None = sorted(constants)
        except TypeError:  # constants of mixed types (never after the table's type check)
            self.bounds = None
        self.constants = frozenset(constants)

    def place(self, value: FactValue) -> object:
        """``2 * i`` below the i-th constant, ``2 * i + 1`` equal to it; the outcome of every
        test where the value cannot be ordered among the constants."""
        if self.bounds is not None:
            try:
                return 2 * bisect_left(self.bounds, value) + (value in self.constants)
            except TypeError:
                pass
        return tuple(passes(test, value) for test in self.tests)


class InputClasses:
    """The distinct tests of each input column of one table."""

    def __init__(self, table: DecisionTable) -> None:
        columns = []
        for index, fact in enumerate(table.inputs):
            tests = tuple(
                dict.fromkeys(test for row in table.rows for test in row.when[index].tests)
            )
            if tests:
                columns.append(_Column(fact.name, tests))
        self.columns = tuple(columns)
        # The columns' places worked out inline (this runs for every case and table).
        self._ordered = tuple((c.name, c.bounds, c.constants, c) for c in self.columns)
        self._all_ordered = all(c.bounds is not None for c in self.columns)

    def of(self, facts: Mapping[str, FactValue | None]) -> tuple:
        """The class of a case's (normalised) facts."""
        if self._all_ordered:
            try:
                return tuple(
                    None
                    if (value := facts[name]) is None
                    else 2 * bisect_left(bounds, value) + (value in constants)
                    for name, bounds, constants, _ in self._ordered
                )
            except TypeError:  # a value of another type than its column's constants
                pass
        return tuple(
            None if (value := facts[name]) is None else column.place(value)
            for name, _, _, column in self._ordered
        )


class ClassCache:
    """The engine's answer per class of one table version."""

    def __init__(self, table: DecisionTable, limit: int = MAX_CLASSES) -> None:
        self.classes = InputClasses(table)
        self.limit = limit
        self._answers: dict[tuple, Answer] = {}
        self.hits = 0
        self.misses = 0

    def answer(
        self,
        facts: Mapping[str, FactValue | None],
        evaluate: Callable[[Mapping[str, FactValue | None]], list[Hit]],
    ) -> list[Hit]:
        key = self.classes.of(facts)
        found = self._answers.get(key)
        if found is None:
            self.misses += 1
            try:
                found = evaluate(facts)
            except UniqueHitError as conflict:  # the table's fault, the same for the class
                found = conflict
            if len(self._answers) >= self.limit:
                self._answers.clear()
            self._answers[key] = found
        else:
            self.hits += 1
        if isinstance(found, UniqueHitError):
            raise found
        return found
