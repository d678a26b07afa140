"""Analyst-written test cases of a decision table: given facts, the outputs expected.

Test cases are stored with each ruleset version (a JSON list) and a version whose tests fail
cannot be submitted, so a rule change that breaks a known case is caught before a supervisor ever
sees it. They run on the reference evaluator: no engine, no database.

A test case is a JSON object::

    {
      "name": "M2 high risk goes to calls",        # unique within the table's tests
      "facts": {"status": "in_collection", "bucket": "M2", "risk_level": "HIGH"},
      "expect": {"team": "calls", "required_skill": "high_risk"},
      "expect_rows": ["A07"]                       # optional
    }

- ``facts``: catalogue facts that are inputs of the table, each a value of the fact's type (what
  :func:`~rules_service.facts.normalise_facts` accepts); a fact left out is unknown, which
  matches only ``-``.
- ``expect``: ``null`` means no row matches. Otherwise the outputs of the hit; only the outputs
  named are compared (``"team": null`` checks the output is null), at least one must be named.
  FIRST, UNIQUE and PRIORITY tables take one object (exactly one row must hit). COLLECT tables take
  a list of objects, one per hit, in table order (exact count; an object alone is read as a list
  of one). ``expect`` may be left out when ``expect_rows`` is given.
- ``expect_rows``: the ids of the rows that hit, in table order (``[]``: none).

In a spreadsheet (CSV or XLSX, see :func:`tests_from_rows`) the header names the columns:
``name``; the table's input facts by fact name or by the catalogue's Chinese or English label;
``expect.<output>`` (also ``期望.<output>``); and ``expect_rows``. An empty fact cell is an unknown
fact; an empty expect cell is not checked and ``null`` checks the output is null; all expect cells
and ``expect_rows`` empty means no row matches; a text in double quotes is that text (``"null"``,
``"=1+1"``, which a spreadsheet would otherwise compute). For a COLLECT table the next hit of a
test goes on the following line with the same name and no facts. ``expect_rows`` lists row ids
separated by commas; ``-`` is none.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import load_workbook

from rules_service.decision_table import DecisionTable, HitPolicy, Output
from rules_service.facts import FACTS, Fact, FactError, FactType, normalise_value, plain_number
from rules_service.hits import Hit, UniqueHitError
from rules_service.reference import evaluate

TEST_KEYS = ("name", "facts", "expect", "expect_rows")
NAME_HEADERS = frozenset({"name", "test", "test name", "名称", "用例", "用例名称", "测试名称"})
EXPECT_PREFIXES = ("expect.", "expect:", "期望.", "期望:", "期望：", "预期.", "预期:", "预期：")
EXPECT_ROWS_HEADERS = frozenset(
    {"expect_rows", "expected rows", "期望规则", "预期规则", "命中规则"}
)
TEST_SHEETS = ("tests", "测试")
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是", "真"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否", "假"})
_ROW_ID_SPLIT = re.compile(r"[\s,，、;；]+")


@dataclass
class TestResult:
    """One test case run: whether it passed and, either way, what the table gave."""

    __test__ = False  # not a pytest class

    name: str
    passed: bool
    message: str
    # The hits as [{"row": id, "then": {output: value}}], or None when the case could not run.
    got: Any = None


@dataclass(frozen=True)
class RowError:
    """A spreadsheet row that was not read: ``row`` as the spreadsheet numbers it (the header is
    row 1; 0 is the file as a whole), the column's header text, and ``col``, its position from 1
    (None for the whole row), so an XLSX importer can name the cell."""

    row: int
    column: str
    value: str
    reason: str
    col: int | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        if self.column:
            where += f", column {self.column}"
        value = f" (found {self.value!r})" if self.value else ""
        return f"{where}: {self.reason}{value}"


# ---- values -----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: ``True`` is not ``1`` here."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def output_value(output: Output, value: object) -> Any:
    """``value`` checked as a value of ``output`` (as the table document types it); raises
    ``ValueError`` with the reason."""
    if value is None:
        return None
    if output.type in (FactType.TEXT, FactType.ENUM):
        if not isinstance(value, str):
            raise ValueError(f"{output.name} is {output.type}; expected text, found {value!r}")
        if output.type is FactType.ENUM and value not in output.values:
            raise ValueError(f"{value!r} is not one of {', '.join(output.values)}")
        return value
    if output.type is FactType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{output.name} is boolean; expected true or false, found {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{output.name} is {output.type}; expected a number, found {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, found {value!r}")
    if output.type is FactType.INTEGER:
        if not float(value).is_integer():
            raise ValueError(f"{output.name} is an integer; {value!r} is not a whole number")
        return int(value)
    return value


def output_from_cell(output: Output, raw: object) -> Any:
    """A spreadsheet cell as a value of ``output``: empty or ``null`` is null, a quoted text is
    that text (``"null"``), and numbers or booleans typed as text are read as such."""
    if raw is None:
        return None
    if isinstance(raw, datetime | date):
        raise ValueError(f"{output.name} is {output.type}; a date is not one of its values")
    if isinstance(raw, str):
        text = raw.strip()
        if not text or text.lower() == "null":
            return None
        quoted = _unquote(text)
        if quoted is not None:
            return output_value(output, quoted)
        if output.type in (FactType.TEXT, FactType.ENUM):
            return output_value(output, text)
        if output.type is FactType.BOOLEAN:
            if text.lower() in TRUE_WORDS or text.lower() in FALSE_WORDS:
                return text.lower() in TRUE_WORDS
            raise ValueError(f"{output.name} is boolean; write true or false, not {text!r}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise ValueError(f"{output.name} is {output.type}; {text!r} is not a number")
        if output.type is FactType.INTEGER:
            if number != number.to_integral_value():
                raise ValueError(f"{output.name} is an integer; {text!r} is not a whole number")
            return int(number)
        return output_value(output, int(number) if number == int(number) else float(number))
    if output.type in (FactType.TEXT, FactType.ENUM) and _is_number(raw):
        return output_value(output, plain_number(raw))  # Excel made the text "123" a number
    if output.type is FactType.BOOLEAN and isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    return output_value(output, raw)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unquote(text: str) -> str | None:
    """The text inside a JSON-quoted spreadsheet cell, or None if it is not one."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return None
        return decoded if isinstance(decoded, str) else None
    return None


def text_to_cell(value: str) -> str:
    """Text as a cell that reads back the same: quoted when it would read otherwise (empty,
    ``null``, surrounding spaces, a leading quote) or when a spreadsheet would take it for a
    formula (``=``, ``+``, ``-``, ``@``)."""
    if (
        not value.strip()
        or value != value.strip()
        or value.lower() == "null"
        or value[0] in '"=+-@'
    ):
        return _show(value)
    return value


def output_to_cell(value: Any) -> Any:
    """An output value as a spreadsheet cell that :func:`output_from_cell` reads back (null is
    written ``null``: an empty expect cell means "not checked")."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return text_to_cell(value)
    return value


def _fact_from_cell(fact: Fact, raw: object) -> Any:
    """A spreadsheet cell as the JSON value of ``fact`` (dates as YYYY-MM-DD, whole numbers as
    integers); raises ``FactError``."""
    if isinstance(raw, datetime) and raw.time() == datetime.min.time():
        raw = raw.date()  # Excel has no dates, only date-times at midnight
    if isinstance(raw, str):
        raw = raw.strip()
        if fact.type in (FactType.TEXT, FactType.ENUM):
            quoted = _unquote(raw)
            raw = raw if quoted is None else quoted
    if fact.type is FactType.BOOLEAN and isinstance(raw, str):
        word = raw.lower()
        raw = True if word in TRUE_WORDS else False if word in FALSE_WORDS else raw
    if fact.type in (FactType.TEXT, FactType.ENUM) and _is_number(raw):
        raw = plain_number(raw)  # type: ignore[arg-type]
    value = normalise_value(fact, raw)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _cell_text(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return plain_number(raw)
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    return str(raw).strip()


# ---- checking test cases ----------------------------------------------------------------------


def _expected_hits(expect: Any) -> list[Mapping[str, Any]]:
    """``expect`` as the list of expected hits (empty: no row matches)."""
    if isinstance(expect, Mapping):
        return [expect]
    return list(expect or [])


def _problems(table: DecisionTable, test: object, seen: set[str]) -> list[str]:
    """What is wrong with one test case, without its name (the caller adds it)."""
    if not isinstance(test, Mapping):
        return [f"a test case is a JSON object, found {type(test).__name__}"]
    problems = []
    unknown = [key for key in test if key not in TEST_KEYS]
    if unknown:
        problems.append(f"unknown key {unknown[0]!r} (known keys: {', '.join(TEST_KEYS)})")
    name = test.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("a test case needs a name")
    elif name in seen:
        problems.append("another test case has this name")
    facts = test.get("facts", {})
    if not isinstance(facts, Mapping):
        problems.append("facts is a JSON object of fact: value")
        facts = {}
    for fact_name, value in facts.items():
        if fact_name not in FACTS:
            close = difflib.get_close_matches(str(fact_name), list(FACTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown fact {fact_name!r}{hint}")
        elif fact_name not in table.fact_names:
            problems.append(
                f"fact {fact_name!r} is not an input of table {table.name} "
                f"(inputs: {', '.join(table.fact_names)})"
            )
        else:
            try:
                normalise_value(FACTS[fact_name], value)
            except FactError as error:
                problems.append(str(error))
    if "expect" not in test and "expect_rows" not in test:
        problems.append("say what is expected: expect (null for no row) or expect_rows")
    expect = test.get("expect")
    outputs = {output.name: output for output in table.outputs}
    if isinstance(expect, list) and table.hit_policy is not HitPolicy.COLLECT:
        problems.append(
            f"hit policy {table.hit_policy} gives at most one row: expect is one object, not a list"
        )
    elif expect is not None and not isinstance(expect, Mapping | list):
        problems.append("expect is an object of output: value, a list of them, or null")
    elif expect is not None:
        for index, hit in enumerate(_expected_hits(expect), start=1):
            where = f"expect[{index - 1}]" if isinstance(expect, list) else "expect"
            if not isinstance(hit, Mapping) or not hit:
                problems.append(f"{where} must name at least one output and its value")
                continue
            for output_name, value in hit.items():
                if output_name not in outputs:
                    problems.append(
                        f"{where}: no output {output_name!r} (outputs: {', '.join(outputs)})"
                    )
                    continue
                try:
                    output_value(outputs[output_name], value)
                except ValueError as error:
                    problems.append(f"{where}.{output_name}: {error}")
    if "expect_rows" in test:
        rows = test["expect_rows"]
        ids = {row.id for row in table.rows}
        if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
            problems.append("expect_rows is a list of row ids")
        else:
            missing = [r for r in rows if r not in ids]
            if missing:
                problems.append(f"expect_rows: table {table.name} has no row {missing[0]!r}")
            if expect is None and "expect" in test and rows:
                problems.append("expect is null (no row matches) but expect_rows names rows")
    return problems


def _label(test: object, index: int) -> str:
    name = test.get("name") if isinstance(test, Mapping) else None
    return name if isinstance(name, str) and name.strip() else f"#{index + 1}"


def validate_tests(table: DecisionTable, tests: object) -> list[str]:
    """Every problem in ``tests`` for ``table``, each prefixed ``test <name>:``; empty when all
    the cases can run (they may still fail)."""
    if not isinstance(tests, list):
        return ["tests must be a JSON list of test cases"]
    problems = []
    seen: set[str] = set()
    for index, test in enumerate(tests):
        label = _label(test, index)
        problems += [f"test {label}: {problem}" for problem in _problems(table, test, seen)]
        seen.add(label)
    return problems


# ---- running ----------------------------------------------------------------------------------


def _rows_text(row_ids: Sequence[str]) -> str:
    if not row_ids:
        return "no row"
    return ("row " if len(row_ids) == 1 else "rows ") + ", ".join(row_ids)


def _mismatches(expected: Mapping[str, Any], hit: Hit) -> list[str]:
    return [
        f"{name} is {_show(hit.outputs.get(name))}, expected {_show(value)}"
        for name, value in expected.items()
        if not _same(hit.outputs.get(name), value)
    ]


def _check(table: DecisionTable, test: Mapping[str, Any], hits: list[Hit]) -> list[str]:
    """Why ``hits`` are not what ``test`` expects (empty: passed)."""
    failures = []
    got_ids = [hit.row_id for hit in hits]
    if "expect_rows" in test and list(test["expect_rows"]) != got_ids:
        failures.append(f"expected {_rows_text(test['expect_rows'])}, got {_rows_text(got_ids)}")
    if "expect" not in test:
        return failures
    expect = test["expect"]
    expected = _expected_hits(expect)
    if not expected:
        if hits:
            failures.append(f"expected no row to match; {_rows_text(got_ids)} matched")
        return failures
    if len(expected) != len(hits):
        if not hits:
            wanted = ", ".join(f"{k}={_show(v)}" for k, v in expected[0].items())
            failures.append(f"expected {wanted}; no row matched")
        else:
            failures.append(
                f"expected {len(expected)} hit{'s' * (len(expected) != 1)}, got {len(hits)} "
                f"({_rows_text(got_ids)})"
            )
        return failures
    several = table.hit_policy is HitPolicy.COLLECT and len(hits) > 1
    for index, (wanted, hit) in enumerate(zip(expected, hits, strict=True), start=1):
        wrong = _mismatches(wanted, hit)
        if wrong:
            where = f"hit {index} (row {hit.row_id})" if several else f"row {hit.row_id}"
            failures.append(f"{where}: {', '.join(wrong)}")
    return failures


def run_tests(table: DecisionTable, tests: object) -> list[TestResult]:
    """Each test case run on the reference evaluator. Never raises for a bad case: a case that
    cannot run (bad facts, a UNIQUE table matching two rows) is a failed result saying why."""
    if not isinstance(tests, list):
        return [TestResult("(tests)", False, "tests must be a JSON list of test cases")]
    results = []
    seen: set[str] = set()
    for index, test in enumerate(tests):
        name = _label(test, index)
        problems = _problems(table, test, seen)
        seen.add(name)
        if problems:
            results.append(TestResult(name, False, "; ".join(problems)))
            continue
        try:
            hits = evaluate(table, test.get("facts", {}))
        except (UniqueHitError, FactError) as error:
            results.append(TestResult(name, False, str(error)))
            continue
        got = [{"row": hit.row_id, "then": dict(hit.outputs)} for hit in hits]
        failures = _check(table, test, hits)
        if failures:
            results.append(TestResult(name, False, "; ".join(failures), got))
        else:
            matched = _rows_text([hit.row_id for hit in hits])
            results.append(TestResult(name, True, f"passed: {matched} matched", got))
    return results


# ---- spreadsheets -----------------------------------------------------------------------------


def _header_key(text: object) -> str:
    return " ".join(_cell_text(text).split()).casefold()


def _fact_by_header(table: DecisionTable) -> dict[str, Fact]:
    """Header text → input fact, by name or by the catalogue's Chinese or English label."""
    lookup: dict[str, Fact] = {}
    for fact in table.inputs:
        for key in (fact.zh, fact.en, fact.name):  # the name wins over a label
            lookup[_header_key(key)] = fact
    return lookup


@dataclass
class _Columns:
    name: int | None
    facts: dict[int, Fact]
    outputs: dict[int, Output]
    expect_rows: int | None


def _columns(table: DecisionTable, header: Sequence[Any]) -> tuple[_Columns, list[RowError]]:
    errors = []
    columns = _Columns(None, {}, {}, None)
    facts = _fact_by_header(table)
    outputs = {output.name.casefold(): output for output in table.outputs}
    taken: dict[str, int] = {}
    for index, raw in enumerate(header):
        text = _cell_text(raw)
        key = _header_key(raw)
        if not key:
            continue
        what: str
        if key in NAME_HEADERS:
            what = "name"
        elif key in EXPECT_ROWS_HEADERS:
            what = "expect_rows"
        elif key in facts:
            what = f"fact {facts[key].name}"
        elif key.startswith(EXPECT_PREFIXES):
            prefix = next(p for p in EXPECT_PREFIXES if key.startswith(p))
            output = outputs.get(key[len(prefix) :].strip())
            if output is None:
                known = ", ".join(f"expect.{o.name}" for o in table.outputs)
                errors.append(
                    RowError(1, text, "", f"no such output (columns: {known})", index + 1)
                )
                continue
            what = f"output {output.name}"
        else:
            hint = ""
            if key in FACTS or any(
                key in (_header_key(f.zh), _header_key(f.en)) for f in FACTS.values()
            ):
                hint = f"; the fact is not an input of table {table.name}"
            errors.append(
                RowError(
                    1,
                    text,
                    "",
                    "unknown column: expected name, an input fact (name or label), "
                    f"expect.<output> or expect_rows{hint}; the column is ignored",
                    index + 1,
                )
            )
            continue
        if what in taken:
            errors.append(
                RowError(
                    1, text, "", f"the same column as column {taken[what]}; ignored", index + 1
                )
            )
            continue
        taken[what] = index + 1
        if what == "name":
            columns.name = index
        elif what == "expect_rows":
            columns.expect_rows = index
        elif what.startswith("fact "):
            columns.facts[index] = facts[key]
        else:
            columns.outputs[index] = next(o for o in table.outputs if what == f"output {o.name}")
    return columns, errors


def _row_ids(table: DecisionTable, raw: object) -> list[str]:
    text = _cell_text(raw)
    if text in ("-", "无", "none"):
        return []
    ids = [part for part in _ROW_ID_SPLIT.split(text) if part]
    known = {row.id for row in table.rows}
    missing = [row_id for row_id in ids if row_id not in known]
    if missing:
        raise ValueError(f"table {table.name} has no row {missing[0]!r}")
    return ids


@dataclass
class _Line:
    """One spreadsheet row read: what it says, and what could not be read."""

    name: str
    facts: dict[str, Any]
    hit: dict[str, Any]
    row_ids: list[str] | None
    has_facts: bool
    errors: list[RowError]


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _read_line(
    table: DecisionTable, columns: _Columns, header: Sequence[Any], number: int, cells: list[Any]
) -> _Line:
    def cell(index: int | None) -> Any:
        if index is None or index >= len(cells) or not _present(cells[index]):
            return None
        return cells[index]

    errors = []

    def fail(index: int | None, reason: str) -> None:
        column = _cell_text(header[index]) if index is not None else ""
        col = index + 1 if index is not None else None
        errors.append(RowError(number, column, _cell_text(cell(index)), reason, col))

    facts: dict[str, Any] = {}
    for index, fact in columns.facts.items():
        if cell(index) is not None:
            try:
                facts[fact.name] = _fact_from_cell(fact, cell(index))
            except FactError as error:
                fail(index, error.reason)
    hit: dict[str, Any] = {}
    for index, output in columns.outputs.items():
        if cell(index) is not None:
            try:
                hit[output.name] = output_from_cell(output, cell(index))
            except ValueError as error:
                fail(index, str(error))
    row_ids: list[str] | None = None
    if cell(columns.expect_rows) is not None:
        try:
            row_ids = _row_ids(table, cell(columns.expect_rows))
        except ValueError as error:
            fail(columns.expect_rows, str(error))
    name = _cell_text(cell(columns.name))
    return _Line(
        name=(_unquote(name) or name) or f"row {number}",
        facts=facts,
        hit=hit,
        row_ids=row_ids,
        has_facts=any(cell(index) is not None for index in columns.facts),
        errors=errors,
    )


def tests_from_rows(
    table: DecisionTable,
    header: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    first_row: int = 2,  # noqa: PT028  (not a pytest test: named for test cases)
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Test cases read from spreadsheet rows (``rows[0]`` is row ``first_row``), and every row
    that could not be read, with its row number, column and reason; the good rows are kept.

    Empty rows are skipped. An empty name is ``row <n>``. In a COLLECT table, a row with the
    previous test's name and no facts adds one more expected hit to that test.
    """
    columns, errors = _columns(table, header)
    if columns.name is None:
        errors.append(RowError(1, "name", "", "missing column: every test case needs a name"))
    tests: list[dict[str, Any]] = []
    first_seen: dict[str, int] = {}  # test name → its row number
    for offset, cells in enumerate(rows):
        number = first_row + offset
        if not any(_present(value) for value in cells):
            continue
        line = _read_line(table, columns, header, number, list(cells))
        previous = tests[-1] if tests and tests[-1]["name"] == line.name else None
        continues = previous is not None and not line.has_facts
        name_error = None
        if continues and table.hit_policy is HitPolicy.COLLECT:
            assert previous is not None
            if not line.hit or not isinstance(previous.get("expect"), list):
                name_error = (
                    "a line continuing a test case names one more expected hit: fill its "
                    "expect cells"
                )
        elif line.name in first_seen:
            name_error = f"another test case (row {first_seen[line.name]}) has this name"
        if name_error is not None:
            column = _cell_text(header[columns.name]) if columns.name is not None else "name"
            col = columns.name + 1 if columns.name is not None else None
            line.errors.append(RowError(number, column, line.name, name_error, col))
        if line.errors:
            errors += line.errors
            continue
        if continues and previous is not None:
            previous["expect"].append(line.hit)
            if line.row_ids:
                previous["expect_rows"] = [*previous.get("expect_rows", []), *line.row_ids]
            continue
        test: dict[str, Any] = {"name": line.name, "facts": line.facts}
        if line.hit:
            test["expect"] = [line.hit] if table.hit_policy is HitPolicy.COLLECT else line.hit
        elif not line.row_ids:
            test["expect"] = None
        if line.row_ids is not None:
            test["expect_rows"] = line.row_ids
        first_seen[line.name] = number
        tests.append(test)
    return tests, errors


def tests_to_rows(
    table: DecisionTable, tests: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[list[Any]]]:
    """The header and rows :func:`tests_from_rows` reads back into ``tests`` (values typed, for
    XLSX; a COLLECT test with several expected hits takes one line per hit)."""
    header = [
        "name",
        *table.fact_names,
        *(f"expect.{output.name}" for output in table.outputs),
        "expect_rows",
    ]
    names = table.fact_names
    rows = []
    for test in tests:
        facts = test.get("facts") or {}
        expect = test.get("expect")
        hits = _expected_hits(expect) or [{}]
        for index, hit in enumerate(hits):
            line: list[Any] = [_fact_to_cell(test.get("name"))]
            line += [_fact_to_cell(facts.get(name)) if index == 0 else None for name in names]
            line += [
                output_to_cell(hit[output.name]) if output.name in hit else None
                for output in table.outputs
            ]
            expect_rows = test.get("expect_rows")
            if index or expect_rows is None:
                line.append(None)
            else:
                line.append(", ".join(expect_rows) if expect_rows else "-")
            rows.append(line)
    return header, rows


def _fact_to_cell(value: Any) -> Any:
    return text_to_cell(value) if isinstance(value, str) and value else value


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    return _cell_text(value)


def tests_to_csv(table: DecisionTable, tests: Sequence[Mapping[str, Any]]) -> bytes:
    """The tests as CSV in UTF-8 with a BOM, which Excel needs to open Chinese text correctly."""
    header, rows = tests_to_rows(table, tests)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_csv_text(value) for value in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig")


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what a Chinese Excel saves as "CSV"."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def tests_from_csv(
    table: DecisionTable, data: bytes
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Test cases from a CSV upload (comma, semicolon or tab separated); see
    :func:`tests_from_rows`."""
    try:
        text = _decode(data)
    except UnicodeDecodeError as error:
        return [], [RowError(0, "", "", f"cannot decode the file as UTF-8 or GB18030: {error}")]
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not lines:
        return [], [RowError(0, "", "", "the file is empty: expected a header row")]
    return tests_from_rows(table, lines[0], lines[1:])


def tests_from_xlsx(
    table: DecisionTable, data: bytes
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Test cases from the sheet named ``tests`` (or ``测试``) of a workbook, else its first
    sheet; see :func:`tests_from_rows`."""
    try:
        workbook = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for a bad file
        return [], [RowError(0, "", "", f"not a readable XLSX workbook: {error}")]
    sheets = {sheet.title.strip().casefold(): sheet for sheet in workbook.worksheets}
    sheet = next((sheets[n] for n in TEST_SHEETS if n in sheets), workbook.worksheets[0])
    lines = [list(values) for values in sheet.iter_rows(values_only=True)]
    if not lines:
        return [], [RowError(0, "", "", f"sheet {sheet.title} is empty: expected a header row")]
    return tests_from_rows(table, lines[0], lines[1:])


# Named for test cases, these are not pytest tests: keep pytest from collecting them where a test
# module imports them.
for _function in (tests_from_rows, tests_to_rows, tests_to_csv, tests_from_csv, tests_from_xlsx):
    _function.__test__ = False  # type: ignore[attr-defined]
