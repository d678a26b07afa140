"""Analyst-written test cases: running them under every hit policy, checking them, and bulk
upload from CSV and XLSX with every bad row reported."""

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from rules_service.decision_table import Kind
from rules_service.default_policy import default_policy
from rules_service.table_tests import (
    RowError,
    run_tests,
    tests_from_csv,
    tests_from_rows,
    tests_from_xlsx,
    tests_to_csv,
    tests_to_rows,
    validate_tests,
)

ROWS = [
    ("R1", {"dpd": ">= 90"}, {"alert": "late", "severity": "critical"}),
    ("R2", {"dpd": ">= 30"}, {"alert": "overdue", "severity": "warning"}),
    ("R3", {"dpd": "[1..30)"}, {"alert": "early", "severity": None}),
]


def outcome(results):
    return {result.name: (result.passed, result.message) for result in results}


@pytest.fixture(scope="module")
def shipped():
    return default_policy()


# ---- running, per hit policy --------------------------------------------------------------------


def test_first_passes_when_the_first_matching_row_gives_the_expected_outputs(make_table):
    table = make_table(ROWS, policy="FIRST")
    results = run_tests(
        table,
        [
            {"name": "late", "facts": {"dpd": 95}, "expect": {"alert": "late"}},
            {"name": "rows", "facts": {"dpd": 45}, "expect_rows": ["R2"]},
            {"name": "null output", "facts": {"dpd": 3}, "expect": {"severity": None}},
            {"name": "nothing", "facts": {"dpd": 0}, "expect": None},
        ],
    )
    assert outcome(results) == {
        "late": (True, "passed: row R1 matched"),
        "rows": (True, "passed: row R2 matched"),
        "null output": (True, "passed: row R3 matched"),
        "nothing": (True, "passed: no row matched"),
    }
    assert results[0].got == [{"row": "R1", "then": {"alert": "late", "severity": "critical"}}]
    assert results[3].got == []


def test_first_fails_naming_the_row_the_output_and_both_values(make_table):
    table = make_table(ROWS, policy="FIRST")
    results = run_tests(
        table,
        [
            {"name": "wrong", "facts": {"dpd": 95}, "expect": {"alert": "overdue"}},
            {"name": "two wrong", "facts": {"dpd": 95}, "expect": {"alert": "x", "severity": None}},
            {"name": "none hit", "facts": {"dpd": 0}, "expect": {"alert": "early"}},
            {"name": "unexpected", "facts": {"dpd": 45}, "expect": None},
            {"name": "rows", "facts": {"dpd": 45}, "expect_rows": ["R1"]},
        ],
    )
    assert outcome(results) == {
        "wrong": (False, 'row R1: alert is "late", expected "overdue"'),
        "two wrong": (
            False,
            'row R1: alert is "late", expected "x", severity is "critical", expected null',
        ),
        "none hit": (False, 'expected alert="early"; no row matched'),
        "unexpected": (False, "expected no row to match; row R2 matched"),
        "rows": (False, "expected row R1, got row R2"),
    }
    assert results[0].got == [{"row": "R1", "then": {"alert": "late", "severity": "critical"}}]


def test_an_unknown_fact_matches_only_the_any_cell(make_table):
    table = make_table([("R1", {"dpd": ">= 0"}), ("R2", {"dpd": "-"})], policy="FIRST")
    [result] = run_tests(table, [{"name": "unknown dpd", "facts": {}, "expect_rows": ["R2"]}])
    assert result.passed, result.message


def test_unique_two_matching_rows_is_a_failed_test_not_an_exception(make_table):
    table = make_table(
        [("R1", {"dpd": ">= 90"}), ("R2", {"dpd": "[30..90)"}), ("R3", {"dpd": ">= 60"})],
        policy="UNIQUE",
    )
    results = run_tests(
        table,
        [
            {"name": "one", "facts": {"dpd": 45}, "expect": {"alert": "R2"}},
            {"name": "overlap", "facts": {"dpd": 95}, "expect": {"alert": "R1"}},
        ],
    )
    assert outcome(results) == {
        "one": (True, "passed: row R2 matched"),
        "overlap": (
            False,
            f"table {table.qualified_name}: hit policy UNIQUE but rows R1, R3 all match",
        ),
    }
    assert results[1].got is None


def test_priority_checks_the_highest_ranked_row(make_table):
    rows = [
        ("R1", {"dpd": ">= 0"}, {"alert": "low", "severity": "info"}),
        ("R2", {"dpd": ">= 60"}, {"alert": "high", "severity": "critical"}),
    ]
    table = make_table(rows, policy="PRIORITY")
    results = run_tests(
        table,
        [
            {"name": "ranked", "facts": {"dpd": 70}, "expect": {"severity": "critical"}},
            {"name": "not first", "facts": {"dpd": 70}, "expect_rows": ["R1"]},
        ],
    )
    assert outcome(results) == {
        "ranked": (True, "passed: row R2 matched"),
        "not first": (False, "expected row R1, got row R2"),
    }


def test_collect_expects_every_hit_in_table_order(make_table):
    table = make_table(ROWS, policy="COLLECT")
    results = run_tests(
        table,
        [
            {
                "name": "all",
                "facts": {"dpd": 95},
                "expect": [{"alert": "late"}, {"alert": "overdue", "severity": "warning"}],
                "expect_rows": ["R1", "R2"],
            },
            {"name": "one as object", "facts": {"dpd": 5}, "expect": {"alert": "early"}},
            {"name": "too few", "facts": {"dpd": 95}, "expect": [{"alert": "late"}]},
            {
                "name": "order",
                "facts": {"dpd": 95},
                "expect": [{"alert": "overdue"}, {"alert": "late"}],
            },
            {"name": "none", "facts": {"dpd": 0}, "expect": []},
        ],
    )
    assert outcome(results) == {
        "all": (True, "passed: rows R1, R2 matched"),
        "one as object": (True, "passed: row R3 matched"),
        "too few": (False, "expected 1 hit, got 2 (rows R1, R2)"),
        "order": (
            False,
            'hit 1 (row R1): alert is "late", expected "overdue"; '
            'hit 2 (row R2): alert is "overdue", expected "late"',
        ),
        "none": (True, "passed: no row matched"),
    }


def test_a_case_that_cannot_run_fails_with_the_reason_and_never_raises(make_table):
    table = make_table(ROWS, policy="FIRST")
    results = run_tests(
        table,
        [
            {"name": "typed", "facts": {"dpd": "soon"}, "expect": None},
            {"name": "typo", "facts": {"dpdd": 3}, "expect": None},
            42,
            {"facts": {}, "expect": None},
        ],
    )
    assert [r.passed for r in results] == [False] * 4
    assert results[0].message == "fact 'dpd': not an integer (got 'soon')"
    assert results[1].message == "unknown fact 'dpdd'; did you mean 'dpd'?"
    assert results[2].name == "#3"
    assert results[2].message == "a test case is a JSON object, found int"
    assert results[3].message == "a test case needs a name"
    assert (
        run_tests(table, {"not": "a list"})[0].message == "tests must be a JSON list of test cases"
    )


def test_facts_are_read_as_their_declared_types(make_table):
    table = make_table(
        [("R1", {"dpd": "> 100", "opened_on": "< 2025-01-01", "on_hold": "true"})],
        inputs=["dpd", "opened_on", "on_hold"],
    )
    [result] = run_tests(
        table,
        [
            {
                "name": "text values",
                "facts": {"dpd": "120", "opened_on": "2024-06-30", "on_hold": 1},
                "expect_rows": ["R1"],
            }
        ],
    )
    assert result.passed, result.message


# ---- validation --------------------------------------------------------------------------------


def test_validate_lists_every_problem_with_the_test_name(make_table):
    table = make_table(ROWS, policy="FIRST")
    tests = [
        {"name": "ok", "facts": {"dpd": 5}, "expect": {"alert": "early"}},
        {"name": "ok", "facts": {}, "expect": None},
        {"name": "facts", "facts": {"dpdd": 1, "risk_level": "HIGH", "dpd": 1.5}, "expect": None},
        {"name": "outputs", "facts": {}, "expect": {"team": "x", "severity": "fatal"}},
        {"name": "types", "facts": {}, "expect": {"alert": 3}},
        {"name": "list", "facts": {}, "expect": [{"alert": "x"}]},
        {"name": "empty", "facts": {}, "expect": {}},
        {"name": "nothing expected", "facts": {}},
        {"name": "rows", "facts": {}, "expect": None, "expect_rows": ["R9"], "expected": 1},
    ]
    assert validate_tests(table, tests) == [
        "test ok: another test case has this name",
        "test facts: unknown fact 'dpdd'; did you mean 'dpd'?",
        f"test facts: fact 'risk_level' is not an input of table {table.name} (inputs: dpd)",
        "test facts: fact 'dpd': not a whole number (got 1.5)",
        "test outputs: expect: no output 'team' (outputs: alert, severity)",
        "test outputs: expect.severity: 'fatal' is not one of critical, warning, info",
        "test types: expect.alert: alert is text; expected text, found 3",
        "test list: hit policy FIRST gives at most one row: expect is one object, not a list",
        "test empty: expect must name at least one output and its value",
        "test nothing expected: say what is expected: expect (null for no row) or expect_rows",
        "test rows: unknown key 'expected' (known keys: name, facts, expect, expect_rows)",
        f"test rows: expect_rows: table {table.name} has no row 'R9'",
        "test rows: expect is null (no row matches) but expect_rows names rows",
    ]
    assert validate_tests(table, tests[:1]) == []
    assert validate_tests(table, "x") == ["tests must be a JSON list of test cases"]


# ---- the shipped tables ------------------------------------------------------------------------

SHIPPED_TESTS = {
    Kind.ASSIGNMENT: [
        {
            "name": "legal stays legal",
            "facts": {"status": "legal", "bucket": "M4+"},
            "expect": {"team": "legal", "selection": "keep_current"},
            "expect_rows": ["A01"],
        },
        {"name": "closed is not assigned", "facts": {"status": "closed"}, "expect": {"team": None}},
    ],
    Kind.PRIORITY: [
        {
            "name": "over 90 DPD with 20,000 overdue is P1",
            "facts": {"dpd": 95, "overdue_amount": 25000, "outstanding_balance": 30000},
            "expect": {"score": 95, "level": "P1"},
        }
    ],
    Kind.STRATEGY: [
        {
            "name": "M3 gets a formal letter",
            "facts": {"bucket": "M3", "promise_pending": False, "broken_promises": 0},
            "expect": {"next_action": "formal_letter"},
        }
    ],
    Kind.ALERT: [
        {
            "name": "three missed installments and a bad score",
            "facts": {"consecutive_missed_installments": 3, "credit_score": 500},
            "expect": [
                {"alert": "missed_installments", "severity": "critical"},
                {"severity": "warning"},
            ],
        },
        {"name": "a quiet case raises nothing", "facts": {"dpd": 0}, "expect": None},
    ],
}


@pytest.mark.parametrize("kind", list(Kind))
def test_the_shipped_tables_pass_cases_written_from_their_readme(shipped, kind):
    tests = SHIPPED_TESTS[kind]
    assert validate_tests(shipped[kind], tests) == []
    results = run_tests(shipped[kind], tests)
    assert [(r.name, r.message) for r in results if not r.passed] == []


def test_a_broken_expectation_on_a_shipped_table_fails(shipped):
    [result] = run_tests(
        shipped[Kind.PRIORITY],
        [
            {
                "name": "wrong",
                "facts": {"dpd": 95, "overdue_amount": 25000},
                "expect": {"level": "P4"},
            }
        ],
    )
    assert not result.passed
    assert result.message.startswith('row P01: level is "P1", expected "P4"')


# ---- bulk upload -------------------------------------------------------------------------------


@pytest.fixture
def alerts(make_table):
    return make_table(
        [*ROWS, ("R4", {"risk_level": '"HIGH"'})], inputs=["dpd", "risk_level"], policy="COLLECT"
    )


def test_csv_with_chinese_labels_in_gb18030_is_read(alerts):
    text = (
        "名称,逾期天数,风险等级,期望.alert,期望.severity,expect_rows\n"
        "很晚,95,,late,critical,\n"
        "很晚,,,overdue,,\n"
        '高风险早期,5,HIGH,early,null,"R3, R4"\n'
        "没有,0,,,,\n"
    )
    tests, errors = tests_from_csv(alerts, text.encode("gb18030"))
    assert errors == []
    assert tests == [
        {
            "name": "很晚",
            "facts": {"dpd": 95},
            "expect": [{"alert": "late", "severity": "critical"}, {"alert": "overdue"}],
        },
        {
            "name": "高风险早期",
            "facts": {"dpd": 5, "risk_level": "HIGH"},
            "expect": [{"alert": "early", "severity": None}],
            "expect_rows": ["R3", "R4"],
        },
        {"name": "没有", "facts": {"dpd": 0}, "expect": None},
    ]
    assert validate_tests(alerts, tests) == []
    assert outcome(run_tests(alerts, tests)) == {
        "很晚": (True, "passed: rows R1, R2 matched"),
        # Both rows R3 and R4 hit, as expect_rows says, but only one hit is expected.
        "高风险早期": (False, "expected 1 hit, got 2 (rows R3, R4)"),
        "没有": (True, "passed: no row matched"),
    }


def test_csv_in_utf8_with_bom_and_english_labels_and_semicolons(make_table):
    table = make_table(ROWS, policy="FIRST")
    text = "Name;Days past due of the oldest unpaid installment;expect.alert\nlate;95;late\n"
    tests, errors = tests_from_csv(table, text.encode("utf-8-sig"))
    assert errors == []
    assert tests == [{"name": "late", "facts": {"dpd": 95}, "expect": {"alert": "late"}}]


def test_bad_rows_are_reported_with_row_column_and_reason_and_good_rows_kept(make_table):
    table = make_table(ROWS, inputs=["dpd", "on_hold"], policy="FIRST")
    text = (
        "name,dpd,on_hold,expect.alert,expect.severity,expect_rows,remarks\n"
        "good,95,否,late,critical,R1,checked by Li\n"
        "bad number,9 5,,late,,,\n"
        "\n"
        "two bad,45,maybe,,fatal,,\n"
        "bad row id,45,,,,R7,\n"
        "good,5,,early,,,\n"
        ",3,,early,,,\n"
    )
    tests, errors = tests_from_csv(table, text.encode("utf-8"))
    assert tests == [
        {
            "name": "good",
            "facts": {"dpd": 95, "on_hold": False},
            "expect": {"alert": "late", "severity": "critical"},
            "expect_rows": ["R1"],
        },
        {"name": "row 8", "facts": {"dpd": 3}, "expect": {"alert": "early"}},
    ]
    assert errors == [
        RowError(
            1,
            "remarks",
            "",
            "unknown column: expected name, an input fact (name or label), expect.<output> or "
            "expect_rows; the column is ignored",
            7,
        ),
        RowError(3, "dpd", "9 5", "not an integer", 2),
        RowError(5, "on_hold", "maybe", "expected true or false (or 1/0)", 3),
        RowError(5, "expect.severity", "fatal", "'fatal' is not one of critical, warning, info", 5),
        RowError(6, "expect_rows", "R7", f"table {table.name} has no row 'R7'", 6),
        RowError(7, "name", "good", "another test case (row 2) has this name", 1),
    ]
    assert str(errors[1]) == "row 3, column dpd: not an integer (found '9 5')"


def test_a_file_without_a_name_column_is_refused(make_table):
    table = make_table(ROWS)
    tests, errors = tests_from_rows(table, ["dpd", "expect.alert"], [[5, "early"]])
    assert tests == [{"name": "row 2", "facts": {"dpd": 5}, "expect": {"alert": "early"}}]
    assert errors == [RowError(1, "name", "", "missing column: every test case needs a name")]


def test_a_fact_column_of_another_table_is_named_as_such(make_table):
    table = make_table(ROWS)
    _, errors = tests_from_rows(table, ["name", "风险等级", "expect.team"], [])
    assert [(e.column, e.reason.split(";")[0]) for e in errors] == [
        (
            "风险等级",
            "unknown column: expected name, an input fact (name or label), expect.<output> "
            "or expect_rows",
        ),
        ("expect.team", "no such output (columns: expect.alert, expect.severity)"),
    ]
    assert "the fact is not an input of table" in errors[0].reason


def test_a_continuation_line_is_only_for_collect_tables(make_table):
    table = make_table(ROWS, policy="FIRST")
    tests, errors = tests_from_rows(
        table, ["name", "dpd", "expect.alert"], [["a", 95, "late"], ["a", None, "overdue"]]
    )
    assert len(tests) == 1
    assert errors == [RowError(3, "name", "a", "another test case (row 2) has this name", 1)]


def test_tests_written_as_csv_read_back_the_same(alerts):
    tests = [
        {
            "name": "text",
            "facts": {"dpd": 95, "risk_level": "HIGH"},
            "expect": [{"alert": "late"}, {"alert": "null"}, {"alert": "=1+1", "severity": None}],
            "expect_rows": ["R1", "R2", "R4"],
        },
        {"name": "=none", "facts": {}, "expect": None, "expect_rows": []},
        {"name": "rows only", "facts": {"dpd": 3}, "expect_rows": ["R3"]},
    ]
    data = tests_to_csv(alerts, tests)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b'"""=1+1"""' in data  # quoted: Excel would run =1+1 as a formula
    assert tests_from_csv(alerts, data) == (tests, [])


def test_an_undecodable_or_empty_file_is_one_error(make_table):
    table = make_table(ROWS)
    assert tests_from_csv(table, b"") == (
        [],
        [RowError(0, "", "", "the file is empty: expected a header row")],
    )
    _, errors = tests_from_xlsx(table, b"not a workbook")
    assert errors[0].row == 0
    assert errors[0].reason.startswith("not a readable XLSX workbook")


def test_xlsx_upload_reads_the_tests_sheet_with_excel_typed_cells(make_table):
    table = make_table(
        [("R1", {"opened_on": "< 2025-01-01", "on_hold": "true", "dpd": ">= 30"})],
        inputs=["dpd", "opened_on", "on_hold"],
        policy="FIRST",
    )
    workbook = Workbook()
    workbook.active.title = "说明"
    sheet = workbook.create_sheet("测试")
    sheet.append(["名称", "逾期天数", "案件开立日期", "案件暂停催收", "期望.alert", "expect_rows"])
    sheet.append(["typed", 45.0, datetime(2024, 6, 30), True, "R1", "R1"])
    sheet.append(["bad date", 45, datetime(2024, 6, 30, 12, 0), None, None, "-"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    tests, errors = tests_from_xlsx(table, buffer.getvalue())
    assert tests == [
        {
            "name": "typed",
            "facts": {"dpd": 45, "opened_on": "2024-06-30", "on_hold": True},
            "expect": {"alert": "R1"},
            "expect_rows": ["R1"],
        }
    ]
    assert [(e.row, e.column, e.reason) for e in errors] == [
        (3, "案件开立日期", "expected a date, not a date and time")
    ]
    assert run_tests(table, tests)[0].passed
    assert date.fromisoformat(tests[0]["facts"]["opened_on"]) == date(2024, 6, 30)


def test_rows_for_a_spreadsheet_put_each_collect_hit_on_its_own_line(alerts):
    header, rows = tests_to_rows(
        alerts,
        [{"name": "t", "facts": {"dpd": 95}, "expect": [{"alert": "late"}, {"alert": "overdue"}]}],
    )
    assert header == ["name", "dpd", "risk_level", "expect.alert", "expect.severity", "expect_rows"]
    assert rows == [["t", 95, None, "late", None, None], ["t", None, None, "overdue", None, None]]
