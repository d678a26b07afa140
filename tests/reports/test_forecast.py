"""The roll-rate forecast: a constructed chain whose forecast is worked out by hand, bad input
said in plain words, and the backtest on the real UCI portfolio (fit April–July 2005, forecast
August and September, compare with what the statements say)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

import run
from casedb.importing.uci import UciImport
from reports import forecast, metrics
from tests.conftest import _empty_all_tables

# Four cards over three month ends: status 0 current, k months late.
PATHS = {"A": (0, 0, 0), "B": (0, 1, 2), "C": (1, 0, 0), "D": (1, 2, 3)}
MONTHS = ("2025-01-31", "2025-02-28", "2025-03-31")


def _constructed(run_import):
    run_import("customers", [["customer_no", "name"], *[[f"C{k}", f"客户{k}"] for k in PATHS]])
    run_import(
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal"],
            *[[f"L{k}", f"C{k}", "credit_card", "10000"] for k in PATHS],
        ],
    )
    run_import(
        "statements",
        [
            ["loan_no", "period", "balance", "amount_paid", "repayment_status"],
            *[
                [f"L{k}", month, "1000", "0", str(status)]
                for k, statuses in PATHS.items()
                for month, status in zip(MONTHS, statuses, strict=True)
            ],
        ],
    )


def test_a_constructed_chain_forecasts_what_the_arithmetic_says(engine, run_import):
    _constructed(run_import)
    with engine.connect() as connection:
        (found,) = forecast.forecast(connection, months_ahead=1)
    assert found.buckets == ["M0", "M1", "M2", "M3", "M4+"]
    assert found.fit_months == ["2025-01", "2025-02", "2025-03"]
    # Pooled: M0 → M0 3, → M1 1; M1 → M0 1, → M2 2; M2 → M3 1; nobody in M3 or M4+ moved.
    assert found.transitions[0] == pytest.approx([0.75, 0.25, 0, 0, 0])
    assert found.transitions[1] == pytest.approx([1 / 3, 0, 2 / 3, 0, 0])
    assert found.transitions[2] == pytest.approx([0, 0, 0, 1, 0])
    assert found.transitions[3] == pytest.approx([0, 0, 0, 1, 0]), "unseen: stays put"
    assert found.fitted_from == [4, 3, 1, 0, 0]
    # March: A M0, B M2, C M0, D M3 → April = v₀P.
    assert found.start == [2, 0, 1, 1, 0]
    assert found.months == ["2025-04"]
    assert found.accounts_forecast[0] == pytest.approx([1.5, 0.5, 0, 2, 0])
    assert found.expected_loss == [0.0]


def test_the_backtest_error_is_reported_per_bucket_and_overall(engine, run_import):
    _constructed(run_import)
    with engine.connect() as connection:
        (test,) = forecast.backtest(connection, horizon=1)
    assert test.fit_months == ["2025-01", "2025-02"] and test.start_month == "2025-02"
    (march,) = test.months
    assert march.month == "2025-03" and march.steps == 1
    # January → February: M0 → M0 1, → M1 1; M1 → M0 1, → M2 1; nobody was in M2 (stays).
    # From February (A M0, B M1, C M0, D M2): M0 2·½ + 1·½, M1 2·½, M2 1·½ + 1.
    assert march.forecast_accounts == pytest.approx([1.5, 1, 1.5, 0, 0])
    assert march.observed_accounts == [2, 0, 1, 1, 0]
    assert march.share_error_pp == pytest.approx([-12.5, 25, 12.5, -25, 0])
    assert march.mean_abs_error_pp == pytest.approx(15.0)
    assert march.total_variation == pytest.approx(0.375)
    assert "mean abs error 15.00 pp" in test.text()


def test_too_little_history_and_empty_segments_are_said_with_the_numbers(engine, run_import):
    _constructed(run_import)
    with engine.connect() as connection:
        with pytest.raises(forecast.ForecastError) as raised:
            forecast.backtest(connection, horizon=2)
        assert str(raised.value) == (
            "too little history to backtest: 3 month(s) of statements (2025-01..2025-03); a "
            "2-month backtest needs at least 2 months to fit and 2 to compare (4 in all)"
        )
        with pytest.raises(forecast.ForecastError, match="segment region=西藏 has no cases"):
            forecast.forecast(connection, segment_by="region", segment="西藏")
        with pytest.raises(forecast.ForecastError, match="unknown segment dimension 'colour'"):
            forecast.forecast(connection, segment_by="colour")


def test_an_empty_database_cannot_forecast_and_the_command_says_why(cli_database):
    result = CliRunner().invoke(run.cli, ["forecast", "--backtest"])
    assert result.exit_code == 1
    assert "too little history to backtest: 0 month(s) of statements" in result.output
    assert "Traceback" not in result.output


# --- the real portfolio --------------------------------------------------------------------


@pytest.fixture(scope="module")
def uci(
    migrated_engine: Engine, uci_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    _empty_all_tables(migrated_engine)
    report = UciImport(
        migrated_engine, uci_csv, error_dir=tmp_path_factory.mktemp("uci_errors")
    ).run()
    assert report.ok, report.summary()
    yield migrated_engine
    _empty_all_tables(migrated_engine)


def test_the_uci_backtest_fits_april_to_july_and_reports_its_error(uci):
    with uci.connect() as connection:
        (test,) = forecast.backtest(connection)
        rolls = metrics.roll_rates(connection, metrics.Scope(date(2005, 7, 1), date(2005, 8, 31)))
        panel = forecast.read_panel(connection)
    assert test.fit_months == ["2005-04", "2005-05", "2005-06", "2005-07"]
    assert test.start_month == "2005-07" and test.accounts == 30_000
    august, september = test.months
    # One month ahead the chain is close: under 1 percentage point per bucket on average.
    assert august.month == "2005-08" and august.mean_abs_error_pp < 1.0
    assert august.total_variation < 0.02
    # Two months ahead it misses September's status code 1 ("one month late"), which the data
    # uses in September only (12.3 % of accounts; never April–August): the error says so.
    m1 = test.buckets.index("M1")
    assert september.observed_share[m1] == pytest.approx(3688 / 30000)
    assert september.forecast_share[m1] < 0.01
    assert september.mean_abs_error_pp > 3.0
    assert september.observed_loss is not None and september.forecast_loss > 0
    # The chain reads the same transitions as the roll-rate metric.
    pair = "2005-07->2005-08"
    july = next(m for m in panel.months if m == date(2005, 7, 31))
    for source in test.buckets:
        for target in test.buckets:
            mine = panel.flows[None][july].get((source, target), (0, 0.0))[0]
            assert mine == rolls.counts[pair][source][target]


def test_the_uci_forecast_runs_three_months_past_september(uci):
    with uci.connect() as connection:
        (found,) = forecast.forecast(connection, months_ahead=3, segment_by="product")[:1]
        segments = forecast.forecast(connection, months_ahead=3, segment_by="product")
    assert found.months == ["2005-10", "2005-11", "2005-12"]
    assert [s.segment for s in segments] == [None, "credit_card"]
    assert all(sum(v) == pytest.approx(30_000) for v in found.accounts_forecast)
    assert all(loss > 0 for loss in found.expected_loss)
