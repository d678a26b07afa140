"""Decision tables as Excel workbooks: analysts think in spreadsheets, the service in JSON.

:func:`table_to_xlsx` writes a table and its test cases; :func:`table_from_xlsx` reads such a
workbook back, also after an analyst has edited it by hand, into the same table (equal canonical
JSON, so equal checksum) and the same tests. A workbook with mistakes is refused with every bad
cell at once (sheet, cell reference such as ``C7``, reason), so it is fixed in one go.

Sheet ``table``::

    A                          B                     C ...           (outputs)       (last)
    name / 表名                 assignment            hint
    kind / 表类型               assignment            assignment · priority · strategy · alert
    version / 版本              3
    hit policy / 命中策略        FIRST                 FIRST 首条命中 · UNIQUE ...
    description (en) / 说明(英文) ...   (merged across the grid)
    description (zh) / 说明(中文) ...
    (blank)
    id / 规则编号               dpd                   bucket          team            annotation
    role / 角色                 input / 条件          input / 条件     output / 结果    annotation
    type / 数据类型              integer               enum            enum            text
    label · values / 说明 · 取值 逾期天数 Days past…   …               legal, calls…
    A01                        >= 90                 -               legal           why this row
    ...

Input cells hold the cell text (``>= 90``, ``"M2", "M3"``, ``-``; empty is ``-``); output cells
hold typed values (empty is null); the panes are frozen below the header and right of the ids.
Sheet ``tests`` holds the test cases in the layout of
:func:`rules_service.table_tests.tests_from_rows`; sheet ``help`` explains the cell syntax and is
not read.
"""

from __future__ import annotations

import difflib
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from rules_service.decision_table import (
    FORMAT,
    OUTPUT_TYPES,
    REQUIRED_OUTPUTS,
    ROW_ID_PATTERN,
    TABLE_NAME_PATTERN,
    Cell,
    CellError,
    DecisionTable,
    HitPolicy,
    Kind,
    Output,
    Row,
    TableError,
    from_json,
    parse_cell,
)
from rules_service.facts import (
    FACTS,
    NAME_PATTERN,
    RESERVED_NAMES,
    Fact,
    FactType,
    plain_number,
)
from rules_service.table_tests import (
    TEST_SHEETS,
    output_from_cell,
    output_to_cell,
    tests_from_rows,
    tests_to_rows,
)

TABLE_SHEETS = ("table", "规则表", "决策表")
CREATOR = "Collection Tracker"

# (field, label written in column A, hint written in column C)
HEAD: tuple[tuple[str, str, str], ...] = (
    ("name", "name / 表名", "lowercase letters, digits and _ · 小写字母、数字和下划线"),
    ("kind", "kind / 表类型", " · ".join(kind.value for kind in Kind)),
    ("version", "version / 版本", "a whole number from 1 · 从1开始的整数"),
    (
        "hit_policy",
        "hit policy / 命中策略",
        "FIRST 首条命中 · UNIQUE 唯一命中 · PRIORITY 按输出取值顺序取最优 · COLLECT 全部命中",
    ),
    ("description.en", "description (en) / 说明(英文)", ""),
    ("description.zh", "description (zh) / 说明(中文)", ""),
)
HEAD_ALIASES = {
    "name": "name",
    "tablename": "name",
    "表名": "name",
    "kind": "kind",
    "表类型": "kind",
    "version": "version",
    "版本": "version",
    "hitpolicy": "hit_policy",
    "policy": "hit_policy",
    "命中策略": "hit_policy",
    "descriptionen": "description.en",
    "说明英文": "description.en",
    "descriptionzh": "description.zh",
    "说明中文": "description.zh",
}
GRID_LABELS = {
    "id": "id / 规则编号",
    "role": "role / 角色",
    "type": "type / 数据类型",
    "values": "label · values / 说明 · 取值",
}
GRID_ALIASES = {
    "id": "id",
    "ruleid": "id",
    "rowid": "id",
    "规则编号": "id",
    "编号": "id",
    "role": "role",
    "角色": "role",
    "type": "type",
    "数据类型": "type",
    "labelvalues": "values",
    "values": "values",
    "label": "values",
    "说明取值": "values",
    "取值": "values",
}
ROLE_LABELS = {
    "input": "input / 条件",
    "output": "output / 结果",
    "annotation": "annotation / 备注",
}
ROLE_ALIASES = {
    "input": "input",
    "in": "input",
    "when": "input",
    "条件": "input",
    "输入": "input",
    "output": "output",
    "out": "output",
    "then": "output",
    "结果": "output",
    "输出": "output",
    "annotation": "annotation",
    "note": "annotation",
    "notes": "annotation",
    "备注": "annotation",
    "注释": "annotation",
}
HELP = (
    "How to write a decision table in Excel · 如何在Excel中编写决策表",
    "",
    "Rows are rules, read top to bottom; the hit policy says which matching rows decide.",
    "每一行是一条规则;命中策略决定哪些命中的规则生效。",
    "Input cells · 条件单元格:",
    "  -                      any value (an empty cell is the same) · 任意值(空单元格同)",
    "  >= 90   < 30   != 5    comparisons on numbers and dates · 数字和日期的比较",
    "  [30..60)               30 up to but not including 60 · 区间,[ ] 含端点,( ) 不含",
    '  "M2", "M3"             any of these texts (in double quotes) · 其中任一文本(加双引号)',
    '  not("legal")           none of these · 都不是',
    "  true / false           yes-no facts · 是/否",
    "  2025-01-31             a date · 日期",
    "Output cells · 结果单元格: the value itself; empty means none (null) · 直接填写值,空为无",
    "Sheet tests · 测试: one test case per line; empty fact = unknown; empty expect = not "
    "checked; null = expect no value; all expect cells and expect_rows empty = no rule matches.",
    "测试表:每行一个用例;事实留空表示未知;期望留空表示不检查;null表示期望为空;"
    "期望和expect_rows都为空表示没有规则命中。",
)

BOLD = Font(bold=True)
HINT = Font(italic=True, color="808080")
FILLS = {
    "head": PatternFill("solid", fgColor="F2F2F2"),
    "input": PatternFill("solid", fgColor="DDEBF7"),
    "output": PatternFill("solid", fgColor="E2EFDA"),
    "annotation": PatternFill("solid", fgColor="EDEDED"),
}
THIN = Side(style="thin", color="BFBFBF")
GRID_BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
# Excel refuses a list validation whose formula is longer than this.
MAX_LIST_FORMULA = 255
BLANK_ROWS_VALIDATED = 200

# Characters an IME or Excel's autocorrect puts in a cell for their ASCII counterparts.
_WIDE = str.maketrans(
    {
        "≥": ">=",
        "≤": "<=",
        "≠": "!=",
        "＞": ">",
        "＜": "<",
        "＝": "=",
        "！": "!",
        "，": ",",
        "（": "(",
        "）": ")",
        "【": "[",
        "】": "]",
        "“": '"',
        "”": '"',
        "＂": '"',
        "－": "-",
    }
)
_BARE_TEST = re.compile(r"^(?P<op>!=|=)?\s*(?P<value>[^\s\"<>=!\[\]()][^\"<>=!\[\]()]*?)\s*$")
_YES = frozenset({"是", "yes", "y", "真"})
_NO = frozenset({"否", "no", "n", "假"})


@dataclass(frozen=True)
class CellProblem:
    """One thing wrong with a workbook: the sheet, the cell (``C7``; a row ``7:7`` or empty for
    the sheet), what the cell is in the table's terms, and why."""

    sheet: str
    cell: str
    reason: str
    what: str = ""

    def __str__(self) -> str:
        where = f"{self.sheet}!{self.cell}" if self.cell else self.sheet
        if self.what:
            where += f" ({self.what})"
        return f"{where}: {self.reason}"


class WorkbookError(TableError):
    """A workbook that cannot be imported, with every problem found in it."""

    def __init__(
        self,
        problems: Sequence[CellProblem],
        *,
        table: str | None = None,
        version: int | None = None,
    ) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        listed = "\n".join(f"- {problem}" for problem in self.problems)
        reason = (
            f"{count} problem{'s' * (count != 1)} in the workbook; fix "
            f"{'them' if count != 1 else 'it'} and import it again:\n{listed}"
        )
        super().__init__(reason, table=table, version=version)


# ---- small helpers ----------------------------------------------------------------------------


def _norm(text: str) -> str:
    """A label compared loosely: case, spaces and punctuation ignored (also full-width)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_.·()\-:]+", "", text)


def _alias(raw: object, aliases: Mapping[str, str]) -> str | None:
    """What a label cell means: any of its ``/``-separated parts may be a known alias."""
    if not isinstance(raw, str):
        return None
    for part in [raw, *raw.split("/")]:
        found = aliases.get(_norm(part))
        if found is not None:
            return found
    return None


def _put(cell: XlCell, value: Any) -> XlCell:
    """Write ``value``; text that begins with ``=`` stays text rather than becoming a formula."""
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def _text(raw: object) -> str:
    """A cell as text (numbers as plain decimals, dates as YYYY-MM-DD)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return plain_number(raw)
    if isinstance(raw, datetime):
        return raw.date().isoformat() if raw.time() == datetime.min.time() else raw.isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw).strip()


def _display_width(value: object) -> int:
    text = _text(value)
    longest = max((line for line in text.splitlines()), key=len, default="")
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in longest)


def _fit_columns(
    sheet: Worksheet, skip_rows: Iterable[int] = (), low: int = 8, high: int = 45
) -> None:
    skipped = set(skip_rows)
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            if cell.row in skipped or cell.value is None:
                continue
            widths[cell.column] = max(widths.get(cell.column, 0), _display_width(cell.value))
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(high, max(low, width + 2))


def _list_validation(values: Sequence[str], prompt: str) -> DataValidation | None:
    """An in-cell drop-down of ``values``, if Excel can hold it."""
    formula = '"' + ",".join(values) + '"'
    if len(formula) > MAX_LIST_FORMULA or any("," in v or '"' in v for v in values):
        return None
    return DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Not an allowed value · 不是允许的取值",
        error=f"{prompt}: {', '.join(values)}",
    )


# ---- writing ----------------------------------------------------------------------------------


def _input_label(fact: Fact) -> str:
    unit = f" ({fact.unit})" if fact.unit else ""
    values = f"\n{', '.join(fact.values)}" if fact.values else ""
    return f"{fact.zh}\n{fact.en}{unit}{values}"


def _write_table_sheet(sheet: Worksheet, table: DecisionTable) -> None:
    columns = 1 + len(table.inputs) + len(table.outputs) + 1
    head_values = {
        "name": table.name,
        "kind": table.kind.value,
        "version": table.version,
        "hit_policy": table.hit_policy.value,
        "description.en": table.description.get("en"),
        "description.zh": table.description.get("zh"),
    }
    for number, (field, label, hint) in enumerate(HEAD, start=1):
        _put(sheet.cell(number, 1, label), label).font = BOLD
        sheet.cell(number, 1).fill = FILLS["head"]
        value = _put(sheet.cell(number, 2), head_values[field])
        if field.startswith("description"):
            value.alignment = WRAP_TOP
            if columns > 2:
                sheet.merge_cells(
                    start_row=number, start_column=2, end_row=number, end_column=columns
                )
            text = head_values[field] or ""
            sheet.row_dimensions[number].height = 15 * max(1, min(8, len(text) // 120 + 1))
        elif hint:
            sheet.cell(number, 3, hint).font = HINT
    policy_row = next(n for n, (f, _, _) in enumerate(HEAD, start=1) if f == "hit_policy")
    kind_row = next(n for n, (f, _, _) in enumerate(HEAD, start=1) if f == "kind")
    for row, values, prompt in (
        (policy_row, [p.value for p in HitPolicy], "hit policy"),
        (kind_row, [k.value for k in Kind], "kind"),
    ):
        validation = _list_validation(values, prompt)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"B{row}")

    top = len(HEAD) + 2
    first_rule = top + len(GRID_LABELS)
    for offset, label in enumerate(GRID_LABELS.values()):
        cell = sheet.cell(top + offset, 1, label)
        cell.font, cell.fill, cell.border = BOLD, FILLS["head"], GRID_BORDER
    header: list[tuple[str, str, str, str]] = [
        (fact.name, "input", fact.type.value, _input_label(fact)) for fact in table.inputs
    ]
    header += [
        (output.name, "output", output.type.value, "\n".join(output.values))
        for output in table.outputs
    ]
    header.append(("annotation", "annotation", "text", "why the row is there · 规则说明"))
    for column, (name, role, type_, label) in enumerate(header, start=2):
        for offset, value in enumerate((name, ROLE_LABELS[role], type_, label)):
            cell = _put(sheet.cell(top + offset, column), value)
            cell.fill, cell.border = FILLS[role], GRID_BORDER
            cell.font = BOLD if offset == 0 else Font(color="595959")
            cell.alignment = WRAP_TOP
    sheet.row_dimensions[top + 3].height = 15 * min(
        6, max(_text(label).count("\n") + 1 for *_, label in header)
    )

    for number, row in enumerate(table.rows, start=first_rule):
        _put(sheet.cell(number, 1), row.id).font = BOLD
        sheet.cell(number, 1).border = GRID_BORDER
        column = 2
        for cell in row.when:
            _put(sheet.cell(number, column), cell.text).border = GRID_BORDER
            column += 1
        for output in table.outputs:
            value = row.then.get(output.name)
            if isinstance(value, str):
                value = output_to_cell(value)
            _put(sheet.cell(number, column), value).border = GRID_BORDER
            column += 1
        note = _put(sheet.cell(number, column), row.annotation)
        note.border, note.alignment = GRID_BORDER, WRAP_TOP

    last = first_rule + len(table.rows) + BLANK_ROWS_VALIDATED
    for column, output in enumerate(table.outputs, start=2 + len(table.inputs)):
        if output.values:
            validation = _list_validation(output.values, output.name)
            if validation is not None:
                sheet.add_data_validation(validation)
                letter = get_column_letter(column)
                validation.add(f"{letter}{first_rule}:{letter}{last}")
    # The head's long texts and the wrapped label row do not set the widths; the grid does.
    _fit_columns(sheet, skip_rows=[*range(1, top), top + 3], low=10, high=40)
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions[get_column_letter(columns)].width = 50
    sheet.freeze_panes = sheet.cell(first_rule, 2)


def _write_tests_sheet(
    sheet: Worksheet, table: DecisionTable, tests: Sequence[Mapping[str, Any]]
) -> None:
    header, rows = tests_to_rows(table, tests)
    facts = {fact.name: fact for fact in table.inputs}
    outputs = {f"expect.{output.name}": output for output in table.outputs}
    for column, name in enumerate(header, start=1):
        cell = sheet.cell(1, column, name)
        cell.font, cell.border = BOLD, GRID_BORDER
        if name in facts:
            cell.fill = FILLS["input"]
            fact = facts[name]
            cell.comment = Comment(f"{fact.type.value}\n{_input_label(fact)}", CREATOR)
        elif name in outputs:
            cell.fill = FILLS["output"]
            output = outputs[name]
            allowed = f"\n{', '.join(output.values)}" if output.values else ""
            cell.comment = Comment(
                f"{output.type.value}{allowed}\nempty: not checked · null: no value", CREATOR
            )
        else:
            cell.fill = FILLS["head"]
    for number, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            _put(sheet.cell(number, column), value).border = GRID_BORDER
    _fit_columns(sheet)
    sheet.freeze_panes = "B2"


def table_to_xlsx(table: DecisionTable, tests: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """The table (sheet ``table``) and its test cases (sheet ``tests``) as an XLSX workbook that
    :func:`table_from_xlsx` reads back unchanged."""
    workbook = Workbook()
    workbook.properties.creator = CREATOR
    sheet = workbook.active
    sheet.title = TABLE_SHEETS[0]
    _write_table_sheet(sheet, table)
    _write_tests_sheet(workbook.create_sheet(TEST_SHEETS[0]), table, list(tests))
    help_sheet = workbook.create_sheet("help")
    for number, line in enumerate(HELP, start=1):
        help_sheet.cell(number, 1, line).font = BOLD if number == 1 else Font()
    help_sheet.column_dimensions["A"].width = 110
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---- reading ----------------------------------------------------------------------------------


def _cell_candidates(fact: Fact, text: str) -> list[str]:
    """Ways an analyst may have meant ``text``, tried when it does not parse as written: IME
    punctuation (≥, full-width comma, curly quotes), text values without their quotes, 是/否."""
    candidates = []
    plain = text.translate(_WIDE).strip()
    if plain != text:
        candidates.append(plain)
    if fact.type is FactType.BOOLEAN and plain.casefold() in _YES | _NO:
        candidates.append("true" if plain.casefold() in _YES else "false")
    if fact.type in (FactType.TEXT, FactType.ENUM) and '"' not in plain:
        body, negated = plain, False
        match = re.fullmatch(r"(?i)not\s*\((.*)\)", plain)
        if match:
            body, negated = match.group(1), True
        tests = []
        for part in body.split(","):
            bare = _BARE_TEST.match(part)
            if bare is None:
                break
            op = f"{bare.group('op')} " if bare.group("op") else ""
            tests.append(f'{op}"{bare.group("value")}"')
        else:
            if tests:
                quoted = ", ".join(tests)
                candidates.append(f"not({quoted})" if negated else quoted)
    return candidates


def read_input_cell(fact: Fact, raw: object) -> Cell:
    """A grid cell of an input column as a :class:`Cell`; raises ``CellError`` with the reason.
    Empty is ``-``; a number, boolean or date Excel typed is read as the literal."""
    text = _text(raw) or "-"
    try:
        return parse_cell(text, fact)
    except CellError as error:
        reason = error
    # The reason given is the one for the most repaired reading: for HIHG in an enum column, that
    # "HIHG" is not a value, rather than that text needs quotes.
    for candidate in _cell_candidates(fact, text):
        try:
            return parse_cell(candidate, fact)
        except CellError as error:
            reason = error
    raise reason


class _Reader:
    """Reads the ``table`` sheet, collecting every problem instead of stopping at the first."""

    def __init__(self, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.problems: list[CellProblem] = []

    def problem(self, row: int | None, column: int | None, reason: str, what: str = "") -> None:
        if row is None:
            ref = ""
        elif column is None:
            ref = f"{row}:{row}"
        else:
            ref = f"{get_column_letter(column)}{row}"
        self.problems.append(CellProblem(self.sheet.title, ref, reason, what))

    def value(self, row: int, column: int) -> Any:
        value = self.sheet.cell(row, column).value
        return None if isinstance(value, str) and not value.strip() else value

    def read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The document read so far, and where each row and column is (to place late errors)."""
        head, top = self.head()
        places: dict[str, Any] = {"rows": {}, "columns": {}, "head": head}
        if top is None:
            self.problem(None, None, "no grid: expected a row whose first cell is 'id'")
            return {}, places
        document: dict[str, Any] = {"format": FORMAT}
        self.head_values(head, document)
        labels = self.grid_labels(top)
        columns = self.columns(top, labels, document)
        first_rule = top + 1 + len(labels)
        document["rows"] = self.rules(first_rule, columns, document, places)
        places["columns"] = {name: column for column, (_, name, _) in columns.items()}
        return document, places

    def head(self) -> tuple[dict[str, int], int | None]:
        head: dict[str, int] = {}
        for number in range(1, self.sheet.max_row + 1):
            label = self.value(number, 1)
            if _alias(label, GRID_ALIASES) == "id":
                return head, number
            field = _alias(label, HEAD_ALIASES)
            if field is not None and field not in head:
                head[field] = number
        return head, None

    def head_values(self, head: Mapping[str, int], document: dict[str, Any]) -> None:
        for field in ("name", "kind", "version", "hit_policy"):
            if field not in head:
                label = next(label for f, label, _ in HEAD if f == field)
                self.problem(None, None, f"no '{label}' row above the grid")
        if "name" in head:
            name = _text(self.value(head["name"], 2))
            if not TABLE_NAME_PATTERN.match(name):
                self.problem(
                    head["name"],
                    2,
                    f"the table name must be {TABLE_NAME_PATTERN.pattern}, found {name!r}",
                )
            document["name"] = name
        if "kind" in head:
            kind = _text(self.value(head["kind"], 2)).lower()
            if kind not in {k.value for k in Kind}:
                allowed = ", ".join(k.value for k in Kind)
                self.problem(head["kind"], 2, f"expected one of {allowed}, found {kind!r}")
            document["kind"] = kind
        if "version" in head:
            raw = self.value(head["version"], 2)
            text = _text(raw)
            if not text.isdigit() or int(text) < 1:
                self.problem(
                    head["version"], 2, f"the version must be a whole number from 1, found {text!r}"
                )
            else:
                document["version"] = int(text)
        if "hit_policy" in head:
            policy = _text(self.value(head["hit_policy"], 2)).upper()
            if policy not in {p.value for p in HitPolicy}:
                allowed = ", ".join(p.value for p in HitPolicy)
                self.problem(head["hit_policy"], 2, f"expected one of {allowed}, found {policy!r}")
            document["hit_policy"] = policy
        description = {}
        for language in ("en", "zh"):
            if f"description.{language}" in head:
                text = self.value(head[f"description.{language}"], 2)
                if text is not None:
                    description[language] = str(text).strip()
        document["description"] = description

    def grid_labels(self, top: int) -> dict[str, int]:
        labels: dict[str, int] = {}
        number = top + 1
        while number <= self.sheet.max_row:
            label = _alias(self.value(number, 1), GRID_ALIASES)
            if label is None or label == "id" or label in labels:
                break
            labels[label] = number
            number += 1
        return labels

    def columns(
        self, top: int, labels: Mapping[str, int], document: dict[str, Any]
    ) -> dict[int, tuple[str, str, Any]]:
        """Column number → (role, name, fact or output) for every usable column."""
        found: dict[int, tuple[str, str, Any]] = {}
        inputs: list[dict[str, str]] = []
        outputs: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        input_columns = 0
        last = max(
            (c for c in range(2, self.sheet.max_column + 1) if self.value(top, c) is not None),
            default=1,
        )
        for column in range(2, last + 1):
            name = _text(self.value(top, column))
            if not name:
                if any(
                    self.value(r, column) is not None
                    for r in range(top + 1, self.sheet.max_row + 1)
                ):
                    self.problem(top, column, "this column has cells but no name")
                continue
            role = (
                _alias(self.value(labels["role"], column), ROLE_ALIASES)
                if "role" in labels
                else None
            )
            role_text = _text(self.value(labels["role"], column)) if "role" in labels else ""
            if role is None:
                if role_text:
                    self.problem(
                        labels["role"],
                        column,
                        f"the role is input, output or annotation, found {role_text!r}",
                    )
                    continue
                if name == "annotation":
                    role = "annotation"
                elif name in FACTS:
                    role = "input"
                else:
                    where = labels.get("role", top)
                    self.problem(
                        where, column, f"say whether column {name!r} is an input or an output"
                    )
                    continue
            if role == "annotation" and "annotation" in seen:
                self.problem(
                    top,
                    column,
                    "a second annotation column (the first is column "
                    f"{get_column_letter(seen['annotation'])})",
                )
                continue
            key = "annotation" if role == "annotation" else name
            if key in seen:
                self.problem(
                    top,
                    column,
                    f"a second column named {name!r} (the first is column "
                    f"{get_column_letter(seen[key])})",
                )
                continue
            seen[key] = column
            input_columns += role == "input"
            type_text = (
                _text(self.value(labels["type"], column)).lower() if "type" in labels else ""
            )
            if role == "annotation":
                found[column] = ("annotation", "annotation", None)
            elif role == "input":
                fact = self.input_column(top, labels, column, name, type_text)
                if fact is not None:
                    found[column] = ("input", name, fact)
                    inputs.append({"fact": name, "type": fact.type.value})
            else:
                output = self.output_column(top, labels, column, name, type_text)
                if output is not None:
                    found[column] = ("output", name, output)
                    outputs.append(
                        {"name": name, "type": output.type.value}
                        | ({"values": list(output.values)} if output.values else {})
                    )
        document["inputs"], document["outputs"] = inputs, outputs
        if not input_columns:
            self.problem(top, None, "the grid has no input column")
        kind = document.get("kind")
        if kind in {k.value for k in Kind}:
            names = {o["name"] for o in outputs}
            for required in REQUIRED_OUTPUTS[Kind(kind)]:
                if required not in names and required not in seen:
                    self.problem(
                        top, None, f"a {kind} table must have an output column {required!r}"
                    )
        return found

    def input_column(
        self, top: int, labels: Mapping[str, int], column: int, name: str, type_text: str
    ) -> Fact | None:
        fact = FACTS.get(name)
        if fact is None:
            close = difflib.get_close_matches(name, list(FACTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.problem(top, column, f"unknown fact {name!r}{hint}")
            return None
        if type_text and type_text != fact.type.value:
            self.problem(
                labels["type"],
                column,
                f"declared {type_text!r} but the fact catalogue says {fact.type.value!r}",
                name,
            )
            return None
        return fact

    def output_column(
        self, top: int, labels: Mapping[str, int], column: int, name: str, type_text: str
    ) -> Output | None:
        if not NAME_PATTERN.match(name) or name in RESERVED_NAMES:
            self.problem(
                top,
                column,
                f"an output name must be {NAME_PATTERN.pattern} and not one of "
                f"{', '.join(sorted(RESERVED_NAMES))}, found {name!r}",
            )
            return None
        if type_text not in OUTPUT_TYPES:
            where = labels.get("type", top)
            self.problem(
                where,
                column,
                f"an output's type is one of {', '.join(OUTPUT_TYPES)}, found {type_text!r}",
                name,
            )
            return None
        output_type = FactType(type_text)
        raw_values = self.value(labels["values"], column) if "values" in labels else None
        values: list[str] = []
        if output_type is FactType.ENUM:
            text = _text(raw_values)
            parts = text.splitlines() if "\n" in text else text.split(",")
            values = [part.strip() for part in parts if part.strip()]
            where = labels.get("values", top)
            if not values:
                self.problem(where, column, "an enum output lists its values, one per line", name)
                return None
            if len(set(values)) != len(values):
                self.problem(where, column, "an enum output's values are distinct", name)
                return None
        return Output(name, output_type, tuple(values))

    def rules(
        self,
        first: int,
        columns: Mapping[int, tuple[str, str, Any]],
        document: dict[str, Any],
        places: dict[str, Any],
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        ids: dict[str, int] = {}
        width = max([1, *columns])
        for number in range(first, self.sheet.max_row + 1):
            if all(self.value(number, c) is None for c in range(1, width + 1)):
                continue
            raw_id = self.value(number, 1)
            row_id = _text(raw_id)
            if not row_id:
                self.problem(number, 1, "a rule needs an id in column A (such as R12)")
            elif not ROW_ID_PATTERN.match(row_id):
                self.problem(
                    number, 1, f"a rule id must be {ROW_ID_PATTERN.pattern}, found {row_id!r}"
                )
            elif row_id in ids:
                self.problem(number, 1, f"rule id {row_id!r} is also the id of row {ids[row_id]}")
            else:
                ids[row_id] = number
            where = f"rule {row_id}" if row_id else f"row {number}"
            when: dict[str, str] = {}
            then: dict[str, Any] = {}
            annotation = None
            for column, (role, name, spec) in columns.items():
                raw = self.value(number, column)
                if role == "input":
                    try:
                        when[name] = read_input_cell(spec, raw).text
                    except CellError as error:
                        self.problem(
                            number,
                            column,
                            f"{error} (cell {_text(raw)!r})",
                            f"{where}, column {name}",
                        )
                elif role == "output":
                    try:
                        then[name] = output_from_cell(spec, raw)
                    except ValueError as error:
                        self.problem(number, column, str(error), f"{where}, column {name}")
                elif raw is not None:
                    annotation = str(raw).strip()
            entry: dict[str, Any] = {"id": row_id, "when": when, "then": then}
            if annotation:
                entry["annotation"] = annotation
            rows.append(entry)
            places["rows"][row_id] = number
        if not rows:
            self.problem(first, None, "the table has no rules: one row per rule below the header")
        return rows


def _table_sheet(workbook: Any) -> Worksheet:
    by_title = {sheet.title.strip().casefold(): sheet for sheet in workbook.worksheets}
    for title in TABLE_SHEETS:
        if title in by_title:
            return by_title[title]
    return workbook.worksheets[0]


def _late_problem(error: TableError, sheet: str, places: Mapping[str, Any]) -> CellProblem:
    """A problem only the document reader found, placed on its cell where it names one."""
    row = places["rows"].get(error.row) if error.row is not None else None
    column = places["columns"].get(error.column) if error.column is not None else None
    if row is not None and column is not None:
        ref = f"{get_column_letter(column)}{row}"
    elif row is not None:
        ref = f"{row}:{row}"
    elif column is not None:
        ref = get_column_letter(column)
    else:
        field = (error.field or "").split("[")[0].split(".")[0]
        head_row = places["head"].get(field)
        ref = f"B{head_row}" if head_row else ""
    what = ", ".join(
        part
        for part in (
            f"rule {error.row}" if error.row else "",
            f"column {error.column}" if error.column else "",
        )
        if part
    )
    return CellProblem(sheet, ref, error.reason, what)


def _skeleton(document: Mapping[str, Any]) -> DecisionTable:
    """A table with the columns and row ids read, to check the tests sheet against while the
    table itself still has problems (so both are reported together)."""
    inputs = tuple(FACTS[i["fact"]] for i in document.get("inputs", []))
    outputs = tuple(
        Output(o["name"], FactType(o["type"]), tuple(o.get("values", ())))
        for o in document.get("outputs", [])
    )
    rows = tuple(
        Row(r["id"], tuple(Cell() for _ in inputs), {})
        for r in document.get("rows", [])
        if r["id"] and ROW_ID_PATTERN.match(r["id"])
    )
    policy = document.get("hit_policy")
    kind = document.get("kind")
    name = document.get("name")
    return DecisionTable(
        name=name if isinstance(name, str) and name else "table",
        kind=Kind(kind) if kind in {k.value for k in Kind} else Kind.ALERT,
        version=document.get("version", 1),
        hit_policy=HitPolicy(policy)
        if policy in {p.value for p in HitPolicy}
        else HitPolicy.COLLECT,
        inputs=inputs,
        outputs=outputs,
        rows=rows,
    )


def _tests_sheet(workbook: Any) -> Worksheet | None:
    by_title = {sheet.title.strip().casefold(): sheet for sheet in workbook.worksheets}
    return next((by_title[t] for t in TEST_SHEETS if t in by_title), None)


def table_from_xlsx(data: bytes) -> tuple[DecisionTable, list[dict[str, Any]]]:
    """The table and test cases of a workbook written by :func:`table_to_xlsx` (and perhaps
    edited since). Raises :class:`WorkbookError`, a ``TableError``, listing every problem with
    its sheet and cell."""
    try:
        workbook = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for a bad file
        raise TableError(f"not a readable XLSX workbook: {error}") from None
    sheet = _table_sheet(workbook)
    reader = _Reader(sheet)
    document, places = reader.read()
    problems = reader.problems
    name = document.get("name") if isinstance(document.get("name"), str) else None
    version = document.get("version")
    table: DecisionTable | None = None
    if not problems:
        try:
            table = from_json(document)
        except TableError as error:
            problems.append(_late_problem(error, sheet.title, places))
    tests: list[dict[str, Any]] = []
    tests_sheet = _tests_sheet(workbook)
    if tests_sheet is not None and document:
        lines = [list(values) for values in tests_sheet.iter_rows(values_only=True)]
        if lines:
            tests, errors = tests_from_rows(table or _skeleton(document), lines[0], lines[1:])
            for error in errors:
                if error.row == 0:
                    ref = ""
                elif error.col is None:
                    ref = f"{error.row}:{error.row}"
                else:
                    ref = f"{get_column_letter(error.col)}{error.row}"
                found = f" (found {error.value!r})" if error.value else ""
                problems.append(
                    CellProblem(tests_sheet.title, ref, error.reason + found, error.column)
                )
    if problems:
        raise WorkbookError(
            problems,
            table=name if name and TABLE_NAME_PATTERN.match(name) else None,
            version=version,
        )
    assert table is not None
    return table, tests
