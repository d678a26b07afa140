"""Static analysis of a decision table: what is wrong with it before it decides a single case.

The editor runs it on every save. Every finding carries a concrete input (a fact dict over the
table's inputs) that shows the problem when given to :func:`rules_service.reference.evaluate`:

* ``gap``: no row matches the input (every hit policy but COLLECT, where matching nothing is an
  ordinary answer);
* ``overlap``: two or more rows match it (UNIQUE only, where the engine then raises an error);
* ``shadowed``: a row that never decides: under FIRST earlier rows take every case it matches,
  under PRIORITY rows that rank higher do;
* ``duplicate``: rows with the same conditions, compared by meaning (``> 30`` and ``>= 31`` on an
  integer column are the same cell);
* ``type_conflict``: a test or a whole cell no value of the column's type passes, such as
  ``(3..4)`` on an integer column, ``not(true, false)`` or ``not(<= 5, >= 3)``; a row with such a
  cell can never fire (so it is not reported again as shadowed).

How. A table sees a fact only through the tests written in its column, so each column is cut into
classes by the bounds and literals its cells use: for numbers, integers and dates the points and
the intervals between them (an interval holding no integer or no day is dropped), for enums each
declared value, for booleans true and false, for text each literal plus "any other text", and
always "unknown" (``None``, which only ``-`` matches). Every input falls in exactly one class per
column and all inputs of a class behave alike for every row, so the analysis is exact. Classes
every row treats alike are merged (only neighbours, for ordered columns, so a class stays one
interval). A row is then a box: per column, the set of classes its cell accepts.

* Duplicates and overlaps compare boxes pairwise (two boxes meet when they share a class in every
  column), which finds every overlapping pair without searching the input space.
* Gaps: a depth-first search over the columns (the most tested first) carries the set of rows
  still matching as a bitmask; it stops a branch as soon as the set is empty (a gap: the columns
  left do not matter) or holds a row accepting everything in the columns left (covered), and it
  remembers the (column, row set) states found covered, so sparse tables stay fast.
* A row is shadowed when the same search, inside the row's own box and against the rows before
  it (in table order for FIRST, by priority for PRIORITY), finds no input they leave to it; the
  search also yields which of those rows take its cases.

Unknown facts. A gap is only reported for inputs whose every fact is known. An unknown fact
matches only ``-`` by design, so every table that tests a fact would otherwise have a gap for it
being unknown, and a list of those would bury the gaps that matter; ``unknown_gaps=True`` includes
them. Unknown values count for everything else: a catch-all row that only fires when a fact is
unknown (after rows covering every known value) is not shadowed.

Limits. Deciding whether boxes cover a space is exponential in the worst case. The searches visit
at most ``budget`` states in all (the gap search up to half of them; each row's shadowing proof an
equal share of the rest, then the rows that needed more share what the others left); when that
runs out :class:`Analysis` says the result is incomplete: what is reported is still true and
demonstrated, but gaps and shadowed rows not yet proved may be missing. The default budget is
about a second of work, which a table of 200 rows and 20 columns written the way analysts write
rules (each row testing a few facts) does not come near. At most ``limit`` findings of each kind
are reported, and the gap and shadowing searches stop once they have found that many.
Overlapping pairs are listed once: a pair an earlier example already shows is not repeated.

Tests the parser would refuse (a value of the wrong type, a value outside an enum, an ordering
test on text) can only come from tables built in code; they are reported as type conflicts and
taken to never pass (``!=`` to always pass), which is what the reference evaluator does with them
except where it would raise on comparing mismatched types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rules_service.decision_table import Between, Cell, Compare, DecisionTable, HitPolicy, Test
from rules_service.facts import (
    MAX_INTEGER,
    MAX_NUMBER,
    ORDERED_TYPES,
    Fact,
    FactError,
    FactType,
    FactValue,
    normalise_value,
    plain_number,
)
from rules_service.reference import passes

KINDS = ("type_conflict", "duplicate", "overlap", "shadowed", "gap")
DEFAULT_LIMIT = 50
# States the searches may visit in all: about a second of work on a slow laptop.
DEFAULT_BUDGET = 200_000
# The value an example gives a fact the finding does not depend on.
NEUTRAL_DATE = date(2025, 1, 1)
_ORDERINGS = frozenset({"<", "<=", ">", ">="})
# Line coordinates of the ordered types: integers as themselves, dates as day ordinals.
_INTEGER_DOMAIN = (-MAX_INTEGER, MAX_INTEGER)
_DATE_DOMAIN = (date.min.toordinal(), date.max.toordinal())
_MAX_NAMED_ROWS = 6


@dataclass(frozen=True)
class Finding:
    """One problem of a table: its kind, the rows involved, an input showing it, and why."""

    kind: str
    rows: tuple[str, ...]
    example: dict[str, Any]
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-able data (dates as ISO text) for the editor."""
        return {
            "kind": self.kind,
            "rows": list(self.rows),
            "example": {
                name: value.isoformat() if isinstance(value, date) else value
                for name, value in self.example.items()
            },
            "message": self.message,
        }


@dataclass(frozen=True)
class Analysis:
    """The findings, and whether the search budget let the analysis finish.

    ``undecided`` names the rows whose shadowing the budget left unproved; when ``complete`` is
    false, gaps and shadowed rows beyond those reported may exist.
    """

    findings: tuple[Finding, ...]
    complete: bool
    steps: int
    undecided: tuple[str, ...] = ()


def analyse(
    table: DecisionTable,
    limit: int = DEFAULT_LIMIT,
    *,
    unknown_gaps: bool = False,
    budget: int = DEFAULT_BUDGET,
) -> list[Finding]:
    """The findings of :func:`analyse_table`, at most ``limit`` of each kind."""
    return list(analyse_table(table, limit, unknown_gaps=unknown_gaps, budget=budget).findings)


def analyse_table(
    table: DecisionTable,
    limit: int = DEFAULT_LIMIT,
    *,
    unknown_gaps: bool = False,
    budget: int = DEFAULT_BUDGET,
) -> Analysis:
    """Every kind of finding that applies to the table's hit policy, with completeness."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    model = _Model(table, budget)
    found: dict[str, list[Finding]] = {kind: [] for kind in KINDS}
    found["type_conflict"] = model.type_conflicts(limit)
    found["duplicate"] = model.duplicates(limit)
    complete = True
    undecided: list[str] = []
    policy = table.hit_policy
    if policy is HitPolicy.UNIQUE:
        found["overlap"] = model.overlaps(limit)
    if policy is not HitPolicy.COLLECT:
        # The gap search may use half the budget; what it leaves goes to the shadowing proofs.
        gaps, finished = model.gaps(limit, unknown_gaps, budget // 2)
        found["gap"] = gaps
        complete = complete and finished
    if policy in (HitPolicy.FIRST, HitPolicy.PRIORITY):
        found["shadowed"], undecided = model.shadowed(limit, budget)
        complete = complete and not undecided
    findings = tuple(finding for kind in KINDS for finding in found[kind])
    return Analysis(findings, complete, model.steps, tuple(undecided))


# ---- rendering --------------------------------------------------------------------------------


def _render(value: FactValue | None) -> str:
    """A value as a cell would write it; ``unknown`` for ``None``."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return plain_number(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False)


def _test_text(test: Test) -> str:
    return Cell((test,)).text


def _names(ids: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C`` (and how many more past a handful)."""
    shown = list(ids[:_MAX_NAMED_ROWS])
    if len(ids) > _MAX_NAMED_ROWS:
        shown.append(f"{len(ids) - _MAX_NAMED_ROWS} more")
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _bits(mask: int) -> Iterator[int]:
    """The positions of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


# ---- columns ----------------------------------------------------------------------------------

# A piece of an ordered column: (low, low closed, high, high closed) in line coordinates, None for
# an end open to the edge of the type's range. Integers and dates use closed integer pieces.
Piece = tuple[Any, bool, Any, bool]


class _Other:
    """The text class "any text no cell names"."""

    def __repr__(self) -> str:
        return "<other text>"


_OTHER = _Other()


def _misfit(fact: Fact, test: Test) -> str | None:
    """Why ``test`` is not a test the parser would write for a column of ``fact`` (or None)."""
    text = _test_text(test)
    ordering = isinstance(test, Between) or test.op in _ORDERINGS
    if ordering and fact.type not in ORDERED_TYPES:
        return f"{text} compares by order, but {fact.name} is {fact.type}"
    values = (test.low, test.high) if isinstance(test, Between) else (test.value,)
    for value in values:
        if fact.type in (FactType.INTEGER, FactType.NUMBER):
            fits = isinstance(value, int | float) and not isinstance(value, bool)
        elif fact.type is FactType.DATE:
            fits = isinstance(value, date) and not isinstance(value, datetime)
        elif fact.type is FactType.BOOLEAN:
            fits = isinstance(value, bool)
        elif fact.type is FactType.ENUM:
            if isinstance(value, str) and value not in fact.values:
                return f"{_render(value)} is not one of {', '.join(fact.values)}"
            fits = isinstance(value, str)
        else:
            fits = isinstance(value, str)
        if not fits:
            return f"{_render(value)} is not a {fact.type} value"
    return None


class _Column:
    """One input column cut into classes; ``accepts[r]`` is the class bitmask of row r's cell."""

    def __init__(self, fact: Fact, cells: Sequence[Cell]) -> None:
        self.fact = fact
        self.name = fact.name
        self.ordered = fact.type in ORDERED_TYPES
        self.misfits = {
            test: reason
            for cell in cells
            for test in cell.tests
            if (reason := _misfit(fact, test)) is not None
        }
        fitting = [test for cell in cells for test in cell.tests if test not in self.misfits]
        if self.ordered:
            self.domain = _DATE_DOMAIN if fact.type is FactType.DATE else _INTEGER_DOMAIN
            points = [
                self._line(value)
                for test in fitting
                for value in ((test.low, test.high) if isinstance(test, Between) else (test.value,))
            ]
            self.pieces = self._pieces(sorted(set(points)))
            self.atoms: list[Any] = list(self.pieces)
            reps = [self._interval_rep(piece) for piece in self.pieces]
        else:
            if fact.type is FactType.ENUM:
                self.atoms = list(fact.values)
            elif fact.type is FactType.BOOLEAN:
                self.atoms = [False, True]
            else:
                literals = [test.value for test in fitting if isinstance(test, Compare)]
                self.atoms = [*dict.fromkeys(literals), _OTHER]
            other = "(other)"
            while other in self.atoms:
                other += "'"
            self.other_text = other
            reps = [other if atom is _OTHER else atom for atom in self.atoms]
        self.atom_reps: list[FactValue] = reps
        known = len(reps)
        # Which rows accept each atom (the unknown atom last), and which atoms each cell accepts.
        self.cell_atoms = [
            sum(1 << a for a, value in enumerate([*reps, None]) if self._accepts(cell, value))
            for cell in cells
        ]
        rows_of = [
            sum(1 << r for r, atoms in enumerate(self.cell_atoms) if atoms >> a & 1)
            for a in range(known + 1)
        ]
        classes: list[list[int]] = []
        if self.ordered:
            for a in range(known):
                if classes and rows_of[classes[-1][-1]] == rows_of[a]:
                    classes[-1].append(a)
                else:
                    classes.append([a])
        else:
            by_rows: dict[int, list[int]] = {}
            for a in range(known):
                if rows_of[a] not in by_rows:
                    by_rows[rows_of[a]] = []
                    classes.append(by_rows[rows_of[a]])
                by_rows[rows_of[a]].append(a)
        self.unknown = len(classes)
        classes.append([known])
        self.classes = classes
        self.class_of_atom = {a: k for k, atoms in enumerate(classes) for a in atoms}
        self.known_classes = (1 << self.unknown) - 1
        self.all_classes = (1 << len(classes)) - 1
        self.accepts = [
            sum(1 << k for k, atoms in enumerate(classes) if cell_atoms >> atoms[0] & 1)
            for cell_atoms in self.cell_atoms
        ]
        self.neutral = self._neutral()
        self.neutral_class = self.class_of(self.neutral)

    # -- values

    def _neutral(self) -> FactValue:
        """The value an example gives this fact when the finding does not depend on it."""
        if self.fact.type is FactType.DATE:
            return NEUTRAL_DATE
        if self.ordered:
            return 0
        if self.fact.type is FactType.TEXT:
            return self.other_text  # text no cell names
        return self.atom_reps[0]  # the first enum value, false

    def _line(self, value: Any) -> Any:
        return value.toordinal() if isinstance(value, date) else value

    def _value(self, line: Any) -> FactValue:
        if self.fact.type is FactType.DATE:
            return date.fromordinal(line)
        if self.fact.type is FactType.NUMBER and float(line).is_integer() and abs(line) < 2**53:
            return int(line)  # 5000 rather than 5000.0; the same fact once normalised
        return line

    def _pieces(self, points: list[Any]) -> list[Piece]:
        """The points and the non-empty stretches between them, in order."""
        pieces: list[Piece] = []
        previous = None
        low_end, high_end = self.domain
        for point in [*points, None]:
            if self.fact.type is FactType.NUMBER:
                below = -MAX_NUMBER if previous is None else max(previous, -MAX_NUMBER)
                above = MAX_NUMBER if point is None else min(point, MAX_NUMBER)
                if math.nextafter(below, math.inf) < above:
                    pieces.append((previous, False, point, False))
                if point is not None and -MAX_NUMBER < point < MAX_NUMBER:
                    pieces.append((point, True, point, True))
            else:
                low = low_end if previous is None else max(math.floor(previous) + 1, low_end)
                high = high_end if point is None else min(math.ceil(point) - 1, high_end)
                if low <= high:
                    pieces.append(
                        (
                            None if previous is None else low,
                            True,
                            None if point is None else high,
                            True,
                        )
                    )
                if (
                    point is not None
                    and point == math.floor(point)
                    and low_end <= point <= high_end
                ):
                    pieces.append((int(point), True, int(point), True))
            previous = point
        return pieces

    def _inside(self, piece: Piece, line: Any) -> bool:
        low, low_closed, high, high_closed = piece
        return (low is None or line > low or (low_closed and line == low)) and (
            high is None or line < high or (high_closed and line == high)
        )

    def _interval_rep(self, piece: Piece) -> FactValue:
        """A readable value inside ``piece``: its middle, or next to its one bound."""
        low, low_closed, high, high_closed = piece
        if self.fact.type is not FactType.NUMBER:
            neutral = NEUTRAL_DATE.toordinal() if self.fact.type is FactType.DATE else 0
            if low is None and high is None:
                return self._value(neutral)
            if low is None:
                return self._value(high)
            if high is None:
                return self._value(low)
            return self._value((low + high) // 2)
        if low is None and high is None:
            candidates: list[float] = [0]
        elif low is not None and low == high:
            candidates = [low]
        elif low is None:
            candidates = [high if high_closed else math.ceil(high) - 1]
        elif high is None:
            candidates = [low if low_closed else math.floor(low) + 1]
        else:
            middle = (low + high) / 2
            candidates = [round(middle), math.floor(middle), math.ceil(middle), middle]
        for end in (low, high):
            if end is not None:
                candidates += [math.nextafter(end, -math.inf), math.nextafter(end, math.inf)]
        for candidate in candidates:
            if -MAX_NUMBER < candidate < MAX_NUMBER and self._inside(piece, candidate):
                return self._value(candidate)
        raise AssertionError(f"no value inside {piece}")  # pragma: no cover - pieces are non-empty

    def _span(self, region: Sequence[int]) -> Piece:
        """The interval of consecutive classes of an ordered column."""
        first = self.pieces[self.classes[region[0]][0]]
        last = self.pieces[self.classes[region[-1]][-1]]
        return (first[0], first[1], last[2], last[3])

    def _passes(self, test: Test, value: FactValue) -> bool:
        if test in self.misfits:  # as the reference evaluator answers: only != passes
            return isinstance(test, Compare) and test.op == "!="
        return passes(test, value)

    def _accepts(self, cell: Cell, value: FactValue | None) -> bool:
        """``reference.cell_matches``, safe for the tests the parser would refuse."""
        if not cell.tests:
            return True
        if value is None:
            return False
        return any(self._passes(test, value) for test in cell.tests) != cell.negated

    # -- classes and regions (lists of class indices)

    def class_of(self, value: FactValue | None) -> int:
        """The class of a (normalised) value."""
        if value is None:
            return self.unknown
        if self.ordered:
            line = self._line(value)
            atom = next(a for a, piece in enumerate(self.pieces) if self._inside(piece, line))
        elif self.fact.type is FactType.TEXT and value not in self.atoms:
            atom = self.atoms.index(_OTHER)
        else:
            atom = self.atoms.index(value)
        return self.class_of_atom[atom]

    def rep(self, region: Sequence[int]) -> FactValue | None:
        """A value of the region (ordered columns: consecutive classes)."""
        if list(region) == [self.unknown]:
            return None
        if self.ordered:
            return self._interval_rep(self._span(region))
        return self.atom_reps[self.classes[region[0]][0]]

    def value_in(self, classes: int) -> FactValue | None:
        """A value among a class bitmask: the neutral value if it is one, else the first class."""
        if classes >> self.neutral_class & 1:
            return self.neutral
        known = classes & self.known_classes
        return None if not known else self.rep([next(_bits(known))])

    def phrase(self, region: Sequence[int]) -> str:
        """The region as words after the fact's name: ``in 31..60``, ``= "HIGH"``, ``unknown``."""
        if list(region) == [self.unknown]:
            return "unknown"
        if self.ordered:
            low, low_closed, high, high_closed = self._span(region)
            lo = None if low is None else _render(self._value(low))
            hi = None if high is None else _render(self._value(high))
            if lo is None and hi is None:
                return "known (any value)"
            if lo is not None and lo == hi:
                return f"= {lo}"
            if lo is None:
                return f"{'<=' if high_closed else '<'} {hi}"
            if hi is None:
                return f"{'>=' if low_closed else '>'} {lo}"
            if self.fact.type is not FactType.NUMBER:
                return f"in {lo}..{hi}"
            return f"in {'[' if low_closed else '('}{lo}..{hi}{']' if high_closed else ')'}"
        atoms = [a for k in region for a in self.classes[k]]
        if len(atoms) == len(self.atoms):
            return "known (any value)"
        values = [self.atoms[a] for a in atoms]
        if _OTHER in values:
            excluded = [_render(atom) for atom in self.atoms if atom not in values]
            return f"!= {excluded[0]}" if len(excluded) == 1 else f"not in {', '.join(excluded)}"
        shown = [_render(value) for value in values]
        return f"= {shown[0]}" if len(shown) == 1 else f"in {', '.join(shown)}"

    def dead_tests(self, cell: Cell) -> list[tuple[Test, str]]:
        """The tests of ``cell`` no known value passes, each with the reason."""
        dead = []
        for test in cell.tests:
            if test in self.misfits:
                dead.append((test, self.misfits[test]))
            elif not any(self._passes(test, value) for value in self.atom_reps):
                text = _test_text(test)
                if isinstance(test, Between) and (
                    test.low > test.high
                    or (test.low == test.high and not (test.low_closed and test.high_closed))
                ):
                    reason = f"{text} is empty: its low bound is not below its high bound"
                elif isinstance(test, Between) and self.fact.type is FactType.INTEGER:
                    reason = f"{text} holds no whole number"
                elif isinstance(test, Between) and self.fact.type is FactType.DATE:
                    reason = f"{text} holds no day"
                else:
                    reason = f"no {self.fact.type} value is {text}"
                dead.append((test, reason))
        return dead

    def near(self, test: Test) -> FactValue | None:
        """A value a (dead) test seems to be about, for an example; the neutral value if none."""
        value = test.low if isinstance(test, Between) else test.value
        if test in self.misfits:
            return self.neutral
        try:
            return normalise_value(self.fact, value)
        except FactError:
            return self.neutral


# ---- the search -------------------------------------------------------------------------------


class _OutOfBudgetError(Exception):
    """The search visited as many states as it was allowed."""


class _LimitReachedError(Exception):
    """The search found as many findings as were asked for."""


class _Search:
    """Inputs of one box (a class bitmask per column) against a set of rows (a bitmask).

    A state is the set of columns given a class so far and the rows still matching. The column to
    split next is the one most rows left depend on alone (then the one most rows restrict): as in
    a SAT solver's unit propagation, that finds an input the rows miss, or proves there is none,
    in few steps. States proved covered are remembered, so a state reached again costs nothing.
    """

    def __init__(self, model: _Model, box: Sequence[int], rows: int) -> None:
        self.model = model
        self.rows = rows
        self.masks = model.masks  # only ever and-ed with subsets of ``rows``
        self.classes = [model.class_list(c, classes) for c, classes in enumerate(box)]
        # Per column, the rows that do not accept every class of the box there.
        self.restrict = [rows & ~model.cover(c, classes) for c, classes in enumerate(box)]
        self.choices = [c for c, restricted in enumerate(self.restrict) if restricted]
        self.covered: set[tuple[int, int]] = set()

    def _scan(self, assigned: int, rows: int) -> tuple[int, list[tuple[int, int]], int]:
        """The rows that accept everything left (free), the open columns with the rows they
        restrict, and the rows restricted by one open column only."""
        once = twice = 0
        open_columns = []
        for c in self.choices:
            if not assigned >> c & 1:
                restricted = self.restrict[c] & rows
                if restricted:
                    twice |= once & restricted
                    once |= restricted
                    open_columns.append((c, restricted))
        return rows & ~once, open_columns, once & ~twice

    @staticmethod
    def _best(open_columns: list[tuple[int, int]], unit: int, rows: int) -> int:
        best, score = -1, (-1, -1)
        for c, restricted in open_columns:
            mine = restricted & rows
            if mine:
                candidate = ((mine & unit).bit_count(), mine.bit_count())
                if candidate > score:
                    best, score = c, candidate
        return best

    def regions(self, c: int, rows: int) -> list[tuple[list[int], int]]:
        """The classes of column ``c`` grouped by the rows they leave: neighbouring classes of an
        ordered column, any classes of another; unknown alone. Each group is one region."""
        column = self.model.columns[c]
        groups: list[tuple[list[int], int]] = []
        by_rows: dict[int, int] = {}
        previous = -2
        for k in self.classes[c]:
            child = rows & self.masks[c][k]
            if k == column.unknown:
                groups.append(([k], child))
            elif column.ordered:
                if groups and previous == k - 1 and groups[-1][1] == child:
                    groups[-1][0].append(k)
                else:
                    groups.append(([k], child))
            elif child in by_rows:
                groups[by_rows[child]][0].append(k)
            else:
                by_rows[child] = len(groups)
                groups.append(([k], child))
            previous = k
        return groups

    def gaps(self) -> None:
        """Hands each region no row covers, as (column, region)s, to the model's ``emit_gap``."""
        if not self.rows:
            self.model.emit_gap(())
            return
        self._gaps(0, self.rows, ())

    def _gaps(self, assigned: int, rows: int, path: tuple[tuple[int, list[int]], ...]) -> bool:
        self.model.tick()
        if (assigned, rows) in self.covered:
            return False
        free, open_columns, unit = self._scan(assigned, rows)
        if free:
            return False
        c = self._best(open_columns, unit, rows)
        found = False
        for region, child in self.regions(c, rows):
            step = (*path, (c, region))
            if not child:
                self.model.emit_gap(step)
                found = True
            elif self._gaps(assigned | 1 << c, child, step):
                found = True
        if not found:
            self.covered.add((assigned, rows))
        return found

    def uncovered(self) -> bool:
        """Whether some input of the box matches none of the rows."""
        return self._uncovered(0, self.rows)

    def _uncovered(self, assigned: int, rows: int) -> bool:
        self.model.tick()
        if not rows:
            return True
        if (assigned, rows) in self.covered:
            return False
        free, open_columns, unit = self._scan(assigned, rows)
        if free:
            return False
        c = self._best(open_columns, unit, rows)
        # The region leaving fewest rows first: the likeliest way out.
        children = sorted({child for _, child in self.regions(c, rows)}, key=int.bit_count)
        if any(self._uncovered(assigned | 1 << c, child) for child in children):
            return True
        self.covered.add((assigned, rows))
        return False


class _Model:
    """The table as boxes over classes, rows numbered by the order in which they win."""

    def __init__(self, table: DecisionTable, budget: int) -> None:
        self.table = table
        self.columns = [
            _Column(fact, [row.when[c] for row in table.rows])
            for c, fact in enumerate(table.inputs)
        ]
        rows = table.rows
        self.order = list(range(len(rows)))
        if table.hit_policy is HitPolicy.PRIORITY:
            self.order.sort(key=lambda r: (table.priority_rank(rows[r]), r))
        self.ids = [rows[r].id for r in self.order]
        # Per position in that order, the class bitmask each column's cell accepts.
        self.accepts = [[column.accepts[r] for column in self.columns] for r in self.order]
        self.masks = [
            [
                sum(1 << p for p, accepts in enumerate(self.accepts) if accepts[c] >> k & 1)
                for k in range(len(column.classes))
            ]
            for c, column in enumerate(self.columns)
        ]
        self.live = sum(1 << p for p, accepts in enumerate(self.accepts) if all(accepts))
        self._class_lists: dict[tuple[int, int], list[int]] = {}
        self._unions: dict[tuple[int, int], int] = {}
        self._covers: dict[tuple[int, int], int] = {}
        self.steps = 0
        self.budget = budget
        self.stop_at = budget
        self.losers: set[int] = set()  # positions that a duplicate row before them always beats
        self.pending: list[Finding] = []
        self.limit = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.stop_at:
            raise _OutOfBudgetError

    # -- examples

    def example(self, values: dict[int, FactValue | None]) -> dict[str, FactValue | None]:
        """A full fact dict: the given columns' values, the neutral value for the others."""
        return {column.name: values.get(c, column.neutral) for c, column in enumerate(self.columns)}

    def example_text(self, example: dict[str, Any], columns: Sequence[int]) -> str:
        shown = [self.columns[c].name for c in sorted(set(columns))] or [
            column.name for column in self.columns
        ]
        return ", ".join(f"{name}={_render(example[name])}" for name in shown)

    def matching(self, example: dict[str, Any]) -> int:
        """Positions of the rows that match ``example``."""
        rows = self.live
        for c, column in enumerate(self.columns):
            rows &= self.masks[c][column.class_of(example[column.name])]
        return rows

    def reach(self, box: Sequence[int]) -> int:
        """Positions of the live rows whose box meets ``box``."""
        rows = self.live
        for c, classes in enumerate(box):
            if classes != self.columns[c].all_classes:
                rows &= self.union(c, classes)
        return rows

    def class_list(self, c: int, classes: int) -> list[int]:
        """The class indices of a class bitmask of column ``c`` (remembered: boxes repeat)."""
        key = (c, classes)
        found = self._class_lists.get(key)
        if found is None:
            found = self._class_lists[key] = list(_bits(classes))
        return found

    def union(self, c: int, classes: int) -> int:
        """Positions of the rows accepting at least one of ``classes`` in column ``c``."""
        key = (c, classes)
        found = self._unions.get(key)
        if found is None:
            found = 0
            for k in self.class_list(c, classes):
                found |= self.masks[c][k]
            self._unions[key] = found
        return found

    def cover(self, c: int, classes: int) -> int:
        """Positions of the rows accepting every one of ``classes`` in column ``c``."""
        key = (c, classes)
        found = self._covers.get(key)
        if found is None:
            found = self.live
            for k in self.class_list(c, classes):
                found &= self.masks[c][k]
            self._covers[key] = found
        return found

    def in_table_order(self, positions: int) -> list[str]:
        return [self.ids[p] for p in sorted(_bits(positions), key=lambda p: self.order[p])]

    def restricted(self, position: int) -> list[int]:
        """The columns where the row at ``position`` has a condition."""
        return [
            c
            for c, column in enumerate(self.columns)
            if self.accepts[position][c] != column.all_classes
        ]

    # -- findings

    def type_conflicts(self, limit: int) -> list[Finding]:
        findings: list[Finding] = []
        for r, row in enumerate(self.table.rows):
            for c, column in enumerate(self.columns):
                cell = row.when[c]
                if not cell.tests:
                    continue
                dead = column.dead_tests(cell)
                cell_dead = column.accepts[r] == 0
                if not dead and not cell_dead:
                    continue
                reasons = [reason for _, reason in dead]
                if cell_dead and (cell.negated or len(dead) < len(cell.tests)):
                    reasons.append(
                        f"{cell.text} rules out every value {column.name} can take "
                        "(and an unknown value matches only -)"
                    )
                if cell_dead:
                    outcome = f"the cell never matches, so row {row.id} can never fire"
                    value = column.near(dead[0][0]) if dead and not cell.negated else None
                else:
                    outcome = "that test never matters"
                    value = column.near(dead[0][0])
                values = {
                    other: self.columns[other].value_in(self.columns[other].accepts[r])
                    for other in range(len(self.columns))
                    if other != c and self.columns[other].accepts[r]
                }
                values[c] = column.neutral if value is None else value
                example = self.example(values)
                findings.append(
                    Finding(
                        "type_conflict",
                        (row.id,),
                        example,
                        f"row {row.id}, column {column.name}: {'; '.join(reasons)}; {outcome}",
                    )
                )
                if len(findings) >= limit:
                    return findings
        return findings

    def duplicates(self, limit: int) -> list[Finding]:
        """Rows with the same box, grouped; later ones are marked as never winning."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for p, accepts in enumerate(self.accepts):
            if self.live >> p & 1:
                groups.setdefault(tuple(accepts), []).append(p)
        findings: list[Finding] = []
        policy = self.table.hit_policy
        for positions in groups.values():
            if len(positions) < 2:
                continue
            ids = self.in_table_order(sum(1 << p for p in positions))
            first = self.ids[positions[0]]  # in the order rows win
            others = self.in_table_order(sum(1 << p for p in positions[1:]))
            self.losers.update(positions[1:])
            same = (
                len(
                    {
                        json.dumps(
                            dict(self.table.rows[self.order[p]].then), sort_keys=True, default=str
                        )
                        for p in positions
                    }
                )
                == 1
            )
            outputs = "the same outputs" if same else "different outputs"
            never = "never fires" if len(others) == 1 else "never fire"
            consequence = {
                HitPolicy.FIRST: f"{_names(others)} {never} ({first} comes first)",
                HitPolicy.PRIORITY: f"{_names(others)} {never} ({first} wins)",
                HitPolicy.UNIQUE: "every case they match is a UNIQUE error",
                HitPolicy.COLLECT: "every case they match collects them all",
            }[policy]
            box = self.accepts[positions[0]]
            example = self.example(
                {c: column.value_in(box[c]) for c, column in enumerate(self.columns)}
            )
            conditions = self.restricted(positions[0])
            cases = (
                f"they match exactly the same cases (e.g. {self.example_text(example, conditions)})"
                if conditions
                else "they both match every case"
            )
            findings.append(
                Finding(
                    "duplicate",
                    tuple(ids),
                    example,
                    f"rows {_names(ids)} have the same conditions and {outputs}: {cases}, and "
                    f"under hit policy {policy} {consequence}",
                )
            )
            if len(findings) >= limit:
                break
        return findings

    def overlaps(self, limit: int) -> list[Finding]:
        """Pairs of rows whose boxes meet, each pair reported once (UNIQUE)."""
        findings: list[Finding] = []
        seen: set[tuple[int, int]] = set()
        for p in _bits(self.live):
            box = self.accepts[p]
            partners = self.reach(box) & ~((1 << (p + 1)) - 1)
            for q in _bits(partners):
                if (p, q) in seen or self.accepts[p] == self.accepts[q]:
                    continue  # already shown, or reported as duplicates
                values = {
                    c: column.value_in(box[c] & self.accepts[q][c])
                    for c, column in enumerate(self.columns)
                }
                example = self.example(values)
                rows = self.matching(example)
                members = list(_bits(rows))
                seen.update((a, b) for a in members for b in members if a < b)
                ids = self.in_table_order(rows)
                text = self.example_text(example, self.restricted(p) + self.restricted(q))
                both = "both match" if len(ids) == 2 else "all match"
                findings.append(
                    Finding(
                        "overlap",
                        tuple(ids),
                        example,
                        f"rows {_names(ids)} {both} {text} (hit policy UNIQUE: such a case is "
                        "an error)",
                    )
                )
                if len(findings) >= limit:
                    return findings
        return findings

    def gaps(self, limit: int, unknown_gaps: bool, budget: int) -> tuple[list[Finding], bool]:
        """Regions no row covers, at most ``limit``; and whether the search finished."""
        box = [
            column.all_classes if unknown_gaps else column.known_classes for column in self.columns
        ]
        self.pending = []
        self.limit = limit
        self.stop_at = self.steps + budget
        search = _Search(self, box, self.live)
        finished = True
        try:
            search.gaps()
        except _LimitReachedError:
            pass
        except _OutOfBudgetError:
            finished = False
        self.stop_at = self.budget
        return self.pending, finished

    def emit_gap(self, path: Sequence[tuple[int, list[int]]]) -> None:
        values = {c: self.columns[c].rep(region) for c, region in path}
        example = self.example(values)
        policy = self.table.hit_policy
        if path:
            where = " and ".join(
                f"{self.columns[c].name} {self.columns[c].phrase(region)}"
                for c, region in sorted(path)
            )
            text = self.example_text(example, [c for c, _ in path])
            message = f"no row matches {where} (e.g. {text}); hit policy {policy}"
        else:
            message = "no row matches any input: every row has a cell that never matches"
        self.pending.append(Finding("gap", (), example, message))
        if len(self.pending) >= self.limit:
            raise _LimitReachedError

    def shadowed(self, limit: int, budget: int) -> tuple[list[Finding], list[str]]:
        """Rows that never decide (FIRST, PRIORITY), and the rows the budget left unproved.

        Each row gets an equal share of what is left of the budget; rows that need more are
        tried again, with their search's memory, sharing what the easy rows did not use.
        """
        found: dict[int, Finding] = {}
        queue = [
            (p, _Search(self, self.accepts[p], self.reach(self.accepts[p]) & ((1 << p) - 1)))
            for p in _bits(self.live)
            if p not in self.losers
        ]
        queue = [(p, search) for p, search in queue if search.rows]  # none before: it fires
        for _ in range(2):
            retry = []
            for index, (p, search) in enumerate(queue):
                if len(found) >= limit:
                    break
                allowance = (budget - self.steps) // (len(queue) - index)
                if allowance < 1:
                    retry.append((p, search))
                    continue
                try:
                    self.stop_at = self.steps + allowance
                    if search.uncovered():
                        continue
                    won = self.takers(self.accepts[p], search.rows)
                except _OutOfBudgetError:
                    retry.append((p, search))
                    continue
                finally:
                    self.stop_at = self.budget
                found[p] = self._shadowed(p, won, search.rows)
            queue = retry
        findings = [found[p] for p in sorted(found, key=self.order.__getitem__)][:limit]
        undecided = [self.ids[p] for p, _ in sorted(queue, key=lambda item: self.order[item[0]])]
        return findings, undecided if len(found) < limit else []

    def takers(self, box: Sequence[int], before: int) -> int | None:
        """Of the rows ``before``, those that come first somewhere in ``box``: each row whose
        part of the box the rows before it leave uncovered (None if the budget runs out)."""
        won = 0
        for q in _bits(before):
            part = [mine & theirs for mine, theirs in zip(box, self.accepts[q], strict=True)]
            earlier = self.reach(part) & before & ((1 << q) - 1)
            try:
                if not earlier or _Search(self, part, earlier).uncovered():
                    won |= 1 << q
            except _OutOfBudgetError:
                return None
        return won

    def _shadowed(self, p: int, won: int | None, before: int) -> Finding:
        """The finding for the row at ``p``: ``won`` are the rows that come first somewhere in
        its box (None if the budget did not allow to tell them from the others in ``before``)."""
        box = self.accepts[p]
        example = self.example(
            {c: column.value_in(box[c]) for c, column in enumerate(self.columns)}
        )
        matching = self.matching(example)
        winner = (matching & -matching).bit_length() - 1
        text = self.example_text(example, self.restricted(p) + self.restricted(winner))
        takers = self.in_table_order(before if won is None else won)
        row_id = self.ids[p]
        s = "s" if len(takers) > 1 else ""
        among = "among " if won is None else ""
        if self.table.hit_policy is HitPolicy.FIRST:
            message = (
                f"row {row_id} can never fire: every case it matches is taken first by earlier "
                f"row{s} {among}{_names(takers)} (hit policy FIRST); e.g. {text} goes to "
                f"{self.ids[winner]}"
            )
        else:
            message = (
                f"row {row_id} never wins: wherever it matches, a row that ranks higher matches "
                f"too ({among}{_names(takers)}; hit policy PRIORITY); e.g. {text} goes to "
                f"{self.ids[winner]}"
            )
        return Finding("shadowed", (row_id, *takers), example, message)
