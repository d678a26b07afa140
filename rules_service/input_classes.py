"""Cases a decision table cannot tell apart, so the engine decides each kind of case once.

A table only ever looks at a fact through the tests written in its column (``>= 90``,
``[30..60)``, ``"华东"``). Two cases for which every test of every column gives the same answer
match exactly the same rows, so they get the same hits under any hit policy. The class of a
case is that vector of test outcomes (``None`` for an unknown fact, which only ``-`` matches);
:class:`ClassCache` keeps the engine's answer per class, so a re-evaluation of a million cases
goes through durable-rules once per class that occurs (a few thousand for the shipped tables)
instead of once per case. The answers are durable-rules' own, only reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rules_service.decision_table import DecisionTable
from rules_service.facts import FactValue
from rules_service.hits import Hit, UniqueHitError
from rules_service.reference import passes

# Classes remembered per table version before the memory is cleared (stays flat however many
# cases are evaluated).
MAX_CLASSES = 100_000

Answer = list[Hit] | UniqueHitError


class InputClasses:
    """The distinct tests of each input column of one table."""

    def __init__(self, table: DecisionTable) -> None:
        columns = []
        for index, fact in enumerate(table.inputs):
            tests = tuple(
                dict.fromkeys(test for row in table.rows for test in row.when[index].tests)
            )
            if tests:
                columns.append((fact.name, tests))
        self.columns = tuple(columns)

    def of(self, facts: Mapping[str, FactValue | None]) -> tuple:
        """The class of a case's (normalised) facts."""
        key = []
        for name, tests in self.columns:
            value = facts[name]
            key.append(None if value is None else tuple(passes(test, value) for test in tests))
        return tuple(key)


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
