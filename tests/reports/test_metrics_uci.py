"""The metrics on the real UCI portfolio, against figures computed here straight from the CSV.

The portfolio is imported once for this module (about ten seconds), snapshotted as
``run.py snapshot`` does (April–August 2005 rebuilt from the statements, September 30 — the
business date — live), and read by every test. UCI has no region and a single product, so to
exercise the filters the fixture gives each debtor their education as region and men's cards the
product ``cash_loan``; the CSV side applies the same mapping to its own columns.

Reading the CSV (see casedb/importing/uci.py and the data set's README): month k of the file
(1 = September ... 6 = April) has status ``PAY_0``/``PAY_k`` (k ≥ 1 months late, else current),
balance ``BILL_AMTk`` and payment ``PAY_AMTk``; a status s is bucket M0 (s ≤ 0), M1, M2, M3
(s = 1, 2, 3) or M4+.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from casedb.importing.uci import UciImport
from casedb.models import Customer, Loan
from reports import metrics
from reports.metrics import Scope
from reports.snapshots import backfill
from tests.conftest import _empty_all_tables

STATUS = {1: "PAY_0", 2: "PAY_2", 3: "PAY_3", 4: "PAY_4", 5: "PAY_5", 6: "PAY_6"}
MONTH_END = {
    6: date(2005, 4, 30),
    5: date(2005, 5, 31),
    4: date(2005, 6, 30),
    3: date(2005, 7, 31),
    2: date(2005, 8, 31),
    1: date(2005, 9, 30),
}
EDUCATION = {1: "graduate_school", 2: "university", 3: "high_school", 4: "other"}
SEPTEMBER = Scope(date(2005, 9, 1), date(2005, 9, 30))
HALF_YEAR = Scope(date(2005, 4, 1), date(2005, 9, 30))


def bucket(status: int) -> str:
    if status <= 0:
        return "M0"
    return {1: "M1", 2: "M2", 3: "M3"}.get(status, "M4+")


def region(row: dict[str, int]) -> str:
    return EDUCATION.get(row["EDUCATION"], f"code_{row['EDUCATION']}")


def product(row: dict[str, int]) -> str:
    return "cash_loan" if row["SEX"] == 1 else "credit_card"


@pytest.fixture(scope="module")
def rows(uci_csv: Path) -> list[dict[str, int]]:
    with uci_csv.open(newline="", encoding="utf-8") as handle:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def uci(
    migrated_engine: Engine, uci_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The UCI portfolio imported, regions and products mapped, snapshots written; emptied at
    the end of the module."""
    engine = migrated_engine
    _empty_all_tables(engine)
    report = UciImport(engine, uci_csv, error_dir=tmp_path_factory.mktemp("uci_errors")).run()
    assert report.ok, report.summary()
    with engine.begin() as connection:
        connection.execute(update(Customer).values(region=Customer.education))
        men = select(Customer.id).where(Customer.gender == "male")
        connection.execute(
            update(Loan).where(Loan.customer_id.in_(men)).values(product="cash_loan")
        )
        written = backfill(connection, by="test")
    assert [r.source for r in written] == ["statements"] * 5 + ["backfill"]
    yield engine
    _empty_all_tables(engine)


def keep(rows: list[dict[str, int]], **wanted: str) -> list[dict[str, int]]:
    found = rows
    if "region" in wanted:
        found = [r for r in found if region(r) == wanted["region"]]
    if "product" in wanted:
        found = [r for r in found if product(r) == wanted["product"]]
    return found


def csv_transitions(rows: list[dict[str, int]], first: int, second: int) -> Counter:
    """(bucket in month ``first``, bucket in month ``second``) → accounts (month indexes)."""
    return Counter((bucket(r[STATUS[first]]), bucket(r[STATUS[second]])) for r in rows)


def csv_balances(rows: list[dict[str, int]], first: int, second: int) -> dict:
    found: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (bucket(r[STATUS[first]]), bucket(r[STATUS[second]]))
        found[key] = found.get(key, 0) + r[f"BILL_AMT{first}"]
    return found


def metric_transitions(rolls: metrics.RollRates, pair: str) -> Counter:
    return Counter(
        {
            (i, j): n
            for i, row in rolls.counts[pair].items()
            for j, n in row.items()
            if n  # the matrix lists every bucket pair; the CSV side only those that occur
        }
    )


# --- roll rates ------------------------------------------------------------------------------


def test_roll_rates_of_every_month_pair_match_the_csv(uci, rows):
    with uci.connect() as connection:
        rolls = metrics.roll_rates(connection, HALF_YEAR)
    assert rolls.months == ("2005-04", "2005-05", "2005-06", "2005-07", "2005-08", "2005-09")
    assert rolls.pairs == (
        "2005-04->2005-05",
        "2005-05->2005-06",
        "2005-06->2005-07",
        "2005-07->2005-08",
        "2005-08->2005-09",
    )
    for first, pair in zip((6, 5, 4, 3, 2), rolls.pairs, strict=True):
        assert metric_transitions(rolls, pair) == csv_transitions(rows, first, first - 1), pair
    # By balance (the first month's): two pairs, every cell.
    for first, pair in ((6, "2005-04->2005-05"), (2, "2005-08->2005-09")):
        expected = csv_balances(rows, first, first - 1)
        found = {
            (i, j): amount
            for i, row in rolls.balances[pair].items()
            for j, amount in row.items()
            if (i, j) in expected or amount
        }
        assert found == {key: Decimal(value) for key, value in expected.items()}, pair
    # The roll rate M1 → M2 of August → September, by count, as the CSV says.
    august = csv_transitions(rows, 2, 1)
    from_m1 = sum(n for (i, _), n in august.items() if i == "M1")
    assert rolls.rate("2005-08->2005-09", "M1", "M2") == pytest.approx(
        august[("M1", "M2")] / from_m1
    )


@pytest.mark.parametrize(
    "wanted", [{"region": "university"}, {"product": "cash_loan"}], ids=["region", "product"]
)
def test_roll_rates_under_filters_match_the_csv(uci, rows, wanted):
    with uci.connect() as connection:
        rolls = metrics.roll_rates(connection, Scope(HALF_YEAR.start, HALF_YEAR.end, **wanted))
    subset = keep(rows, **wanted)
    assert 0 < len(subset) < len(rows)
    for first, pair in ((5, "2005-05->2005-06"), (2, "2005-08->2005-09")):
        assert metric_transitions(rolls, pair) == csv_transitions(subset, first, first - 1)


def test_cure_rates_match_the_csv(uci, rows):
    with uci.connect() as connection:
        cures = metrics.cure_rates(connection, HALF_YEAR)
    found = {(r.pair, r.bucket): r for r in cures.rows}
    august = csv_transitions(rows, 2, 1)
    m2 = sum(n for (i, _), n in august.items() if i == "M2")
    figures = found[("2005-08->2005-09", "M2")]
    assert (figures.accounts, figures.cured) == (m2, august[("M2", "M0")])


# --- overdue rate, trend, aging --------------------------------------------------------------


def csv_overdue(rows: list[dict[str, int]], month: int) -> tuple[int, int, int, int]:
    late = [r for r in rows if r[STATUS[month]] >= 1]
    balance = f"BILL_AMT{month}"
    return len(rows), len(late), sum(r[balance] for r in rows), sum(r[balance] for r in late)


@pytest.mark.parametrize(
    "wanted",
    [{}, {"region": "university"}, {"product": "cash_loan"}],
    ids=["all", "region", "product"],
)
@pytest.mark.parametrize("month", [1, 4], ids=["september-live", "june-statements"])
def test_overdue_rate_matches_the_csv(uci, rows, wanted, month):
    day = MONTH_END[month]
    with uci.connect() as connection:
        rate = metrics.overdue_rate(connection, Scope(day.replace(day=1), day, **wanted))
    accounts, late, balance, late_balance = csv_overdue(keep(rows, **wanted), month)
    assert rate.as_of == day
    assert (rate.accounts, rate.overdue_accounts) == (accounts, late)
    assert (rate.balance, rate.overdue_balance) == (Decimal(balance), Decimal(late_balance))
    assert rate.by_count == pytest.approx(late / accounts)
    assert rate.by_balance == pytest.approx(late_balance / balance)


def test_the_overdue_trend_has_each_month_as_the_csv_says(uci, rows):
    with uci.connect() as connection:
        trend = metrics.overdue_rate_trend(connection, HALF_YEAR)
    assert [p.as_of for p in trend.points] == sorted(MONTH_END.values())
    for month, day in MONTH_END.items():
        accounts, late, *_ = csv_overdue(rows, month)
        point = next(p for p in trend.points if p.as_of == day)
        assert (point.accounts, point.overdue_accounts) == (accounts, late), day


@pytest.mark.parametrize("wanted", [{}, {"region": "high_school"}], ids=["all", "region"])
def test_bucket_aging_matches_the_csv(uci, rows, wanted):
    subset = keep(rows, **wanted)
    with uci.connect() as connection:
        september = metrics.dpd_bucket_aging(
            connection, Scope(SEPTEMBER.start, SEPTEMBER.end, **wanted)
        )
        june = metrics.dpd_bucket_aging(
            connection, Scope(date(2005, 6, 1), date(2005, 6, 30), **wanted)
        )
    # September (live): the open cases per bucket and their balance (BILL_AMT1).
    cases = Counter(bucket(r["PAY_0"]) for r in subset if r["PAY_0"] >= 1)
    balances: Counter = Counter()
    for r in subset:
        balances[bucket(r["PAY_0"])] += r["BILL_AMT1"]
    for figures in september.buckets:
        assert figures.cases == cases.get(figures.bucket, 0), figures.bucket
        assert figures.balance == Decimal(balances.get(figures.bucket, 0)), figures.bucket
    # June (from the statements): the accounts per bucket.
    accounts = Counter(bucket(r["PAY_4"]) for r in subset)
    assert {b.bucket: b.accounts for b in june.buckets if b.accounts} == dict(accounts)


# --- recovery --------------------------------------------------------------------------------


def overdue_at_entry(r: dict[str, int]) -> int:
    """README: the statement of k months earlier (the unpaid one) less what was paid since,
    capped by the September balance, floored at zero."""
    k = r["PAY_0"]
    unpaid = min(1 + k, 6)
    paid_since = sum(r[f"PAY_AMT{j}"] for j in range(1, unpaid))
    return max(min(r["BILL_AMT1"], r[f"BILL_AMT{unpaid}"] - paid_since), 0)


def test_september_recovery_matches_the_csv(uci, rows):
    with uci.connect() as connection:
        recovery = metrics.recovery_rate(connection, SEPTEMBER)
    cases = [r for r in rows if r["PAY_0"] >= 1]
    # Every case was worked in September (all are open on the 30th, none closed); September's
    # payments on their cards are what was collected.
    collected = sum(r["PAY_AMT1"] for r in cases)
    base = sum(overdue_at_entry(r) for r in cases)
    assert (recovery.collected, recovery.overdue_at_entry) == (Decimal(collected), Decimal(base))
    assert recovery.rate == pytest.approx(collected / base)
