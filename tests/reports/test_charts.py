"""Charts drawn on the server: every kind as SVG and PNG, empty ones saying so, Chinese that
renders (with a CJK font installed), and the versioned cache."""

from __future__ import annotations

import warnings
from datetime import date
from decimal import Decimal

import pytest

from reports import charts, metrics
from reports.metrics import (
    Aging,
    BucketFigures,
    LeagueRow,
    LeagueTable,
    OverdueTrend,
    RecoveryFigures,
    RecoveryRate,
    RollRates,
    Scope,
    TrendPoint,
)
from tests.conftest import skip_or_fail

SCOPE = Scope(date(2005, 4, 1), date(2005, 9, 30))
CHINESE = {
    "team_recovery": "各组回收率",
    "overdue_trend": "逾期率趋势",
    "by_count": "按户数",
    "by_balance": "按余额",
    "aging": "账龄分布",
    "roll_rates": "迁徙率",
    "from": "从",
    "to": "到",
    "league": "催收员排行",
    "recovery": "回收率",
    "none": "（无）",
    "no_data": "无数据",
}


def examples() -> dict[str, tuple]:
    buckets = ("M0", "M1", "M2", "M3", "M4+")
    counts = {i: dict.fromkeys(buckets, 0) for i in buckets}
    counts["M1"] |= {"M0": 3, "M2": 1}
    counts["M0"]["M0"] = 10
    balances = {i: {j: Decimal(n * 10) for j, n in row.items()} for i, row in counts.items()}
    return {
        "team_recovery": (
            charts.team_recovery_bars,
            RecoveryRate(
                SCOPE,
                Decimal(300),
                Decimal(1000),
                0.3,
                "team",
                (
                    RecoveryFigures("电话催收一组", Decimal(200), Decimal(500), 0.4),
                    RecoveryFigures(None, Decimal(100), Decimal(500), 0.2),
                ),
            ),
        ),
        "overdue_trend": (
            charts.overdue_trend_line,
            OverdueTrend(
                SCOPE,
                (
                    TrendPoint(date(2005, 8, 31), 100, 10, 0.1, 0.12),
                    TrendPoint(date(2005, 9, 30), 100, 20, 0.2, 0.18),
                ),
            ),
        ),
        "aging": (
            charts.aging_stacked_bars,
            Aging(
                SCOPE,
                date(2005, 9, 30),
                tuple(BucketFigures(b, 1, Decimal(1), 1, None) for b in buckets),
                "team",
                {"大额专案组": {"M1": 3, "M4+": 1}, "-": {"M2": 2}},
            ),
        ),
        "roll_rates": (
            charts.roll_rate_heatmap,
            RollRates(
                SCOPE,
                ("2005-08", "2005-09"),
                buckets,
                ("2005-08->2005-09",),
                {"2005-08->2005-09": counts},
                {"2005-08->2005-09": balances},
            ),
        ),
        "league": (
            charts.league_chart,
            LeagueTable(
                SCOPE,
                (
                    LeagueRow(1, 1, "张伟", "一组", 3, Decimal(900), 0.5, 10, 8, 0.25, 2, 0.5),
                    LeagueRow(2, 2, "李娜", None, 1, Decimal(0), None, 0, 0, None, 0, None),
                ),
            ),
        ),
    }


def empty(name: str) -> object:
    return {
        "team_recovery": RecoveryRate(SCOPE, Decimal(0), Decimal(0), None, "team", (), "无"),
        "overdue_trend": OverdueTrend(SCOPE, (), "no snapshot"),
        "aging": Aging(SCOPE, None, (), None, {}, "no snapshot"),
        "roll_rates": RollRates(SCOPE, (), ("M0",), (), {}, {}, "no statements"),
        "league": LeagueTable(SCOPE, (), "nobody"),
    }[name]


def draw(function, result, texts=None, fmt="svg") -> bytes:
    if function is charts.roll_rate_heatmap:
        return function(result, texts=texts, fmt=fmt)
    return function(result, texts, fmt)


@pytest.mark.parametrize("name", list(examples()))
def test_every_chart_as_svg_and_png(name):
    function, result = examples()[name]
    svg = draw(function, result)
    assert b"<svg" in svg[:2000]
    assert b"http://" not in svg.replace(b"http://www.w3.org/", b"").replace(
        b"http://purl.org/", b""
    ).replace(b"http://creativecommons.org/", b"").replace(b"http://matplotlib.org/", b"")
    png = draw(function, result, fmt="png")
    assert png.startswith(b"\x89PNG")
    assert draw(function, empty(name), fmt="png").startswith(b"\x89PNG")


def test_the_same_chart_draws_the_same_bytes():
    function, result = examples()["overdue_trend"]
    assert draw(function, result) == draw(function, result)


@pytest.mark.parametrize("name", list(examples()))
def test_chinese_labels_render_with_a_cjk_font(name):
    if charts.cjk_font() is None:
        skip_or_fail("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    function, result = examples()[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw(function, result, CHINESE, fmt="png")
        draw(function, empty(name), CHINESE, fmt="svg")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []


def test_the_cache_keeps_values_by_key_and_forgets_the_oldest():
    cache = charts.VersionedCache(size=2)
    calls = []

    def compute(value):
        calls.append(value)
        return value

    assert cache.get("a", lambda: compute(1)) == 1
    assert cache.get("a", lambda: compute(2)) == 1
    cache.get("b", lambda: compute(3))
    cache.get("c", lambda: compute(4))
    assert cache.get("a", lambda: compute(5)) == 5  # "a" was the oldest and went
    assert calls == [1, 3, 4, 5]
    assert (cache.hits, cache.misses) == (1, 4)


def test_cache_keys_differ_by_every_part():
    version = "2005-09-30|1|2"
    key = charts.cache_key("aging", SCOPE.key(), version, "zh", "svg")
    assert key != charts.cache_key("aging", SCOPE.key(), version + "3", "zh", "svg")
    assert key != charts.cache_key("aging", metrics.Scope(SCOPE.start, SCOPE.end, 1).key(), version)
    assert key == charts.cache_key("aging", SCOPE.key(), version, "zh", "svg")
