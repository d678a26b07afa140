"""What a strategy change is expected to yield, and the champion/challenger readout.

**Simulating a change** complements the rule-authoring simulation (which shows *who moves*):
over the open portfolio, it says what each arm is expected to *collect* and *cost*.

- Each open case has its repayment propensity p (``case_propensity``, the model's probability
  of paying in the next period) and its overdue amount a.
- Each treatment path s has a **measured effect** L_s: on the cases that were on s and have a
  score, the cures observed (paid or settled, or open and back to 0 DPD) over the cures the
  model expected (Σ p): L_s = O_s / E_s. L_s = 1.2 means cases on s paid 20 % more often than
  their scores said. A path measured on fewer than ``min_cases`` cases, or a portfolio where no
  cure has been observed yet, gets L = 1 (the model alone), and the result says so.
- Each path costs the sum of its steps' unit action costs (:data:`ACTION_COSTS`, overridable).
- Under an assignment of paths, the expected amount collected is Σ min(1, p·L_path)·a and the
  cost Σ cost(path). The **current** strategy keeps every case on its path; the **proposed**
  one moves the cases on path ``from`` to ``to`` (``share`` % of them, chosen by their stable
  ``ab_bucket`` as a champion/challenger split would be; optionally only in one DPD bucket).
- **Uncertainty** by bootstrap: the measurement cases are resampled within each path
  (``replicates`` times, seeded) and L re-estimated; each replicate also adds the outcome
  noise of the open cases (normal with variance Σ p·L(1−p·L)·a²). The result gives the point
  value and the 2.5-97.5 % interval of each arm, and of the difference in expected collected
  amounts (from the effects' uncertainty: the same debtors' outcome noise is common to both).

**Champion/challenger readout** (:func:`challenger_readout`): the running split's cure rates
and collected amounts per arm with the challenger − champion difference and its 95 % interval,
from :func:`reports.metrics.strategy_arm_results`; "significant" when the interval excludes 0,
and, when it does not yet, how many cases per arm the observed difference would need (two-sided
5 %, power 80 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, Float, cast, func, select

import config
from casedb.models import OPEN_STATUSES, CasePropensity, CaseStatus, CollectionCase
from reports import metrics
from rules_service.case_facts import ab_bucket

# Unit cost of each treatment action (currency units; analysts override them per run).
ACTION_COSTS: dict[str, float] = {
    "sms_reminder": 0.1,
    "app_push": 0.02,
    "email_reminder": 0.05,
    "formal_letter": 8.0,
    "call": 4.0,
    "legal_review": 300.0,
    "field_visit": 120.0,
    "agency_placement": 0.0,
}
MIN_EFFECT_CASES = 30
DEFAULT_REPLICATES = 200
DEFAULT_SEED = 20051001
Z80 = 0.8416212335729143  # one-sided 80 % power
CURED = (CaseStatus.PAID.value, CaseStatus.SETTLED.value)


class SimulationError(ValueError):
    """Bad input for a simulation, in plain words with the numbers that fell short."""


# --- the inputs ----------------------------------------------------------------------------


@dataclass
class Portfolio:
    """Open cases: their path, propensity, overdue amount and champion/challenger bucket."""

    paths: list[str | None]
    propensity: np.ndarray
    amount: np.ndarray
    buckets: np.ndarray
    dpd_buckets: list[str]
    unscored: int = 0


@dataclass
class Measurements:
    """Cases whose outcome is known, per path: their scores and whether they cured."""

    by_path: dict[str, tuple[np.ndarray, np.ndarray]]


def load_portfolio(connection: Connection) -> Portfolio:
    """The open cases with a score (a case without one is counted and left out)."""
    cases, scores = CollectionCase.__table__, CasePropensity.__table__
    rows = connection.execute(
        select(
            cases.c.case_no,
            cases.c.strategy,
            cases.c.bucket,
            cast(
                cases.c.overdue_principal + cases.c.overdue_interest + cases.c.overdue_fees, Float
            ),
            scores.c.score,
        )
        .outerjoin(scores, scores.c.case_id == cases.c.id)
        .where(cases.c.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(cases.c.id)
    ).all()
    scored = [r for r in rows if r[4] is not None]
    if rows and not scored:
        raise SimulationError(
            f"none of the {len(rows)} open cases has a repayment-propensity score: run "
            "`python run.py model score` (after `model train`) first"
        )
    return Portfolio(
        [r[1] for r in scored],
        np.array([r[4] for r in scored], dtype=float),
        np.array([max(r[3] or 0.0, 0.0) for r in scored], dtype=float),
        np.array([ab_bucket(r[0]) for r in scored], dtype=int),
        [r[2] for r in scored],
        len(rows) - len(scored),
    )


def load_measurements(connection: Connection) -> Measurements:
    """Every case with a path and a score, cured or not (the effect of each path)."""
    cases, scores = CollectionCase.__table__, CasePropensity.__table__
    open_values = [s.value for s in OPEN_STATUSES]
    grouped: dict[str, tuple[list[float], list[int]]] = {}
    for strategy, status, dpd, score in connection.execute(
        select(cases.c.strategy, cases.c.status, cases.c.dpd, scores.c.score)
        .join(scores, scores.c.case_id == cases.c.id)
        .where(cases.c.strategy.is_not(None))
    ):
        status = str(getattr(status, "value", status))
        cured = status in CURED or (status in open_values and dpd <= 0)
        p, y = grouped.setdefault(strategy, ([], []))
        p.append(score)
        y.append(int(cured))
    return Measurements(
        {k: (np.array(p, dtype=float), np.array(y, dtype=int)) for k, (p, y) in grouped.items()}
    )


def path_costs(
    connection: Connection, costs: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Cost of each published treatment path: the unit costs of its steps' actions, summed."""
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from rules_service.treatment_paths import published_paths  # noqa: PLC0415

    unit = {**ACTION_COSTS, **(costs or {})}
    with Session(bind=connection) as session:
        paths = published_paths(session)
    return {
        name: float(sum(unit.get(step.action, 0.0) for step in path.document.steps))
        for name, path in paths.items()
    }


# --- the simulation ------------------------------------------------------------------------


@dataclass
class Effect:
    path: str
    cases: int
    observed: int
    expected: float
    lift: float
    measured: bool
    note: str | None = None


def measure_effects(
    measurements: Measurements, paths: set[str], min_cases: int = MIN_EFFECT_CASES
) -> tuple[dict[str, Effect], list[str]]:
    """L = observed / expected cures per path (1 where it cannot be measured), and notes."""
    notes: list[str] = []
    total_observed = sum(int(y.sum()) for _, y in measurements.by_path.values())
    effects: dict[str, Effect] = {}
    for path in sorted(paths):
        p, y = measurements.by_path.get(path, (np.array([]), np.array([], dtype=int)))
        n, observed, expected = len(y), int(y.sum()), float(p.sum())
        if total_observed == 0:
            effects[path] = Effect(path, n, observed, expected, 1.0, False)
        elif n < min_cases or expected <= 0:
            effects[path] = Effect(
                path,
                n,
                observed,
                expected,
                1.0,
                False,
                f"{path}: measured on {n} cases, fewer than {min_cases}: effect assumed 1.0",
            )
            notes.append(effects[path].note or "")
        else:
            effects[path] = Effect(path, n, observed, expected, observed / expected, True)
    if total_observed == 0:
        notes.append(
            "no cure has been observed yet on any path: treatment effects cannot be measured "
            "and are assumed 1.0 (the model's probability alone)"
        )
    return effects, notes


@dataclass
class ArmResult:
    collected: float
    collected_ci: tuple[float, float]
    cost: float
    net: float
    cases_by_path: dict[str, int]


@dataclass
class SimulationResult:
    cases: int
    moved: int
    unscored: int
    current: ArmResult
    proposed: ArmResult
    difference: float
    difference_ci: tuple[float, float]
    cost_difference: float
    effects: list[dict[str, Any]]
    path_costs: dict[str, float]
    notes: list[str] = field(default_factory=list)
    replicates: int = 0

    def as_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        found["current"] = self.current.__dict__
        found["proposed"] = self.proposed.__dict__
        return found

    def text(self) -> str:
        def arm(name: str, a: ArmResult) -> str:
            return (
                f"{name}: expected collected {a.collected:,.0f} "
                f"[{a.collected_ci[0]:,.0f}, {a.collected_ci[1]:,.0f}], cost {a.cost:,.0f}, "
                f"net {a.net:,.0f}"
            )

        lines = [
            f"{self.cases} open cases with a score ({self.unscored} without), {self.moved} moved",
            arm("current ", self.current),
            arm("proposed", self.proposed),
            f"difference: {self.difference:+,.0f} [{self.difference_ci[0]:+,.0f}, "
            f"{self.difference_ci[1]:+,.0f}], cost {self.cost_difference:+,.0f}",
            *self.notes,
        ]
        return "\n".join(lines)


def _assignment(
    portfolio: Portfolio,
    move_from: str,
    move_to: str,
    share: int,
    only_bucket: str | None,
) -> tuple[list[str | None], int]:
    proposed = list(portfolio.paths)
    moved = 0
    for i, path in enumerate(portfolio.paths):
        if path != move_from or portfolio.buckets[i] >= share:
            continue
        if only_bucket is not None and portfolio.dpd_buckets[i] != only_bucket:
            continue
        proposed[i] = move_to
        moved += 1
    return proposed, moved


def _expected(
    p: np.ndarray, amount: np.ndarray, paths: list[str | None], lifts: Mapping[str, float]
) -> tuple[float, float]:
    """Expected collected and its outcome variance under ``lifts``."""
    lift = np.array([lifts.get(path, 1.0) if path else 1.0 for path in paths])
    q = np.clip(p * lift, 0.0, 1.0)
    return float((q * amount).sum()), float((q * (1 - q) * amount**2).sum())


def simulate_change(
    portfolio: Portfolio,
    measurements: Measurements,
    costs: Mapping[str, float],
    move_from: str,
    move_to: str,
    share: int = 100,
    only_bucket: str | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    min_cases: int = MIN_EFFECT_CASES,
) -> SimulationResult:
    """Expected collected and cost of the current strategy and of moving ``share`` % of the
    cases on ``move_from`` to ``move_to``, with bootstrap intervals."""
    if not 0 < share <= 100:
        raise SimulationError(f"the share moved must be 1 to 100 %, not {share}")
    if move_from == move_to:
        raise SimulationError(f"moving cases from {move_from} to itself changes nothing")
    if move_to not in costs:
        raise SimulationError(
            f"no published treatment path {move_to!r}; the paths are: {', '.join(sorted(costs))}"
        )
    on_path = sum(1 for p in portfolio.paths if p == move_from)
    if on_path == 0:
        counts = {p: portfolio.paths.count(p) for p in set(portfolio.paths) if p}
        listed = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        raise SimulationError(
            f"no open scored case is on path {move_from!r} (cases per path: {listed})"
        )
    proposed, moved = _assignment(portfolio, move_from, move_to, share, only_bucket)
    if moved == 0:
        raise SimulationError(
            f"the change moves no case: {on_path} cases are on {move_from}, none of them "
            f"{'in bucket ' + only_bucket + ' and ' if only_bucket else ''}within {share} %"
        )
    paths = {p for p in portfolio.paths if p} | {move_to}
    effects, notes = measure_effects(measurements, paths, min_cases)
    lifts = {k: e.lift for k, e in effects.items()}
    current_point, _ = _expected(portfolio.propensity, portfolio.amount, portfolio.paths, lifts)
    proposed_point, _ = _expected(portfolio.propensity, portfolio.amount, proposed, lifts)
    rng = np.random.default_rng(seed)
    draws = np.empty((replicates, 2))
    expected_difference = np.empty(replicates)
    for r in range(replicates):
        resampled = {}
        for path, effect in effects.items():
            if not effect.measured:
                resampled[path] = 1.0
                continue
            p, y = measurements.by_path[path]
            pick = rng.integers(0, len(y), len(y))
            expected = float(p[pick].sum())
            resampled[path] = float(y[pick].sum()) / expected if expected > 0 else 1.0
        current, cv = _expected(portfolio.propensity, portfolio.amount, portfolio.paths, resampled)
        new, nv = _expected(portfolio.propensity, portfolio.amount, proposed, resampled)
        noise = rng.normal(0.0, 1.0, 2)
        draws[r] = (current + noise[0] * math.sqrt(cv), new + noise[1] * math.sqrt(nv))
        expected_difference[r] = new - current
    difference = expected_difference

    def interval(values: np.ndarray) -> tuple[float, float]:
        return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))

    def cost(assignment: list[str | None]) -> float:
        return float(sum(costs.get(path, 0.0) for path in assignment if path))

    def count(assignment: list[str | None]) -> dict[str, int]:
        found: dict[str, int] = {}
        for path in assignment:
            found[path or "-"] = found.get(path or "-", 0) + 1
        return dict(sorted(found.items()))

    current_cost, proposed_cost = cost(portfolio.paths), cost(proposed)
    missing_costs = sorted({p for p in paths if p not in costs})
    if missing_costs:
        notes.append(f"no published path (cost 0 assumed): {', '.join(missing_costs)}")
    return SimulationResult(
        cases=len(portfolio.paths),
        moved=moved,
        unscored=portfolio.unscored,
        current=ArmResult(
            current_point,
            interval(draws[:, 0]),
            current_cost,
            current_point - current_cost,
            count(portfolio.paths),
        ),
        proposed=ArmResult(
            proposed_point,
            interval(draws[:, 1]),
            proposed_cost,
            proposed_point - proposed_cost,
            count(proposed),
        ),
        difference=proposed_point - current_point,
        difference_ci=interval(difference),
        cost_difference=proposed_cost - current_cost,
        effects=[e.__dict__ for e in effects.values()],
        path_costs=dict(costs),
        notes=[n for n in notes if n],
        replicates=replicates,
    )


def simulate(
    connection: Connection,
    move_from: str,
    move_to: str,
    share: int = 100,
    only_bucket: str | None = None,
    costs: Mapping[str, float] | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
) -> SimulationResult:
    """:func:`simulate_change` over the open portfolio in the database."""
    portfolio = load_portfolio(connection)
    if not portfolio.paths:
        raise SimulationError("there is no open case to simulate over")
    return simulate_change(
        portfolio,
        load_measurements(connection),
        path_costs(connection, costs),
        move_from,
        move_to,
        share,
        only_bucket,
        replicates,
        seed,
    )


# --- champion / challenger readout ---------------------------------------------------------


@dataclass
class Readout:
    arms: list[dict[str, Any]]
    cure_rate_difference: float | None
    cure_rate_ci: tuple[float, float] | None
    cure_significant: bool
    collected_difference: float | None
    collected_ci: tuple[float, float] | None
    collected_significant: bool
    cases_needed_per_arm: int | None
    verdict: str
    start: date
    end: date
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def cases_needed(p1: float, p2: float) -> int | None:
    """Cases per arm to detect p2 − p1 (two-sided 5 %, power 80 %); None for no difference."""
    difference = abs(p2 - p1)
    if difference == 0:
        return None
    variance = p1 * (1 - p1) + p2 * (1 - p2)
    return math.ceil((metrics.Z95 + Z80) ** 2 * variance / difference**2)


def _local_day(moment: datetime) -> date:
    """The day of an instant in ``config.DEFAULT_TIMEZONE`` (SQLite returns aggregates naive,
    in UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(config.DEFAULT_TIMEZONE)).date()


def challenger_readout(
    connection: Connection,
    start: date | None = None,
    end: date | None = None,
    champion: str = "champion",
    challenger: str = "challenger",
) -> Readout:
    """The running champion/challenger split (default period: from the earlier of the first
    strategy decision and the business date to the later of the last one and the business
    date)."""
    from casedb.models import RuleDecision  # noqa: PLC0415

    today = metrics.business_date(connection)
    first, last = connection.execute(
        select(func.min(RuleDecision.decided_at), func.max(RuleDecision.decided_at)).where(
            RuleDecision.kind == "strategy"
        )
    ).one()
    if start is None:
        start = min(_local_day(first), today) if first is not None else today
    if end is None:
        # A demo's business date may lie years before the decisions were taken.
        end = max(_local_day(last), today) if last is not None else today
    arms = metrics.strategy_arm_results(connection, metrics.Scope(start, end), champion, challenger)
    rows = [a.__dict__ for a in arms.arms]
    cure_sig = bool(arms.cure_rate_ci and (arms.cure_rate_ci[0] > 0 or arms.cure_rate_ci[1] < 0))
    collected_sig = bool(
        arms.collected_ci and (arms.collected_ci[0] > 0 or arms.collected_ci[1] < 0)
    )
    by_arm = {a.arm: a for a in arms.arms}
    needed = None
    if champion in by_arm and challenger in by_arm:
        needed = cases_needed(
            by_arm[champion].cure_rate or 0.0, by_arm[challenger].cure_rate or 0.0
        )
    if arms.cure_rate_difference is None:
        verdict = f"no readout yet: {arms.note or 'no arm has cases'}"
    elif cure_sig or collected_sig:
        what = " and ".join(
            name for name, flag in (("cure rate", cure_sig), ("collected", collected_sig)) if flag
        )
        better = "challenger" if (arms.cure_rate_difference or 0) > 0 else "champion"
        verdict = f"significant ({what}): the {better} does better at the 5 % level"
    else:
        smallest = min(by_arm[champion].cases, by_arm[challenger].cases)
        verdict = "not significant yet: the 95 % interval still includes 0"
        if needed is not None:
            verdict += (
                f"; at the difference seen so far about {needed} cases per arm are needed "
                f"(the smaller arm has {smallest})"
            )
    return Readout(
        rows,
        arms.cure_rate_difference,
        arms.cure_rate_ci,
        cure_sig,
        arms.collected_difference,
        arms.collected_ci,
        collected_sig,
        needed,
        verdict,
        start,
        end,
        arms.note,
    )
