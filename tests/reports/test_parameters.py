"""Report parameters: text in, typed values out (relative dates against the business date), and
back again as stored with a run; anything else refused with its reason in both languages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from reports.parameters import (
    CHOICE,
    CHOICES,
    DATE,
    DECIMAL,
    INT,
    MONTH,
    Param,
    ParamSet,
    ReportError,
    parse_assignments,
)

TODAY = date(2025, 3, 12)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31", date(2025, 1, 31)),
        ("today", TODAY),
        ("today-7", date(2025, 3, 5)),
        ("TODAY + 20", date(2025, 4, 1)),
        ("month-start", date(2025, 3, 1)),
        ("month-end", date(2025, 3, 31)),
        ("last-month-start", date(2025, 2, 1)),
        ("last-month-end", date(2025, 2, 28)),
        ("week-start", date(2025, 3, 10)),
        ("last-week-start", date(2025, 3, 3)),
        ("last-week-end", date(2025, 3, 9)),
        ("year-start", date(2025, 1, 1)),
    ],
)
def test_dates_absolute_and_relative_to_the_business_date(text, expected):
    assert Param("d", DATE, ("D", "日")).parse(text, TODAY) == expected


def test_each_kind_parses_and_dumps_back():
    params = ParamSet(
        (
            Param("day", DATE, ("Day", "日期"), default="today"),
            Param("month", MONTH, ("Month", "月份")),
            Param("n", INT, ("N", "数"), minimum=0),
            Param("amount", DECIMAL, ("Amount", "金额")),
            Param("one", CHOICE, ("One", "一"), options=[("a", "A"), ("b", "B")]),
            Param("many", CHOICES, ("Many", "多"), options=[("a", "A"), ("b", "B")]),
        )
    )
    values = params.parse(
        {"month": "last-month", "n": "1,200", "amount": "12.50", "one": "b", "many": "b, a,b"},
        TODAY,
        "r",
    )
    assert values == {
        "day": TODAY,
        "month": date(2025, 2, 1),
        "n": 1200,
        "amount": Decimal("12.50"),
        "one": "b",
        "many": ["b", "a"],
    }
    stored = params.dump(values)
    assert stored == {
        "day": "2025-03-12",
        "month": "2025-02",
        "n": 1200,
        "amount": "12.50",
        "one": "b",
        "many": ["b", "a"],
    }
    assert params.parse(stored, date(2030, 1, 1), "r") == values, "stored values do not move"
    assert params.describe(values, "zh")[0] == ("日期", "2025-03-12")


REFUSALS = [
    (Param("n", INT, ("N", "数"), maximum=10), "11", "n: '11' is not at most 10", "不大于 10 的数"),
    (Param("d", DATE, ("D", "日")), "yesterday", "d: 'yesterday' is not a date", "不是日期"),
    (Param("m", MONTH, ("M", "月")), "2025-13", "m: '2025-13' is not a month", "不是月份"),
    (Param("x", DECIMAL, ("X", "额")), "NaN", "x: 'NaN' is not a number", "x：'NaN' 不是数字"),
]


@pytest.mark.parametrize(("param", "raw", "english", "chinese"), REFUSALS)
def test_refusals_name_the_parameter_in_both_languages(param, raw, english, chinese):
    with pytest.raises(ReportError) as caught:
        param.parse(raw, TODAY)
    assert str(caught.value).startswith(english)
    assert chinese in caught.value.message("zh")
    assert caught.value.param == param.name


def test_required_and_unknown_parameters():
    params = ParamSet((Param("n", INT, ("N", "数"), required=True),))
    with pytest.raises(ReportError, match="n is required"):
        params.parse({}, TODAY, "r")
    with pytest.raises(ReportError, match="report r has no parameter m; its parameters are: n"):
        params.parse({"m": "1"}, TODAY, "r")


def test_command_line_assignments():
    assert parse_assignments(["a=1", "b = x=y", "c="]) == {"a": "1", "b": " x=y", "c": ""}
    assert parse_assignments(["status=new,promised"]) == {"status": "new,promised"}
    with pytest.raises(ReportError, match="--param takes key=value"):
        parse_assignments(["dpd_min"])
