"""Decision tables: the typed, versioned JSON documents analysts write instead of code.

A table has input columns over catalogue facts, output columns, rows whose cells are simple
tests (``>= 90``, ``[30..60)``, ``"HIGH", "MEDIUM"``, ``not("legal")``, ``-`` for any) and a hit
policy. Everything wrong with a document is reported as a :class:`TableError` naming the table,
row, column and cell, so an analyst can fix it without reading a traceback. The canonical JSON
(sorted keys, every cell rendered one way) makes the checksum stable across editors.

Cell grammar (a cell is a disjunction of tests, optionally negated)::

    cell     := "-" | "not" "(" tests ")" | tests
    tests    := test ("," test)*
    test     := ("<" | "<=" | ">" | ">=" | "=" | "!=") literal | interval | literal
    interval := ("[" | "(") literal ".." literal ("]" | ")")
    literal  := number | "quoted text" | true | false | YYYY-MM-DD | date("YYYY-MM-DD")

Ordering tests and intervals need a number, integer or date column; text and enum columns take
quoted values; boolean columns take ``true`` or ``false``.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from rules_service.facts import (
    FACTS,
    MAX_INTEGER,
    MAX_NUMBER,
    NAME_PATTERN,
    ORDERED_TYPES,
    RESERVED_NAMES,
    Fact,
    FactType,
    FactValue,
    plain_number,
)

FORMAT = 1
TABLE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
ROW_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# durable-rules refuses a message of more than 255 properties; the sid and the discriminator
# take two, and a table this wide is not one anyone can read.
MAX_INPUTS = 250
# durable-rules' ``pri`` is an unsigned short; one rank per row.
MAX_ROWS = 10_000


class Kind(enum.StrEnum):
    ASSIGNMENT = "assignment"
    PRIORITY = "priority"
    STRATEGY = "strategy"
    ALERT = "alert"


class HitPolicy(enum.StrEnum):
    """FIRST: the first matching row; UNIQUE: at most one row may match (else an error);
    PRIORITY: the matching row whose outputs rank highest by the declared order of output values
    (DMN), earlier row on a tie; COLLECT: every matching row, in table order."""

    FIRST = "FIRST"
    UNIQUE = "UNIQUE"
    PRIORITY = "PRIORITY"
    COLLECT = "COLLECT"


# The outputs the rules service reads from each kind of table.
REQUIRED_OUTPUTS: Mapping[Kind, tuple[str, ...]] = {
    Kind.ASSIGNMENT: ("team", "required_skill", "selection"),
    Kind.PRIORITY: ("score", "level"),
    Kind.STRATEGY: ("segment", "treatment_path", "next_action", "arm"),
    Kind.ALERT: ("alert", "severity"),
}

# Champion/challenger as outputs of a strategy row: the cases whose ``ab_bucket`` (0-99, stable per
# case number) is below ``challenger_percent`` take ``challenger_path`` (arm "challenger"); the
# others the row's ``treatment_path`` and ``arm``. Optional; both or neither on a row.
SPLIT_OUTPUTS = ("challenger_path", "challenger_percent")

OUTPUT_TYPES = (FactType.TEXT, FactType.NUMBER, FactType.INTEGER, FactType.BOOLEAN, FactType.ENUM)
COMPARISONS = ("<", "<=", ">", ">=", "=", "!=")
ORDERINGS = frozenset({"<", "<=", ">", ">="})


class TableError(ValueError):
    """A decision table that cannot be used, with where the problem is."""

    def __init__(
        self,
        reason: str,
        *,
        table: str | None = None,
        version: int | None = None,
        row: str | None = None,
        column: str | None = None,
        cell: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.table = table
        self.version = version
        self.row = row
        self.column = column
        self.cell = cell
        self.field = field
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = []
        if self.table is not None:
            where.append(f"table {self.table}" + (f" v{self.version}" if self.version else ""))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.cell is not None:
            where.append(f"cell {self.cell!r}")
        if self.field is not None:
            where.append(f"at {self.field}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass(frozen=True)
class Compare:
    """``op value``; a bare literal is ``= value``."""

    op: str
    value: FactValue


@dataclass(frozen=True)
class Between:
    """An interval such as ``[30..60)``: closed ends include the bound, open ends exclude it."""

    low: FactValue
    high: FactValue
    low_closed: bool
    high_closed: bool


Test = Compare | Between


@dataclass(frozen=True)
class Cell:
    """The tests of one cell, any of which matches (negated: none of which); none is ``-``."""

    tests: tuple[Test, ...] = ()
    negated: bool = False

    @property
    def is_any(self) -> bool:
        return not self.tests

    @property
    def text(self) -> str:
        """The canonical way to write this cell."""
        if self.is_any:
            return "-"
        body = ", ".join(_render_test(test) for test in self.tests)
        return f"not({body})" if self.negated else body


@dataclass(frozen=True)
class Output:
    name: str
    type: FactType
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    id: str
    when: tuple[Cell, ...]
    then: Mapping[str, Any]
    annotation: str | None = None


@dataclass(frozen=True)
class DecisionTable:
    name: str
    kind: Kind
    version: int
    hit_policy: HitPolicy
    inputs: tuple[Fact, ...]
    outputs: tuple[Output, ...]
    rows: tuple[Row, ...]
    description: Mapping[str, str] = field(default_factory=dict)

    @property
    def qualified_name(self) -> str:
        """``<name>__v<version>``: the engine's ruleset name and what provenance records."""
        return f"{self.name}__v{self.version}"

    @cached_property
    def fact_names(self) -> tuple[str, ...]:
        return tuple(fact.name for fact in self.inputs)

    @cached_property
    def conditions(self) -> dict[str, dict[str, str]]:
        """Per row id, its cells other than ``-`` as canonical text (what provenance shows)."""
        return {
            row.id: {
                fact.name: cell.text
                for fact, cell in zip(self.inputs, row.when, strict=True)
                if not cell.is_any
            }
            for row in self.rows
        }

    def priority_rank(self, row: Row) -> tuple[int, ...]:
        """DMN PRIORITY: outputs with declared values, in column order, each ranked by the
        position of the row's value in that list (0 is the highest); null ranks lowest."""
        return tuple(
            output.values.index(row.then[output.name])
            if row.then[output.name] in output.values
            else len(output.values)
            for output in self.outputs
            if output.values
        )


# ---- cells ------------------------------------------------------------------------------------


def _render_literal(value: FactValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return plain_number(value)
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False)


def _render_test(test: Test) -> str:
    if isinstance(test, Between):
        return (
            ("[" if test.low_closed else "(")
            + f"{_render_literal(test.low)}..{_render_literal(test.high)}"
            + ("]" if test.high_closed else ")")
        )
    literal = _render_literal(test.value)
    return literal if test.op == "=" else f"{test.op} {literal}"


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<date>\d{4}-\d{2}-\d{2}(?!\d))
      | (?P<number>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<range>\.\.)
      | (?P<op><=|>=|!=|<|>|=)
      | (?P<punct>[\[\]\(\),])
      | (?P<word>[^\s"\[\]\(\),<>=!]+)
    )""",
    re.VERBOSE,
)


class CellError(ValueError):
    """A cell that cannot be read; the document reader adds the table, row and column."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise CellError(f"cannot read {text[position:].strip()!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _number_literal(fact: Fact, token: str) -> float | int:
    try:
        number = Decimal(token)
    except InvalidOperation:  # pragma: no cover - the token pattern admits only numbers
        raise CellError(f"{token} is not a number") from None
    if fact.type is FactType.INTEGER:
        if number != number.to_integral_value():
            raise CellError(f"{fact.name} is an integer; {token} is not a whole number")
        if abs(number) > MAX_INTEGER:
            raise CellError(f"{token} is outside ±2**53")
        return int(number)
    value = float(number)
    if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
        raise CellError(f"{token} is outside ±10**15")
    return value


def _literal(fact: Fact, tokens: list[tuple[str, str]], at: int) -> tuple[FactValue, int]:
    """The literal starting at ``tokens[at]`` for a column of ``fact``, and the next position."""
    if at >= len(tokens):
        raise CellError("a value is missing at the end")
    kind, token = tokens[at]
    ftype = fact.type
    if kind == "string":
        if ftype not in (FactType.TEXT, FactType.ENUM):
            raise CellError(f"{fact.name} is {ftype}; {token} is quoted text")
        try:
            value = json.loads(token)
        except json.JSONDecodeError:
            raise CellError(f"{token} has an invalid escape") from None
        if ftype is FactType.ENUM and value not in fact.values:
            raise CellError(f"{token} is not one of {', '.join(fact.values)}")
        return value, at + 1
    if kind == "number":
        if ftype in (FactType.TEXT, FactType.ENUM):
            raise CellError(f'{fact.name} is {ftype}; write the value in quotes: "{token}"')
        if ftype not in (FactType.NUMBER, FactType.INTEGER):
            raise CellError(f"{fact.name} is {ftype}; {token} is a number")
        return _number_literal(fact, token), at + 1
    if kind == "date" or (kind == "word" and token.lower() == "date"):
        if ftype is not FactType.DATE:
            raise CellError(f"{fact.name} is {ftype}; {token} is a date")
        next_at = at + 1
        if kind == "word":  # date("2025-01-31"), as DMN writes it
            call = tokens[at + 1 : at + 4]
            if len(call) < 3 or call[0] != ("punct", "(") or call[1][0] != "string":
                raise CellError('write a date as 2025-01-31 or date("2025-01-31")')
            if call[2] != ("punct", ")"):
                raise CellError('write a date as 2025-01-31 or date("2025-01-31")')
            token, next_at = json.loads(call[1][1]), at + 4
        try:
            return date.fromisoformat(token), next_at
        except ValueError:
            raise CellError(f"{token} is not a valid date (YYYY-MM-DD)") from None
    if kind == "word" and token.lower() in ("true", "false"):
        if ftype is not FactType.BOOLEAN:
            raise CellError(f"{fact.name} is {ftype}; {token} is a boolean")
        return token.lower() == "true", at + 1
    if kind == "word":
        if ftype in (FactType.TEXT, FactType.ENUM):
            raise CellError(f'text values need double quotes: write "{token}"')
        if ftype is FactType.BOOLEAN:
            raise CellError(f"{fact.name} is boolean; write true or false, not {token}")
        raise CellError(f"{fact.name} is {ftype}; {token} is not a value of that type")
    raise CellError(f"expected a value, found {token!r}")


def _test(fact: Fact, tokens: list[tuple[str, str]], at: int) -> tuple[Test, int]:
    kind, token = tokens[at]
    if kind == "op":
        if token in ORDERINGS and fact.type not in ORDERED_TYPES:
            raise CellError(
                f"{token} needs a number, integer or date column; {fact.name} is {fact.type}"
            )
        value, at = _literal(fact, tokens, at + 1)
        return Compare(token, value), at
    if kind == "punct" and token in "[(":
        if fact.type not in ORDERED_TYPES:
            raise CellError(
                f"an interval needs a number, integer or date column; {fact.name} is {fact.type}"
            )
        low, at = _literal(fact, tokens, at + 1)
        if at >= len(tokens) or tokens[at][0] != "range":
            raise CellError("an interval is written [low..high] with .. between the bounds")
        high, at = _literal(fact, tokens, at + 1)
        if at >= len(tokens) or tokens[at][1] not in ("]", ")"):
            raise CellError("an interval ends with ] (bound included) or ) (bound excluded)")
        interval = Between(low, high, token == "[", tokens[at][1] == "]")
        closed = interval.low_closed and interval.high_closed
        if low > high or (low == high and not closed):
            raise CellError("the interval is empty: its low bound must be below its high bound")
        return interval, at + 1
    value, at = _literal(fact, tokens, at)
    return Compare("=", value), at


def parse_cell(text: object, fact: Fact) -> Cell:
    """The tests written in ``text`` for a column over ``fact``; raises :class:`CellError`."""
    if not isinstance(text, str):
        raise CellError('a cell is text such as ">= 90" or "-", in quotes in the JSON')
    stripped = text.strip()
    if not stripped:
        raise CellError("the cell is empty; write - for any value")
    if stripped == "-":
        return Cell()
    tokens = _tokens(stripped)
    negated = tokens[0][0] == "word" and tokens[0][1].lower() == "not"
    if negated:
        if len(tokens) < 4 or tokens[1] != ("punct", "(") or tokens[-1] != ("punct", ")"):
            raise CellError('write a negation as not("X") or not(>= 90, "Y")')
        tokens = tokens[2:-1]
    tests: list[Test] = []
    at = 0
    while True:
        if at >= len(tokens):
            raise CellError("a test is missing")
        if tokens[at] == ("word", "-"):
            raise CellError("- (any value) stands alone in a cell")
        test, at = _test(fact, tokens, at)
        if fact.type is FactType.BOOLEAN and test not in (
            Compare(op, flag) for op in ("=", "!=") for flag in (True, False)
        ):
            raise CellError("a boolean column takes true, false, != true or != false")
        tests.append(test)
        if at == len(tokens):
            break
        if tokens[at] != ("punct", ","):
            raise CellError(f"unexpected {tokens[at][1]!r}; separate tests with a comma")
        at += 1
    return Cell(tuple(tests), negated)


# ---- documents --------------------------------------------------------------------------------

_TOP_KEYS = {
    "format",
    "name",
    "kind",
    "version",
    "hit_policy",
    "description",
    "inputs",
    "outputs",
    "rows",
}
_OPTIONAL_TOP_KEYS = {"description"}


class _Reader:
    """Reads one document, remembering the table name and version for every message."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.version: int | None = None

    def error(self, reason: str, **where: Any) -> TableError:
        return TableError(reason, table=self.table, version=self.version, **where)

    def keys(
        self,
        obj: object,
        path: str,
        required: AbstractSet[str],
        optional: AbstractSet[str] = frozenset(),
    ) -> Mapping[str, Any]:
        if not isinstance(obj, dict):
            raise self.error(f"expected a JSON object, found {type(obj).__name__}", field=path)
        unknown = sorted(set(obj) - required - optional)
        if unknown:
            known = ", ".join(sorted(required | optional))
            raise self.error(f"unknown key {unknown[0]!r} (known keys: {known})", field=path)
        missing = sorted(required - set(obj))
        if missing:
            raise self.error(f"missing key {missing[0]!r}", field=path)
        return obj

    def name(self, obj: object, path: str, pattern: re.Pattern[str], what: str) -> str:
        if not isinstance(obj, str) or not pattern.match(obj):
            raise self.error(f"{what} must be {pattern.pattern}, found {obj!r}", field=path)
        return obj

    def choice(self, obj: object, path: str, enum_type: type[enum.StrEnum]) -> Any:
        allowed = [member.value for member in enum_type]
        if obj not in allowed:
            raise self.error(f"expected one of {', '.join(allowed)}, found {obj!r}", field=path)
        return enum_type(obj)

    def items(self, obj: object, path: str, limit: int) -> Sequence[Any]:
        if not isinstance(obj, list) or not obj:
            raise self.error("expected a non-empty JSON list", field=path)
        if len(obj) > limit:
            raise self.error(f"at most {limit} entries, found {len(obj)}", field=path)
        return obj

    def table_head(self, document: Mapping[str, Any]) -> tuple[str, Kind, int, HitPolicy]:
        if document["format"] != FORMAT or isinstance(document["format"], bool):
            raise self.error(f"unsupported format {document['format']!r}; expected {FORMAT}")
        name = self.name(document["name"], "name", TABLE_NAME_PATTERN, "the table name")
        self.table = name
        version = document["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.error(f"the version must be a whole number from 1, found {version!r}")
        self.version = version
        return (
            name,
            self.choice(document["kind"], "kind", Kind),
            version,
            self.choice(document["hit_policy"], "hit_policy", HitPolicy),
        )

    def description(self, obj: object) -> dict[str, str]:
        entries = self.keys(obj, "description", set(), {"en", "zh"})
        for language, text in entries.items():
            if not isinstance(text, str):
                raise self.error("a description is text", field=f"description.{language}")
        return dict(entries)

    def inputs(self, obj: object) -> tuple[Fact, ...]:
        facts: list[Fact] = []
        for index, entry in enumerate(self.items(obj, "inputs", MAX_INPUTS)):
            path = f"inputs[{index}]"
            column = self.keys(entry, path, {"fact", "type"})
            name = column["fact"]
            if name not in FACTS:
                close = difflib.get_close_matches(str(name), FACTS, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.error(f"unknown fact {name!r}{hint}", field=f"{path}.fact")
            fact = FACTS[name]
            if column["type"] != fact.type.value:
                raise self.error(
                    f"declared {column['type']!r} but the fact catalogue says {fact.type.value!r}",
                    column=name,
                )
            if fact in facts:
                raise self.error("the same fact is used by two columns", column=name)
            facts.append(fact)
        return tuple(facts)

    def outputs(self, obj: object, kind: Kind, policy: HitPolicy) -> tuple[Output, ...]:
        outputs: list[Output] = []
        for index, entry in enumerate(self.items(obj, "outputs", MAX_INPUTS)):
            path = f"outputs[{index}]"
            column = self.keys(entry, path, {"name", "type"}, {"values"})
            name = self.name(column["name"], f"{path}.name", NAME_PATTERN, "an output name")
            if name in RESERVED_NAMES:
                raise self.error(f"{name!r} is a reserved name", column=name)
            if any(output.name == name for output in outputs):
                raise self.error("two output columns have this name", column=name)
            output_type = column["type"]
            if output_type not in OUTPUT_TYPES:
                allowed = ", ".join(OUTPUT_TYPES)
                raise self.error(f"output type must be one of {allowed}", column=name)
            output_type = FactType(output_type)
            values = column.get("values")
            if (output_type is FactType.ENUM) != (values is not None):
                raise self.error("enum outputs, and only they, list their values", column=name)
            if values is not None and (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
                or len(set(values)) != len(values)
            ):
                raise self.error("values must be a list of distinct, non-empty texts", column=name)
            outputs.append(Output(name, output_type, tuple(values or ())))
        names = {output.name for output in outputs}
        for required in REQUIRED_OUTPUTS[kind]:
            if required not in names:
                raise self.error(f"a {kind} table must have an output column {required!r}")
        if policy is HitPolicy.PRIORITY and not any(output.values for output in outputs):
            raise self.error(
                "hit policy PRIORITY ranks rows by the order of an enum output's values; "
                "declare one enum output"
            )
        return tuple(outputs)

    def split(self, values: Mapping[str, Any], row: str) -> None:
        """A champion/challenger split names the challenger's path and its share, both or
        neither (see :data:`SPLIT_OUTPUTS`)."""
        path, share = (values.get(name) for name in SPLIT_OUTPUTS)
        if (path is None) != (share is None):
            raise self.error(
                "a split needs both challenger_path and challenger_percent (or neither)",
                row=row,
                column="challenger_percent" if share is None else "challenger_path",
            )
        if share is not None and not 0 <= share <= 100:
            raise self.error(
                f"challenger_percent is a share of cases, 0 to 100, not {share}",
                row=row,
                column="challenger_percent",
            )

    def output_value(self, output: Output, value: object, row: str) -> Any:
        where = {"row": row, "column": output.name}
        if value is None:
            return None
        if output.type in (FactType.TEXT, FactType.ENUM):
            if not isinstance(value, str):
                raise self.error(f"expected text, found {value!r}", **where)
            if output.type is FactType.ENUM and value not in output.values:
                raise self.error(f"{value!r} is not one of {', '.join(output.values)}", **where)
            return value
        if output.type is FactType.BOOLEAN:
            if not isinstance(value, bool):
                raise self.error(f"expected true or false, found {value!r}", **where)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"expected a number, found {value!r}", **where)
        if output.type is FactType.INTEGER:
            if not float(value).is_integer():
                raise self.error(f"expected a whole number, found {value!r}", **where)
            return int(value)
        if not math.isfinite(value):
            raise self.error(f"expected a finite number, found {value!r}", **where)
        return float(value)

    def rows(
        self, obj: object, inputs: tuple[Fact, ...], outputs: tuple[Output, ...]
    ) -> tuple[Row, ...]:
        rows: list[Row] = []
        seen: set[str] = set()
        by_name = {fact.name: fact for fact in inputs}
        for index, entry in enumerate(self.items(obj, "rows", MAX_ROWS)):
            path = f"rows[{index}]"
            row = self.keys(entry, path, {"id", "when", "then"}, {"annotation"})
            row_id = self.name(row["id"], f"{path}.id", ROW_ID_PATTERN, "a row id")
            if row_id in seen:
                raise self.error("two rows have this id", row=row_id)
            seen.add(row_id)
            when = row["when"]
            if not isinstance(when, dict):
                raise self.error("when is a JSON object of column: cell", row=row_id)
            unknown = [name for name in when if name not in by_name]
            if unknown:
                raise self.error(
                    f"no input column {unknown[0]!r} (columns: {', '.join(by_name)})", row=row_id
                )
            cells = []
            for fact in inputs:
                text = when.get(fact.name, "-")
                try:
                    cells.append(parse_cell(text, fact))
                except CellError as error:
                    raise self.error(
                        str(error), row=row_id, column=fact.name, cell=str(text)
                    ) from None
            then = row["then"]
            if not isinstance(then, dict):
                raise self.error("then is a JSON object of output: value", row=row_id)
            for name in then:
                if name not in {o.name for o in outputs}:
                    raise self.error(f"no output column {name!r}", row=row_id)
            for output in outputs:
                if output.name not in then:
                    raise self.error(
                        "no value for this output (write null for none)",
                        row=row_id,
                        column=output.name,
                    )
            values = {o.name: self.output_value(o, then[o.name], row_id) for o in outputs}
            self.split(values, row_id)
            annotation = row.get("annotation")
            if annotation is not None and not isinstance(annotation, str):
                raise self.error("an annotation is text", row=row_id)
            rows.append(Row(row_id, tuple(cells), values, annotation))
        return tuple(rows)


def from_json(document: str | bytes | Mapping[str, Any]) -> DecisionTable:
    """A table read from its JSON document, checked against the schema and the fact catalogue."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise TableError(
                f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
    reader = _Reader()
    if isinstance(document, dict):  # name the table in messages as early as it can be
        name, version = document.get("name"), document.get("version")
        reader.table = name if isinstance(name, str) and TABLE_NAME_PATTERN.match(name) else None
        valid = isinstance(version, int) and not isinstance(version, bool) and version >= 1
        reader.version = version if valid else None
    top = reader.keys(document, "(document)", _TOP_KEYS - _OPTIONAL_TOP_KEYS, _OPTIONAL_TOP_KEYS)
    name, kind, version, policy = reader.table_head(top)
    description = reader.description(top.get("description", {}))
    inputs = reader.inputs(top["inputs"])
    outputs = reader.outputs(top["outputs"], kind, policy)
    rows = reader.rows(top["rows"], inputs, outputs)
    return DecisionTable(name, kind, version, policy, inputs, outputs, rows, description)


def to_dict(table: DecisionTable) -> dict[str, Any]:
    """The canonical document: every cell written one way, every input present in every row."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "name": table.name,
        "kind": table.kind.value,
        "version": table.version,
        "hit_policy": table.hit_policy.value,
        "description": dict(table.description),
        "inputs": [{"fact": f.name, "type": f.type.value} for f in table.inputs],
        "outputs": [
            {"name": o.name, "type": o.type.value}
            | ({"values": list(o.values)} if o.values else {})
            for o in table.outputs
        ],
        "rows": [],
    }
    for row in table.rows:
        entry = {
            "id": row.id,
            "when": {
                fact.name: cell.text for fact, cell in zip(table.inputs, row.when, strict=True)
            },
            "then": dict(row.then),
        }
        if row.annotation is not None:
            entry["annotation"] = row.annotation
        document["rows"].append(entry)
    return document


def to_json(table: DecisionTable) -> str:
    """The canonical document as the file that ships (sorted keys, two-space indent)."""
    return json.dumps(to_dict(table), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def canonical_json(table: DecisionTable) -> str:
    """The compact canonical form the checksum is taken of."""
    return json.dumps(to_dict(table), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def checksum(table: DecisionTable) -> str:
    """SHA-256 of the canonical JSON: equal for equal tables, whatever editor wrote them."""
    return hashlib.sha256(canonical_json(table).encode("utf-8")).hexdigest()
