"""Risk forecast (整体逾期风险评估与预测): a roll-rate Markov chain over the DPD buckets.

From the monthly statements, the share of accounts (and of balance) in bucket i at one month
end found in bucket j at the next is counted for every pair of consecutive months in the fit
window and pooled: the transition matrix P (rows sum to 1; a bucket nobody was in stays put).
The distribution at the last fitted month, v₀, is carried forward: vₖ = v₀ Pᵏ, by accounts and,
with the balance-weighted matrix, by balance. The expected loss of a month is the balance
rolling into the last bucket (M4+, over 90 DPD: the charge-off bucket) that month times the loss
given default (``lgd``, 100 % unless given): Σ_{i ≠ last} v_{k−1}[i] · P[i, last] · LGD.

**Backtest.** The last ``horizon`` months are held out: the chain is fitted on the months before
them (on the UCI portfolio: April–July 2005), run forward from the last fitted month (July), and
its forecast of each held-out month (August, September) is compared with what the statements
say: per bucket the forecast and observed accounts and shares, the absolute error in percentage
points, the mean absolute error over the buckets, the total-variation distance (half the sum of
absolute share errors: the share of accounts put in the wrong bucket), and the expected loss
against the balance that really rolled into M4+.

The portfolio and each segment (``segment_by``: the loan's product or the debtor's region) get
their own chain, with their sample sizes. Too little history, or a segment without accounts, is
a :class:`ForecastError` in plain words with the numbers that fell short.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Float, and_, case, cast, func, select, type_coerce
from sqlalchemy.types import String

from casedb.delinquency import bucket_labels
from casedb.models import Customer, Loan, MonthlyStatement

DEFAULT_LGD = 1.0
DEFAULT_HORIZON = 2
DEFAULT_MONTHS_AHEAD = 3
SEGMENT_DIMENSIONS = ("product", "region")


class ForecastError(ValueError):
    """Bad input (too little history, an empty segment, an unknown dimension) in plain words."""


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def _next_month_end(day: date) -> date:
    return _month_end(day + timedelta(days=1))


# --- reading -------------------------------------------------------------------------------


@dataclass
class Panel:
    """What the statements say, per segment: the distribution of each month and the
    transitions of each pair of consecutive months, by accounts and by balance."""

    months: list[date]
    buckets: list[str]
    # segment → month → bucket → (accounts, balance)
    stocks: dict[str | None, dict[date, dict[str, tuple[int, float]]]]
    # segment → first month of the pair → (from, to) → (accounts, balance at the first month)
    flows: dict[str | None, dict[date, dict[tuple[str, str], tuple[int, float]]]]


def _segment_column(dimension: str | None) -> Any:
    if dimension is None:
        return None
    if dimension == "product":
        return type_coerce(Loan.__table__.c.product, String())
    if dimension == "region":
        return Customer.__table__.c.region
    raise ForecastError(
        f"unknown segment dimension {dimension!r}: one of {', '.join(SEGMENT_DIMENSIONS)}"
    )


def read_panel(connection: Connection, segment_by: str | None = None) -> Panel:
    """Month-end distributions and month-on-month transitions from the statements, for the
    portfolio (segment ``None``) and each value of ``segment_by``."""
    statements = MonthlyStatement.__table__
    loans, customers = Loan.__table__, Customer.__table__
    segment = _segment_column(segment_by)
    positive = case((statements.c.balance > 0, statements.c.balance), else_=0)
    months = sorted(
        {
            _month_end(p)
            for p in connection.scalars(select(statements.c.period).distinct())
            if p == _month_end(p)
        }
    )
    seen: set[str] = set()
    stocks: dict[str | None, dict[date, dict[str, tuple[int, float]]]] = {None: {}}
    flows: dict[str | None, dict[date, dict[tuple[str, str], tuple[int, float]]]] = {None: {}}

    def joined(base: Any, loan_column: Any) -> Any:
        if segment is None:
            return base
        base = base.join(loans, loans.c.id == loan_column)
        if segment_by == "region":
            base = base.join(customers, customers.c.id == loans.c.customer_id)
        return base

    label = segment.label("segment") if segment is not None else None
    stock_query = select(
        statements.c.period,
        *([label] if label is not None else []),
        statements.c.bucket,
        func.count(),
        cast(func.sum(positive), Float),
    ).select_from(joined(statements, statements.c.loan_id))
    groups = [statements.c.period, *([segment] if segment is not None else []), statements.c.bucket]
    for row in connection.execute(stock_query.group_by(*groups)):
        period, *rest = row
        key, bucket, count, balance = (rest[0], *rest[1:]) if label is not None else (None, *rest)
        month = _month_end(period)
        seen.add(bucket)
        for name in {None, key} if label is not None else {None}:
            cell = stocks.setdefault(name, {}).setdefault(month, {})
            old = cell.get(bucket, (0, 0.0))
            cell[bucket] = (old[0] + int(count), old[1] + float(balance or 0))
    first, second = statements.alias("m1"), statements.alias("m2")
    positive_first = case((first.c.balance > 0, first.c.balance), else_=0)
    for m1, m2 in itertools.pairwise(months):
        if m2 != _next_month_end(m1):
            continue
        base = joined(
            first.join(second, and_(second.c.loan_id == first.c.loan_id, second.c.period == m2)),
            first.c.loan_id,
        )
        query = (
            select(
                *([label] if label is not None else []),
                first.c.bucket,
                second.c.bucket,
                func.count(),
                cast(func.sum(positive_first), Float),
            )
            .select_from(base)
            .where(first.c.period == m1)
            .group_by(*([segment] if segment is not None else []), first.c.bucket, second.c.bucket)
        )
        for row in connection.execute(query):
            key, source, target, count, balance = row if label is not None else (None, *row)
            seen.update((source, target))
            for name in {None, key} if label is not None else {None}:
                cell = flows.setdefault(name, {}).setdefault(m1, {})
                old = cell.get((source, target), (0, 0.0))
                cell[(source, target)] = (old[0] + int(count), old[1] + float(balance or 0))
    order = bucket_labels()
    buckets = [b for b in order if b in seen] + sorted(seen - set(order))
    for b in order:
        if b not in buckets:
            buckets.insert(order.index(b), b)
    return Panel(months, buckets, stocks, flows)


# --- the chain -----------------------------------------------------------------------------


def transition_matrix(
    flows: Sequence[dict[tuple[str, str], tuple[int, float]]], buckets: Sequence[str], by: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled transitions (``by`` 0: accounts, 1: balance) → (P with rows summing to 1, the
    row totals it was estimated from). A bucket with nothing in it stays where it is."""
    n = len(buckets)
    index = {b: i for i, b in enumerate(buckets)}
    counts = np.zeros((n, n))
    for cells in flows:
        for (source, target), values in cells.items():
            counts[index[source], index[target]] += values[by]
    totals = counts.sum(axis=1)
    matrix = np.eye(n)
    rows = totals > 0
    matrix[rows] = counts[rows] / totals[rows, None]
    return matrix, totals


def run_chain(start: np.ndarray, matrix: np.ndarray, steps: int) -> list[np.ndarray]:
    """The distribution after 1..steps months: vₖ = v₀ Pᵏ."""
    found, current = [], start
    for _ in range(steps):
        current = current @ matrix
        found.append(current)
    return found


def loss_flow(previous: np.ndarray, matrix: np.ndarray) -> float:
    """Balance rolling into the last bucket in one month, from every other bucket."""
    last = len(previous) - 1
    return float(sum(previous[i] * matrix[i, last] for i in range(last)))


@dataclass
class Forecast:
    """One segment's chain and its forecast."""

    segment: str | None
    buckets: list[str]
    fit_months: list[str]
    start_month: str
    accounts: int
    transitions: list[list[float]]
    balance_transitions: list[list[float]]
    fitted_from: list[int]
    months: list[str] = field(default_factory=list)
    accounts_forecast: list[list[float]] = field(default_factory=list)
    balance_forecast: list[list[float]] = field(default_factory=list)
    expected_loss: list[float] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    start_balance: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _fit(
    panel: Panel, segment: str | None, fit: Sequence[date], label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    stocks = panel.stocks.get(segment, {})
    flows = panel.flows.get(segment, {})
    pairs = [flows[m] for m in fit[:-1] if m in flows]
    if not any(fit_month in stocks for fit_month in fit):
        window = f"{_month(fit[0])}..{_month(fit[-1])}" if fit else "no months"
        raise ForecastError(f"{label} has no accounts with statements in {window}: nothing to fit")
    if not pairs or not any(pairs):
        raise ForecastError(
            f"{label} has no account with statements in two consecutive months of "
            f"{_month(fit[0])}..{_month(fit[-1])}: no transition to fit a chain on"
        )
    counts, totals = transition_matrix(pairs, panel.buckets, 0)
    balances, _ = transition_matrix(pairs, panel.buckets, 1)
    start_cells = stocks.get(fit[-1], {})
    start = np.array([start_cells.get(b, (0, 0.0))[0] for b in panel.buckets], dtype=float)
    start_balance = np.array([start_cells.get(b, (0, 0.0))[1] for b in panel.buckets])
    return counts, balances, totals, start, start_balance


def _segments(panel: Panel, segment: str | None, segment_by: str | None) -> list[str | None]:
    if segment_by is None:
        return [None]
    known = sorted(k for k in panel.stocks if k is not None)
    if segment is not None:
        if segment not in known:
            raise ForecastError(
                f"segment {segment_by}={segment} has no cases: no account with statements "
                f"({len(known)} {segment_by} values have some: {', '.join(known[:10]) or 'none'})"
            )
        return [None, segment]
    return [None, *known]


def forecast(
    connection: Connection,
    months_ahead: int = DEFAULT_MONTHS_AHEAD,
    segment_by: str | None = None,
    segment: str | None = None,
    lgd: float = DEFAULT_LGD,
    panel: Panel | None = None,
) -> list[Forecast]:
    """The next ``months_ahead`` months of the portfolio (first) and each segment, fitted on
    every month of statements."""
    panel = panel or read_panel(connection, segment_by)
    if len(panel.months) < 2:
        raise ForecastError(
            f"too little history to forecast: {len(panel.months)} month(s) of statements; "
            "a roll-rate chain needs at least 2 consecutive months"
        )
    if months_ahead < 1:
        raise ForecastError(f"months ahead must be 1 or more, not {months_ahead}")
    found = []
    for name in _segments(panel, segment, segment_by):
        label = "the portfolio" if name is None else f"segment {segment_by}={name}"
        counts, balances, totals, start, start_balance = _fit(panel, name, panel.months, label)
        result = _forecast(panel, name, panel.months, counts, balances, totals, start)
        result.start_balance = [float(v) for v in start_balance]
        months = []
        day = panel.months[-1]
        for _ in range(months_ahead):
            day = _next_month_end(day)
            months.append(_month(day))
        result.months = months
        result.accounts_forecast = [
            list(map(float, v)) for v in run_chain(start, counts, months_ahead)
        ]
        balance_path = run_chain(start_balance, balances, months_ahead)
        result.balance_forecast = [list(map(float, v)) for v in balance_path]
        previous = [start_balance, *balance_path[:-1]]
        result.expected_loss = [lgd * loss_flow(p, balances) for p in previous]
        found.append(result)
    return found


def _forecast(
    panel: Panel,
    name: str | None,
    fit: Sequence[date],
    counts: np.ndarray,
    balances: np.ndarray,
    totals: np.ndarray,
    start: np.ndarray,
) -> Forecast:
    return Forecast(
        segment=name,
        buckets=list(panel.buckets),
        fit_months=[_month(m) for m in fit],
        start_month=_month(fit[-1]),
        accounts=int(start.sum()),
        transitions=[list(map(float, row)) for row in counts],
        balance_transitions=[list(map(float, row)) for row in balances],
        fitted_from=[int(t) for t in totals],
        start=[int(v) for v in start],
    )


# --- backtest ------------------------------------------------------------------------------


@dataclass
class MonthError:
    """One held-out month of one segment: forecast against observed, per bucket."""

    month: str
    steps: int
    forecast_accounts: list[float]
    observed_accounts: list[int]
    forecast_share: list[float]
    observed_share: list[float]
    share_error_pp: list[float]
    mean_abs_error_pp: float
    total_variation: float
    forecast_loss: float
    observed_loss: float | None


@dataclass
class Backtest:
    segment: str | None
    buckets: list[str]
    fit_months: list[str]
    start_month: str
    accounts: int
    months: list[MonthError]

    @property
    def mean_abs_error_pp(self) -> float:
        return float(np.mean([m.mean_abs_error_pp for m in self.months]))

    @property
    def total_variation(self) -> float:
        return float(np.mean([m.total_variation for m in self.months]))

    def as_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        found["months"] = [m.__dict__ for m in self.months]
        found["mean_abs_error_pp"] = self.mean_abs_error_pp
        found["total_variation"] = self.total_variation
        return found

    def text(self) -> str:
        name = "portfolio" if self.segment is None else self.segment
        lines = [
            f"{name}: fitted on {', '.join(self.fit_months)}, run from {self.start_month} "
            f"({self.accounts} accounts)"
        ]
        for m in self.months:
            cells = ", ".join(
                f"{b} {f * 100:.1f}% vs {o * 100:.1f}%"
                for b, f, o in zip(self.buckets, m.forecast_share, m.observed_share, strict=True)
            )
            loss = f"{m.observed_loss:,.0f}" if m.observed_loss is not None else "-"
            lines.append(
                f"  {m.month} (+{m.steps}): {cells}; mean abs error {m.mean_abs_error_pp:.2f} pp, "
                f"misplaced {m.total_variation * 100:.1f}%; loss forecast {m.forecast_loss:,.0f} "
                f"vs observed {loss}"
            )
        return "\n".join(lines)


def backtest(
    connection: Connection,
    horizon: int = DEFAULT_HORIZON,
    segment_by: str | None = None,
    segment: str | None = None,
    lgd: float = DEFAULT_LGD,
    panel: Panel | None = None,
) -> list[Backtest]:
    """Hold out the last ``horizon`` months, fit on the ones before, forecast the held-out
    months and compare with what happened; the portfolio first, then each segment."""
    panel = panel or read_panel(connection, segment_by)
    need = horizon + 2
    if horizon < 1 or len(panel.months) < need:
        span = f" ({_month(panel.months[0])}..{_month(panel.months[-1])})" if panel.months else ""
        raise ForecastError(
            f"too little history to backtest: {len(panel.months)} month(s) of statements{span}; "
            f"a {horizon}-month backtest needs at least 2 months to fit and {horizon} to "
            f"compare ({need} in all)"
        )
    fit, held = panel.months[:-horizon], panel.months[-horizon:]
    found = []
    for name in _segments(panel, segment, segment_by):
        label = "the portfolio" if name is None else f"segment {segment_by}={name}"
        counts, balances, _, start, start_balance = _fit(panel, name, fit, label)
        path = run_chain(start, counts, horizon)
        balance_path = run_chain(start_balance, balances, horizon)
        previous = [start_balance, *balance_path[:-1]]
        stocks, flows = panel.stocks.get(name, {}), panel.flows.get(name, {})
        months = []
        last = panel.buckets[-1]
        for step, (month, predicted) in enumerate(zip(held, path, strict=True), start=1):
            cells = stocks.get(month, {})
            observed = np.array([cells.get(b, (0, 0.0))[0] for b in panel.buckets], dtype=float)
            f_share = predicted / predicted.sum() if predicted.sum() else predicted
            o_share = observed / observed.sum() if observed.sum() else observed
            errors = (f_share - o_share) * 100
            before = panel.months[panel.months.index(month) - 1]
            moved = flows.get(before)
            observed_loss = (
                lgd * sum(v[1] for (s, t), v in moved.items() if t == last and s != last)
                if moved
                else None
            )
            months.append(
                MonthError(
                    month=_month(month),
                    steps=step,
                    forecast_accounts=[float(v) for v in predicted],
                    observed_accounts=[int(v) for v in observed],
                    forecast_share=[float(v) for v in f_share],
                    observed_share=[float(v) for v in o_share],
                    share_error_pp=[float(v) for v in errors],
                    mean_abs_error_pp=float(np.mean(np.abs(errors))),
                    total_variation=float(np.abs(f_share - o_share).sum() / 2),
                    forecast_loss=lgd * loss_flow(previous[step - 1], balances),
                    observed_loss=observed_loss,
                )
            )
        found.append(
            Backtest(
                name,
                list(panel.buckets),
                [_month(m) for m in fit],
                _month(fit[-1]),
                int(start.sum()),
                months,
            )
        )
    return found


def forecast_text(found: Forecast) -> str:
    """A forecast as lines: the share of accounts per bucket and the expected loss per month."""
    name = "portfolio" if found.segment is None else found.segment
    lines = [f"{name}: fitted on {', '.join(found.fit_months)} ({found.accounts} accounts)"]
    for month, counts, loss in zip(
        found.months, found.accounts_forecast, found.expected_loss, strict=True
    ):
        total = sum(counts) or 1.0
        cells = ", ".join(
            f"{b} {c / total * 100:.1f}%" for b, c in zip(found.buckets, counts, strict=True)
        )
        lines.append(f"  {month}: {cells}; expected loss {loss:,.0f}")
    return "\n".join(lines)
