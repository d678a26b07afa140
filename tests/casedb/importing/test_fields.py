"""Whatever a cell holds, the parser returns a clean value or a reason, never a crash."""

import uuid
from datetime import UTC
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from casedb.importing import fields as f
from casedb.importing.fields import CellError
from casedb.models import Customer

PARSERS = {
    "money": f.money(),
    "integer": f.integer(0, 150),
    "date": f.calendar_date(),
    "instant": f.instant("Asia/Shanghai"),
    "boolean": f.boolean(),
    "rate": f.rate(),
    "timezone": f.timezone_name(),
}


@pytest.mark.parametrize("name", PARSERS)
@given(raw=st.text(max_size=40))
def test_any_text_is_parsed_or_refused_with_a_reason(name, raw):
    try:
        value = PARSERS[name](raw)
    except CellError as exc:
        reason = str(exc)
        assert reason, "a refusal always says why"
        return
    if name == "money":
        assert value == value.quantize(Decimal("0.01"))
        assert value >= 0
    if name == "instant":
        assert value.tzinfo is UTC


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_amounts_round_trip_exactly(amount):
    assert f.money(allow_negative=True)(str(amount)) == amount
    assert f.money(allow_negative=True)(f"{amount:,}") == amount


def test_amounts_with_currency_signs_and_separators():
    assert f.money()("¥1,234.50") == Decimal("1234.50")
    with pytest.raises(CellError, match="two decimals"):
        f.money()("1.234")
    with pytest.raises(CellError, match="negative"):
        f.money()("-5")


def test_local_times_are_read_in_the_files_time_zone():
    assert f.instant("Asia/Shanghai")("2025-03-01 09:30").isoformat() == "2025-03-01T01:30:00+00:00"
    assert f.instant("Asia/Shanghai")("2025-03-01T09:30-05:00").hour == 14


GOOD_AGE = st.integers(0, 150).map(str)
BAD_AGE = st.sampled_from(["abc", "-1", "151", "1.5", "三十"])
GOOD_NAME = st.text(alphabet="张王李赵钱孙周吴郑小明华", min_size=1, max_size=4)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.one_of(GOOD_NAME, st.just("")), st.one_of(GOOD_AGE, BAD_AGE)),
        min_size=1,
        max_size=30,
    )
)
def test_malformed_rows_are_each_rejected_and_the_rest_kept(run_import, session, rows):
    prefix = uuid.uuid4().hex[:8]
    table = [["customer_no", "name", "age"]]
    table += [[f"{prefix}-{i}", name, age] for i, (name, age) in enumerate(rows)]
    report = run_import("customers", table, name=f"{prefix}.csv")
    valid = {
        f"{prefix}-{i}"
        for i, (name, age) in enumerate(rows)
        if name and age.isdigit() and int(age) <= 150
    }
    assert report.inserted == len(valid)
    assert report.rejected == len(rows) - len(valid)
    assert {e.row for e in report.errors} == {
        i + 2 for i in range(len(rows)) if f"{prefix}-{i}" not in valid
    }
    session.rollback()
    stored = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.customer_no.startswith(prefix))
    )
    assert stored == len(valid)
