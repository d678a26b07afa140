"""Decision tables as XLSX: the shipped tables round-trip with their tests, a hand-edited file is
read leniently, and a bad file is refused with every bad cell named."""

import io

import pytest
from openpyxl import Workbook, load_workbook

from rules_service.decision_table import (
    HitPolicy,
    Kind,
    TableError,
    checksum,
    from_json,
    to_dict,
)
from rules_service.default_policy import default_policy
from rules_service.table_xlsx import (
    CellProblem,
    WorkbookError,
    table_from_xlsx,
    table_to_xlsx,
)
from tests.rules_service.conftest import table_document
from tests.rules_service.test_table_tests import SHIPPED_TESTS


@pytest.fixture(scope="module")
def shipped():
    return default_policy()


def workbook_bytes(workbook):
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def edit(data, changes, sheet="table"):
    """The workbook with cells changed as an analyst would in Excel."""
    workbook = load_workbook(io.BytesIO(data))
    for ref, value in changes.items():
        workbook[sheet][ref] = value
    return workbook_bytes(workbook)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_shipped_table_round_trips_with_its_tests(shipped, kind):
    table, tests = shipped[kind], SHIPPED_TESTS[kind]
    read, read_tests = table_from_xlsx(table_to_xlsx(table, tests))
    assert to_dict(read) == to_dict(table)
    assert checksum(read) == checksum(table)
    assert read.hit_policy is table.hit_policy
    assert [(f.name, f.type) for f in read.inputs] == [(f.name, f.type) for f in table.inputs]
    assert read.outputs == table.outputs
    assert read_tests == tests
    assert (read, read_tests) == (table, tests)


def test_the_workbook_has_a_header_block_typed_columns_frozen_panes_and_a_tests_sheet(shipped):
    table = shipped[Kind.ASSIGNMENT]
    workbook = load_workbook(io.BytesIO(table_to_xlsx(table, SHIPPED_TESTS[Kind.ASSIGNMENT])))
    assert workbook.sheetnames == ["table", "tests", "help"]
    sheet = workbook["table"]
    head = {sheet.cell(r, 1).value: sheet.cell(r, 2).value for r in range(1, 5)}
    assert head == {
        "name / 表名": "assignment",
        "kind / 表类型": "assignment",
        "version / 版本": 1,
        "hit policy / 命中策略": "FIRST",
    }
    assert sheet["B5"].value == table.description["en"]
    grid = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=8, max_row=12)]
    assert grid[0] == [
        "id / 规则编号",
        "status",
        "on_hold",
        "bucket",
        "outstanding_balance",
        "risk_level",
        "broken_promises",
        "team",
        "required_skill",
        "selection",
        "annotation",
    ]
    assert grid[1][1:] == ["input / 条件"] * 6 + ["output / 结果"] * 3 + ["annotation / 备注"]
    assert grid[2][1:] == [
        "enum",
        "boolean",
        "enum",
        "number",
        "enum",
        "integer",
        "text",
        "text",
        "enum",
        "text",
    ]
    assert grid[3][3].startswith("逾期阶段\nDelinquency bucket")
    assert grid[3][9] == "keep_current\nleast_loaded\nround_robin"
    assert grid[4][:4] == ["A01", '"legal"', "-", "-"]
    assert grid[4][8:10] == ["legal", "keep_current"]
    assert sheet["B8"].font.bold
    assert sheet.freeze_panes == "B12"
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert lists["J12:J222"] == '"keep_current,least_loaded,round_robin"'
    assert lists["B4"] == '"FIRST,UNIQUE,PRIORITY,COLLECT"'

    tests = workbook["tests"]
    assert [c.value for c in tests[1]] == [
        "name",
        "status",
        "on_hold",
        "bucket",
        "outstanding_balance",
        "risk_level",
        "broken_promises",
        "expect.team",
        "expect.required_skill",
        "expect.selection",
        "expect_rows",
    ]
    assert [c.value for c in tests[3]][:2] == ["closed is not assigned", "closed"]
    assert tests["H3"].value == "null"
    assert tests.freeze_panes == "B2"
    assert tests["B1"].comment.text.startswith("enum\n案件状态")


def test_excel_numbers_round_trip_as_the_column_types_them(shipped):
    table = shipped[Kind.PRIORITY]
    data = table_to_xlsx(table)
    sheet = load_workbook(io.BytesIO(data))["table"]
    assert sheet["B12"].value == "> 90"  # text, not a formula or a number
    assert sheet["G12"].value == 95  # score: integer output, a number in Excel
    edited = edit(data, {"G12": 95.0, "B13": 90, "G13": "88"})
    read, _ = table_from_xlsx(edited)
    assert read.rows[0].then["score"] == 95
    assert isinstance(read.rows[0].then["score"], int)
    assert read.rows[1].then["score"] == 88
    assert read.conditions["P02"]["dpd"] == "90"
    assert to_dict(read)["rows"][0] == to_dict(table)["rows"][0]


def hand_written_workbook(rows):
    """A workbook typed from scratch: no hints, no labels row, cells as Excel stores them."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "table"
    for line in [
        ["name", "hand_made"],
        ["kind", "alert"],
        ["version", 2],
        ["hit policy", "first"],
        ["description (zh)", "手工编写"],
        [],
        ["id", "dpd", "risk_level", "on_hold", "alert", "severity", "备注"],
        ["role", "input", "input", "条件", "output", "结果", "note"],
        ["type", "integer", "enum", "boolean", "text", "enum"],
        ["values", None, None, None, None, "critical\nwarning\ninfo"],
        *rows,
    ]:
        sheet.append(line)
    return workbook_bytes(workbook)


def test_a_hand_written_workbook_is_read_leniently():
    data = hand_written_workbook(
        [
            ["R1", "≥ 90", "HIGH, MEDIUM", True, "late", "critical", "very late"],
            ["R2", 30, None, "-", 42, None],
            [],
            ["R3", "-", "not(LOW)", "是", "any", "info"],
            ["R4", "[1..30）", "“LOW”", "FALSE", "early", "warning"],
        ]
    )
    table, tests = table_from_xlsx(data)
    assert tests == []
    expected = from_json(
        table_document(
            [
                (
                    "R1",
                    {"dpd": ">= 90", "risk_level": '"HIGH", "MEDIUM"', "on_hold": "true"},
                    {"alert": "late", "severity": "critical"},
                ),
                ("R2", {"dpd": "30"}, {"alert": "42", "severity": None}),
                (
                    "R3",
                    {"risk_level": 'not("LOW")', "on_hold": "true"},
                    {"alert": "any", "severity": "info"},
                ),
                (
                    "R4",
                    {"dpd": "[1..30)", "risk_level": '"LOW"', "on_hold": "false"},
                    {"alert": "early", "severity": "warning"},
                ),
            ],
            inputs=["dpd", "risk_level", "on_hold"],
            name="hand_made",
            version=2,
        )
        | {"description": {"zh": "手工编写"}}
    )
    assert to_dict(table) == to_dict(expected) | {
        "rows": [
            row | ({"annotation": "very late"} if row["id"] == "R1" else {})
            for row in to_dict(expected)["rows"]
        ]
    }
    assert table.hit_policy is HitPolicy.FIRST


def test_two_invalid_cells_are_both_reported_with_their_cell_references(shipped):
    data = edit(
        table_to_xlsx(shipped[Kind.PRIORITY]),
        {"B13": ">= ninety", "G14": 12.5},  # dpd of P02; score of P03
    )
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(data)
    assert caught.value.problems == [
        CellProblem(
            "table",
            "B13",
            "dpd is integer; ninety is not a value of that type (cell '>= ninety')",
            "rule P02, column dpd",
        ),
        CellProblem(
            "table",
            "G14",
            "score is an integer; 12.5 is not a whole number",
            "rule P03, column score",
        ),
    ]
    message = str(caught.value)
    assert message.startswith("table priority v1: 2 problems in the workbook; fix them")
    assert "- table!B13 (rule P02, column dpd): dpd is integer" in message
    assert "- table!G14 (rule P03, column score): score is an integer" in message
    assert isinstance(caught.value, TableError)


def test_a_bad_hit_policy_cell_is_refused_with_its_location(shipped):
    data = edit(table_to_xlsx(shipped[Kind.STRATEGY]), {"B4": "FIRTS"})
    with pytest.raises(TableError) as caught:
        table_from_xlsx(data)
    assert caught.value.problems == [
        CellProblem(
            "table", "B4", "expected one of FIRST, UNIQUE, PRIORITY, COLLECT, found 'FIRTS'"
        )
    ]
    assert "table!B4: expected one of FIRST, UNIQUE, PRIORITY, COLLECT" in str(caught.value)


def test_table_and_tests_sheet_problems_are_reported_together(shipped):
    table = shipped[Kind.ALERT]
    data = table_to_xlsx(table, SHIPPED_TESTS[Kind.ALERT])
    data = edit(data, {"B12": "> x"})
    data = edit(data, {"B2": "three", "O2": "R99"}, sheet="tests")
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(data)
    assert [(p.sheet, p.cell) for p in caught.value.problems] == [
        ("table", "B12"),
        ("tests", "B2"),
        ("tests", "O2"),
    ]
    reasons = [p.reason for p in caught.value.problems]
    assert reasons[1] == "not an integer (found 'three')"
    assert reasons[2] == "table alert has no row 'R99' (found 'R99')"


def test_narrowing_an_enum_output_names_every_rule_that_uses_a_dropped_value(shipped):
    table = shipped[Kind.ASSIGNMENT]
    data = edit(table_to_xlsx(table), {"J11": "keep_current\nround_robin"})  # no least_loaded
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(data)
    problems = caught.value.problems
    assert [p.cell for p in problems] == ["J15", "J16", "J17", "J18", "J19", "J20"]
    assert {p.reason for p in problems} == {
        "'least_loaded' is not one of keep_current, round_robin"
    }
    assert problems[0].what == "rule A04, column selection"


def test_a_problem_only_the_document_reader_sees_is_reported_for_the_sheet(make_table):
    table = make_table([("R1", {"dpd": "-"})], policy="FIRST")
    data = edit(table_to_xlsx(table), {"B4": "PRIORITY", "D10": "text", "D11": None})
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(data)
    [problem] = caught.value.problems
    assert (problem.sheet, problem.cell) == ("table", "")
    assert problem.reason.startswith("hit policy PRIORITY ranks rows by the order of an enum")


def test_missing_header_rows_and_an_unknown_fact_are_named():
    workbook = Workbook()
    sheet = workbook.active
    for line in [
        ["kind", "alert"],
        ["id", "dpdd", "alert", "severity"],
        ["role", "input", "output", "output"],
        ["type", "integer", "text", "number"],
        ["R1", "-", "x", 1],
    ]:
        sheet.append(line)
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(workbook_bytes(workbook))
    assert [str(p) for p in caught.value.problems] == [
        "Sheet: no 'name / 表名' row above the grid",
        "Sheet: no 'version / 版本' row above the grid",
        "Sheet: no 'hit policy / 命中策略' row above the grid",
        "Sheet!B2: unknown fact 'dpdd'; did you mean 'dpd'?",
    ]


def test_text_that_looks_like_a_formula_stays_text():
    document = table_document(
        [("R1", {"dpd": "-"}, {"alert": "=SUM(A1:A2)", "severity": None})], name="formulas"
    )
    document["rows"][0]["annotation"] = "=1+1 is not computed"
    table = from_json(document)
    data = table_to_xlsx(table)
    sheet = load_workbook(io.BytesIO(data))["table"]
    assert sheet["C12"].value == '"=SUM(A1:A2)"'  # quoted as the cell grammar writes text
    assert (sheet["E12"].value, sheet["E12"].data_type) == ("=1+1 is not computed", "s")
    read, _ = table_from_xlsx(data)
    assert read.rows[0].then["alert"] == "=SUM(A1:A2)"
    assert read.rows[0].annotation == "=1+1 is not computed"


def test_a_misspelt_value_is_reported_as_such_not_as_missing_quotes():
    data = hand_written_workbook([["R1", "-", "HIHG", "≥ 1", "x", None]])
    with pytest.raises(WorkbookError) as caught:
        table_from_xlsx(data)
    assert [(p.cell, p.reason) for p in caught.value.problems] == [
        ("C11", "\"HIHG\" is not one of LOW, MEDIUM, HIGH (cell 'HIHG')"),
        ("D11", ">= needs a number, integer or date column; on_hold is boolean (cell '≥ 1')"),
    ]


def test_a_file_that_is_not_a_workbook_is_refused():
    with pytest.raises(TableError, match="not a readable XLSX workbook"):
        table_from_xlsx(b"PK\x03\x04 not really")
