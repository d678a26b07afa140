"""Strategy simulation on a constructed portfolio whose answer is worked out by hand, bad input
in plain words, and the champion/challenger readout's verdicts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from reports import metrics, strategy_simulation
from reports.strategy_simulation import Measurements, Portfolio, SimulationError, simulate_change

COSTS = {"sms": 1.0, "calls": 5.0}


def portfolio(n_sms: int = 100, n_calls: int = 50) -> Portfolio:
    """Open cases: n_sms on "sms", n_calls on "calls", each p = 0.4 and 1,000 overdue; the
    champion/challenger buckets 0..99 spread evenly."""
    n = n_sms + n_calls
    return Portfolio(
        ["sms"] * n_sms + ["calls"] * n_calls,
        np.full(n, 0.4),
        np.full(n, 1000.0),
        np.arange(n) % 100,
        ["M1"] * (n_sms // 2) + ["M2"] * (n - n_sms // 2),
    )


def measured() -> Measurements:
    """History: on "sms" 200 cases predicted 0.5 of which 100 cured (effect 1.0); on "calls"
    200 cases predicted 0.5 of which 150 cured (effect 1.5)."""
    p = np.full(200, 0.5)
    return Measurements(
        {
            "sms": (p, np.array([1] * 100 + [0] * 100)),
            "calls": (p, np.array([1] * 150 + [0] * 50)),
        }
    )


def test_moving_every_sms_case_to_calls_yields_what_the_arithmetic_says():
    result = simulate_change(portfolio(), measured(), COSTS, "sms", "calls", replicates=300)
    # Current: 100 × 0.4 × 1.0 × 1000 + 50 × 0.4 × 1.5 × 1000 = 40,000 + 30,000.
    assert result.current.collected == pytest.approx(70_000)
    # Proposed: all 150 on calls: 150 × 0.6 × 1000.
    assert result.proposed.collected == pytest.approx(90_000)
    assert result.difference == pytest.approx(20_000)
    assert result.moved == 100
    assert (result.current.cost, result.proposed.cost) == (100 * 1 + 50 * 5, 150 * 5)
    assert result.cost_difference == 400
    assert result.current.net == pytest.approx(70_000 - 350)
    assert result.proposed.cases_by_path == {"calls": 150}
    effects = {e["path"]: e for e in result.effects}
    assert effects["calls"]["lift"] == pytest.approx(1.5) and effects["calls"]["measured"]
    # The intervals hold the point values and have width (the effects were measured on 200).
    low, high = result.difference_ci
    assert low < 20_000 < high and high - low > 1_000
    assert result.current.collected_ci[0] < 70_000 < result.current.collected_ci[1]


def test_a_share_moves_the_cases_below_it_by_their_stable_bucket():
    result = simulate_change(portfolio(), measured(), COSTS, "sms", "calls", share=30)
    assert result.moved == 30
    assert result.difference == pytest.approx(30 * 0.4 * 0.5 * 1000)
    again = simulate_change(portfolio(), measured(), COSTS, "sms", "calls", share=30)
    assert again.difference_ci == result.difference_ci, "seeded: the same every run"


def test_a_bucket_filter_moves_only_that_bucket():
    result = simulate_change(portfolio(), measured(), COSTS, "sms", "calls", only_bucket="M1")
    assert result.moved == 50


def test_effects_measured_on_too_few_cases_are_assumed_one_and_said():
    few = Measurements({"sms": (np.full(10, 0.5), np.ones(10, dtype=int))})
    result = simulate_change(portfolio(), few, COSTS, "sms", "calls")
    assert {e["path"]: e["lift"] for e in result.effects} == {"calls": 1.0, "sms": 1.0}
    assert any("fewer than 30" in note for note in result.notes)
    assert result.difference == pytest.approx(0.0)


def test_no_cure_observed_anywhere_is_said():
    none = Measurements({"sms": (np.full(100, 0.5), np.zeros(100, dtype=int))})
    result = simulate_change(portfolio(), none, COSTS, "sms", "calls")
    assert any("no cure has been observed yet" in note for note in result.notes)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("sms", "sms"), "moving cases from sms to itself changes nothing"),
        (("sms", "letters"), "no published treatment path 'letters'; the paths are: calls, sms"),
        (("legal", "calls"), "no open scored case is on path 'legal' (cases per path: calls 50"),
        (("sms", "calls", 0), "the share moved must be 1 to 100 %, not 0"),
    ],
)
def test_bad_simulations_are_said_in_plain_words(arguments, message):
    with pytest.raises(SimulationError) as raised:
        simulate_change(portfolio(), measured(), COSTS, *arguments)
    assert message in str(raised.value)


def test_a_database_without_scores_asks_for_them(engine, portfolio):
    with engine.connect() as connection, pytest.raises(SimulationError) as raised:
        strategy_simulation.simulate(connection, "a", "b")
    assert "none of the 1 open cases has a repayment-propensity score" in str(raised.value)
    assert "python run.py model score" in str(raised.value)


# --- champion / challenger readout ----------------------------------------------------------


def _arms(monkeypatch, champion: tuple[int, int], challenger: tuple[int, int]) -> None:
    """Stub the metric with arms of (cases, cured), collected 100 per cured case."""

    def figures(arm: str, n: int, cured: int) -> metrics.ArmFigures:
        return metrics.ArmFigures(arm, n, cured, cured / n, cured * 100, cured * 100 / n, 100.0)

    def fake(connection, scope, champion_name, challenger_name):
        one, two = figures("champion", *champion), figures("challenger", *challenger)
        p1, p2 = one.cure_rate, two.cure_rate
        se = (p1 * (1 - p1) / one.cases + p2 * (1 - p2) / two.cases) ** 0.5
        d = p2 - p1
        m = two.mean_collected - one.mean_collected
        s = (100.0**2 / one.cases + 100.0**2 / two.cases) ** 0.5
        return metrics.ArmResults(
            scope,
            (one, two),
            d,
            (d - metrics.Z95 * se, d + metrics.Z95 * se),
            m,
            (m - metrics.Z95 * s, m + metrics.Z95 * s),
        )

    monkeypatch.setattr(metrics, "strategy_arm_results", fake)


def test_a_clear_difference_is_read_out_as_significant(engine, monkeypatch):
    _arms(monkeypatch, champion=(1000, 200), challenger=(1000, 300))
    with engine.connect() as connection:
        readout = strategy_simulation.challenger_readout(
            connection, date(2025, 1, 1), date(2025, 3, 31)
        )
    assert readout.cure_rate_difference == pytest.approx(0.1)
    assert readout.cure_significant and readout.cure_rate_ci[0] > 0
    assert readout.verdict.startswith("significant (cure rate and collected): the challenger")


def test_a_small_sample_is_not_significant_yet_and_says_how_many_cases_it_needs(
    engine, monkeypatch
):
    _arms(monkeypatch, champion=(50, 10), challenger=(50, 12))
    with engine.connect() as connection:
        readout = strategy_simulation.challenger_readout(
            connection, date(2025, 1, 1), date(2025, 3, 31)
        )
    assert not readout.cure_significant
    # (1.96 + 0.84)² × (0.2·0.8 + 0.24·0.76) / 0.04² = 1,679.7 → 1,680.
    assert readout.cases_needed_per_arm == strategy_simulation.cases_needed(0.2, 0.24) == 1680
    assert "not significant yet" in readout.verdict
    assert "about 1680 cases per arm are needed (the smaller arm has 50)" in readout.verdict


def test_without_arms_there_is_no_readout_yet(engine, portfolio):
    with engine.connect() as connection:
        readout = strategy_simulation.challenger_readout(connection)
    assert readout.arms == []
    assert readout.verdict.startswith("no readout yet:")
