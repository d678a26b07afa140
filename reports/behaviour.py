"""Repayment behaviour patterns (还款行为分析), each figure with the sample it stands on.

- **Payday effect**: payments by day of the month and by weekday, in the debtor's local time
  (``customer.timezone``, else ``config.DEFAULT_TIMEZONE``). Each day is divided by how often it
  occurred in the period (there are fewer 31sts than 10ths), so the *index* of a day is its
  payments per calendar occurrence over the average day's: 1.0 is no effect, 2.0 twice the
  usual. A chi-square test against "every calendar day alike" says whether the pattern is more
  than noise (``p_value``). Payments whose day is unknown — the UCI portfolio's monthly totals,
  dated at the month end (channel ``uci_monthly_total``) — are left out and counted.
- **By hour of contact, by channel, and outcome rates by time window**: for every logged
  contact, whether it reached the debtor (right-party contact), brought a promise to pay, and
  was followed by a payment on the case's loan within ``attribution_days``; by local hour, by
  channel, and by time window (morning, midday, afternoon, evening, outside the day).
- **Strategy and treatment-step effectiveness**: per strategy (treatment path) the cases, how
  many are cured (paid or settled, or open and back to 0 DPD) with the cure rate and its 95 %
  Wilson interval, the money collected since the case opened, the actions taken and the amount
  per action; per step of each path (task done or message sent), the actions, the share
  followed by a payment within ``attribution_days``, the amount collected in that window per
  action, and the cure rate of the cases it was taken on.

Plain SQLAlchemy Core on a ``Connection``; no Flask. The tables the console and the workbook
show come from :func:`behaviour_tables`.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Float, and_, cast, or_, select

import config
from casedb.models import (
    OPEN_STATUSES,
    CaseStatus,
    CaseTask,
    CollectionCase,
    ContactAttempt,
    Customer,
    Loan,
    OutboundMessage,
    Party,
    RepaymentTransaction,
    TaskStatus,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES, Outcome

# Payments dated by convention rather than when they happened (the day is unknown).
UNDATED_CHANNELS = ("uci_monthly_total",)
DEFAULT_ATTRIBUTION_DAYS = 7
Z95 = 1.959963984540054
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Local time windows of the day: (name, first hour, last hour + 1).
WINDOWS = (
    ("08-12", 8, 12),
    ("12-14", 12, 14),
    ("14-18", 14, 18),
    ("18-21", 18, 21),
    ("other", 21, 32),  # 21:00-08:00
)
RPC = frozenset(o.value for o in RIGHT_PARTY_OUTCOMES)
CURED = (CaseStatus.PAID.value, CaseStatus.SETTLED.value)


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of a proportion (None without a sample)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or config.DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(config.DEFAULT_TIMEZONE)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _window(hour: int) -> str:
    for name, first, last in WINDOWS:
        if first <= hour < last or first <= hour + 24 < last:
            return name
    return "other"


# --- payday effect -------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFigure:
    key: int | str
    payments: int
    amount: float
    occurrences: int
    per_occurrence: float | None
    index: float | None


@dataclass
class PaydayEffect:
    payments: int
    amount: float
    first_day: date | None
    last_day: date | None
    by_day: list[DayFigure]
    by_weekday: list[DayFigure]
    chi2: float | None
    p_value: float | None
    weekday_chi2: float | None
    weekday_p_value: float | None
    peak_days: list[int]
    excluded_undated: int
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        found["by_day"] = [d.__dict__ for d in self.by_day]
        found["by_weekday"] = [d.__dict__ for d in self.by_weekday]
        return found


def _chi2(observed: list[int], weights: list[int]) -> tuple[float | None, float | None]:
    """Chi-square of ``observed`` against counts proportional to ``weights``, and its p-value."""
    from scipy.stats import chi2 as chi2_distribution  # noqa: PLC0415

    total, weight = sum(observed), sum(weights)
    cells = [(o, total * w / weight) for o, w in zip(observed, weights, strict=True) if w > 0]
    if total == 0 or len(cells) < 2:
        return None, None
    statistic = sum((o - e) ** 2 / e for o, e in cells)
    return float(statistic), float(chi2_distribution.sf(statistic, len(cells) - 1))


def payday_effect(
    connection: Connection, start: date | None = None, end: date | None = None
) -> PaydayEffect:
    """Payments by local day of the month and weekday over ``start``..``end`` (all by
    default), per calendar occurrence of each day, with a chi-square test of uniformity."""
    payments, loans, customers = (
        RepaymentTransaction.__table__,
        Loan.__table__,
        Customer.__table__,
    )
    undated = payments.c.channel.in_(UNDATED_CHANNELS)
    query = (
        select(
            payments.c.paid_at,
            cast(payments.c.amount, Float),
            customers.c.timezone,
            undated.label("undated"),
        )
        .join(loans, loans.c.id == payments.c.loan_id)
        .join(customers, customers.c.id == loans.c.customer_id)
    )
    if start is not None:
        query = query.where(
            payments.c.paid_at
            >= datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=1)
        )
    if end is not None:
        query = query.where(
            payments.c.paid_at < datetime.combine(end + timedelta(days=2), datetime.min.time(), UTC)
        )
    days: list[int] = [0] * 32
    day_amounts: list[float] = [0.0] * 32
    weekdays: list[int] = [0] * 7
    weekday_amounts: list[float] = [0.0] * 7
    excluded = 0
    first = last = None
    count, total = 0, 0.0
    for paid_at, amount, zone, is_undated in connection.execute(query):
        if is_undated:
            excluded += 1
            continue
        local = _utc(paid_at).astimezone(_zone(zone)).date()
        if (start is not None and local < start) or (end is not None and local > end):
            continue
        days[local.day] += 1
        day_amounts[local.day] += amount or 0.0
        weekdays[local.weekday()] += 1
        weekday_amounts[local.weekday()] += amount or 0.0
        first = local if first is None or local < first else first
        last = local if last is None or local > last else last
        count += 1
        total += amount or 0.0
    if count == 0:
        note = "no payment with a known day in the period"
        if excluded:
            note += f" ({excluded} monthly totals with no day were left out)"
        return PaydayEffect(0, 0.0, None, None, [], [], None, None, None, None, [], excluded, note)
    span_start, span_end = start or first, end or last
    day_occurrences = [0] * 32
    weekday_occurrences = [0] * 7
    day = span_start
    while day <= span_end:
        day_occurrences[day.day] += 1
        weekday_occurrences[day.weekday()] += 1
        day += timedelta(days=1)
    average = count / sum(day_occurrences)
    by_day = [
        _figure(d, days[d], day_amounts[d], day_occurrences[d], average) for d in range(1, 32)
    ]
    by_weekday = [
        _figure(WEEKDAYS[w], weekdays[w], weekday_amounts[w], weekday_occurrences[w], average)
        for w in range(7)
    ]
    chi2, p_value = _chi2(days[1:], day_occurrences[1:])
    w_chi2, w_p = _chi2(weekdays, weekday_occurrences)
    ranked = sorted(
        (f for f in by_day if f.index is not None), key=lambda f: f.index or 0, reverse=True
    )
    return PaydayEffect(
        count,
        total,
        first,
        last,
        by_day,
        by_weekday,
        chi2,
        p_value,
        w_chi2,
        w_p,
        [int(f.key) for f in ranked[:3]],
        excluded,
    )


def _figure(key: int | str, n: int, amount: float, occurrences: int, average: float) -> DayFigure:
    per = n / occurrences if occurrences else None
    return DayFigure(
        key, n, amount, occurrences, per, per / average if per is not None and average else None
    )


# --- contacts: by hour, channel and time window --------------------------------------------


@dataclass
class ContactGroup:
    key: Any
    contacts: int = 0
    rpc: int = 0
    promises: int = 0
    paid: int = 0
    collected: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, rpc: bool, promise: bool, paid: float | None, outcome: str) -> None:
        self.contacts += 1
        self.rpc += rpc
        self.promises += promise
        if paid is not None:
            self.paid += 1
            self.collected += paid
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def rates(self) -> dict[str, Any]:
        n = self.contacts
        return {
            "key": self.key,
            "contacts": n,
            "rpc": self.rpc,
            "rpc_rate": self.rpc / n if n else None,
            "promises": self.promises,
            "promise_rate": self.promises / n if n else None,
            "paid": self.paid,
            "paid_rate": self.paid / n if n else None,
            "paid_rate_ci": wilson(self.paid, n),
            "collected": self.collected,
            "collected_per_contact": self.collected / n if n else None,
            "outcomes": dict(sorted(self.outcomes.items(), key=lambda kv: -kv[1])),
        }


@dataclass
class ContactPatterns:
    contacts: int
    attribution_days: int
    by_hour: list[dict[str, Any]]
    by_channel: list[dict[str, Any]]
    by_window: list[dict[str, Any]]
    excluded_undated: int
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Payments:
    """Dated payments per loan, for "paid within N days after" lookups."""

    def __init__(self, connection: Connection, loan_ids: Iterable[int]) -> None:
        self.times: dict[int, list[datetime]] = defaultdict(list)
        self.cumulative: dict[int, list[float]] = defaultdict(list)
        self.undated = 0
        wanted = sorted(set(loan_ids))
        payments = RepaymentTransaction.__table__
        for start in range(0, len(wanted), 5000):
            part = wanted[start : start + 5000]
            for loan_id, paid_at, amount, channel in connection.execute(
                select(
                    payments.c.loan_id,
                    payments.c.paid_at,
                    cast(payments.c.amount, Float),
                    payments.c.channel,
                )
                .where(payments.c.loan_id.in_(part))
                .order_by(payments.c.loan_id, payments.c.paid_at, payments.c.id)
            ):
                if channel in UNDATED_CHANNELS:
                    self.undated += 1
                    continue
                running = self.cumulative[loan_id]
                self.times[loan_id].append(_utc(paid_at))
                running.append((running[-1] if running else 0.0) + (amount or 0.0))

    def within(self, loan_id: int, after: datetime, days: int) -> float | None:
        """Money paid on the loan in (after, after + days]; None when nothing was."""
        times = self.times.get(loan_id)
        if not times:
            return None
        low = bisect.bisect_right(times, after)
        high = bisect.bisect_right(times, after + timedelta(days=days))
        if high <= low:
            return None
        running = self.cumulative[loan_id]
        return running[high - 1] - (running[low - 1] if low else 0.0)


def contact_patterns(
    connection: Connection,
    start: date | None = None,
    end: date | None = None,
    attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
) -> ContactPatterns:
    """Contacts by local hour, channel and time window: reach (RPC), promises and payments
    within ``attribution_days`` after, each group with its number of contacts."""
    contacts, cases = ContactAttempt.__table__, CollectionCase.__table__
    customers = Customer.__table__
    query = (
        select(
            contacts.c.started_at,
            contacts.c.local_timezone,
            customers.c.timezone,
            contacts.c.channel,
            contacts.c.outcome,
            contacts.c.party,
            cases.c.loan_id,
        )
        .join(cases, cases.c.id == contacts.c.case_id)
        .join(customers, customers.c.id == contacts.c.customer_id)
    )
    if start is not None:
        query = query.where(
            contacts.c.started_at >= datetime.combine(start, datetime.min.time(), UTC)
        )
    if end is not None:
        query = query.where(
            contacts.c.started_at
            < datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
        )
    rows = connection.execute(query).all()
    paid = _Payments(connection, (row.loan_id for row in rows))
    hours = {h: ContactGroup(h) for h in range(24)}
    channels: dict[str, ContactGroup] = {}
    windows = {name: ContactGroup(name) for name, _, _ in WINDOWS}
    for row in rows:
        started = _utc(row.started_at)
        local = started.astimezone(_zone(row.local_timezone or row.timezone))
        outcome = str(getattr(row.outcome, "value", row.outcome))
        party = str(getattr(row.party, "value", row.party))
        channel = str(getattr(row.channel, "value", row.channel))
        rpc = party == Party.DEBTOR.value and outcome in RPC
        promise = outcome == Outcome.PROMISE_TO_PAY.value
        amount = paid.within(row.loan_id, started, attribution_days)
        for group in (
            hours[local.hour],
            channels.setdefault(channel, ContactGroup(channel)),
            windows[_window(local.hour)],
        ):
            group.add(rpc, promise, amount, outcome)
    note = None if rows else "no contact logged in the period"
    return ContactPatterns(
        len(rows),
        attribution_days,
        [g.rates() for g in hours.values()],
        [g.rates() for g in sorted(channels.values(), key=lambda g: -g.contacts)],
        [g.rates() for g in windows.values()],
        paid.undated,
        note,
    )


# --- strategies and treatment steps --------------------------------------------------------


@dataclass
class Effectiveness:
    attribution_days: int
    strategies: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def strategy_effectiveness(connection: Connection, attribution_days: int = 14) -> Effectiveness:
    """Per strategy and per treatment step: sample sizes, cure rates (Wilson 95 %), money
    collected and collected per action."""
    cases = CollectionCase.__table__
    case_rows = {
        row.id: row
        for row in connection.execute(
            select(
                cases.c.id,
                cases.c.loan_id,
                cases.c.strategy,
                cases.c.status,
                cases.c.dpd,
                cases.c.opened_on,
            ).where(cases.c.strategy.is_not(None))
        )
    }
    open_values = {s.value for s in OPEN_STATUSES}

    def cured(row: Any) -> bool:
        status = str(getattr(row.status, "value", row.status))
        return status in CURED or (status in open_values and row.dpd <= 0)

    tasks, messages = CaseTask.__table__, OutboundMessage.__table__
    actions = connection.execute(
        select(
            tasks.c.case_id,
            tasks.c.path,
            tasks.c.step,
            tasks.c.action,
            tasks.c.done_at,
            messages.c.sent_at,
        )
        .outerjoin(messages, messages.c.task_id == tasks.c.id)
        .where(
            or_(
                tasks.c.status == TaskStatus.DONE.value,
                and_(messages.c.sent_at.is_not(None)),
            )
        )
    ).all()
    loans = {row.loan_id for row in case_rows.values()}
    loans |= {
        loan
        for (loan,) in connection.execute(
            select(cases.c.loan_id).where(cases.c.id.in_({a.case_id for a in actions} or {-1}))
        )
    }
    paid = _Payments(connection, loans)
    loan_of = dict(connection.execute(select(cases.c.id, cases.c.loan_id)).all()) if actions else {}
    strategies: dict[str, dict[str, Any]] = {}
    for row in case_rows.values():
        group = strategies.setdefault(
            row.strategy,
            {"strategy": row.strategy, "cases": 0, "cured": 0, "collected": 0.0, "actions": 0},
        )
        group["cases"] += 1
        group["cured"] += cured(row)
        opened = datetime.combine(row.opened_on, datetime.min.time(), UTC) - timedelta(seconds=1)
        group["collected"] += paid.within(row.loan_id, opened, 36500) or 0.0
    steps: dict[tuple[str, str, str], dict[str, Any]] = {}
    for action in actions:
        when = action.done_at or action.sent_at
        if when is None:
            continue
        key = (action.path, action.step, action.action)
        group = steps.setdefault(
            key,
            {
                "path": action.path,
                "step": action.step,
                "action": action.action,
                "actions": 0,
                "cases": set(),
                "paid": 0,
                "collected": 0.0,
            },
        )
        group["actions"] += 1
        group["cases"].add(action.case_id)
        amount = paid.within(loan_of.get(action.case_id, -1), _utc(when), attribution_days)
        if amount is not None:
            group["paid"] += 1
            group["collected"] += amount
        case_row = case_rows.get(action.case_id)
        if case_row is not None and case_row.strategy in strategies:
            strategies[case_row.strategy]["actions"] += 1
    strategy_rows = []
    for group in sorted(strategies.values(), key=lambda g: g["strategy"]):
        n, k = group["cases"], group["cured"]
        strategy_rows.append(
            {
                **group,
                "cure_rate": k / n if n else None,
                "cure_rate_ci": wilson(k, n),
                "collected_per_case": group["collected"] / n if n else None,
                "collected_per_action": group["collected"] / group["actions"]
                if group["actions"]
                else None,
            }
        )
    step_rows = []
    for group in sorted(steps.values(), key=lambda g: (g["path"], g["step"])):
        case_ids = group.pop("cases")
        cured_cases = sum(1 for c in case_ids if c in case_rows and cured(case_rows[c]))
        n = group["actions"]
        step_rows.append(
            {
                **group,
                "cases": len(case_ids),
                "paid_rate": group["paid"] / n if n else None,
                "paid_rate_ci": wilson(group["paid"], n),
                "collected_per_action": group["collected"] / n if n else None,
                "cured_cases": cured_cases,
                "cure_rate": cured_cases / len(case_ids) if case_ids else None,
            }
        )
    note = (
        None if strategy_rows or step_rows else "no case has a strategy or a treatment action yet"
    )
    return Effectiveness(attribution_days, strategy_rows, step_rows, note)
