"""Collection metrics (催收指标): one function per metric, one definition each, with its formula.

Every metric takes a SQLAlchemy ``Connection`` and a :class:`Scope` — a period (``start`` to
``end``, both included) and optional team, collector, product and region filters — and returns a
small frozen dataclass with ``as_dict()`` (JSON-able: dates as ISO text, amounts and rates as
numbers). Plain SQLAlchemy Core, no Flask: the console, the RQ report jobs and the benchmark
call the same functions.

Where the numbers come from
---------------------------
From the daily snapshots (``casedb.models.snapshots``, written by ``reports.snapshots``), so a
trend is what each day really was, not today's cases re-dated:

- a day before the business date is its stored snapshot;
- the business date itself (the day still going on) is read live from the tables with the
  snapshot's own sums (``reports.snapshots.live_selects``): its stocks as they stand, its flows
  since the last snapshot — numbers move as facts change, no nightly batch;
- **stocks** ("as of the end of the period") are those of the last snapshot day in the period;
  **flows** ("over the period") add up the snapshot days in the period (each snapshot's flows
  cover the days since the one before it);
- a flow is counted for the team and collector that held the case on the day of the snapshot
  that counts it; stocks and flows of months rebuilt from monthly statements have no team or
  collector (not known), so a team or collector filter leaves them out.

Exceptions, read from the tables because snapshots cannot hold them: roll and cure rates read
the monthly statements (one row per account and month), and champion/challenger results read
the strategy decisions per case; both filter teams and collectors by today's assignment.

An empty period, or filters that match nothing, give a well-formed result whose figures are
zero or ``None`` (a rate with nothing to divide by) and whose ``note`` says why — never an
exception, never a division by zero.

Definitions (D = the last snapshot day in the period, "period" = the snapshot days in it):

- overdue rate (逾期率): by count = accounts in a bucket past M0 on D / accounts in the book on
  D; by balance = balance of those accounts / balance of all accounts on D.
- DPD bucket aging (账龄分布): accounts, balance, open cases and overdue amount per bucket on D.
- recovery rate (回收率): money collected over the period on loans under collection / overdue
  amount at entry of the cases worked in the period (still open on D, or closed during it).
- average collection cycle (平均催收周期): Σ (closed_on − opened_on) / cases closed, over the
  cases closed in the period; the average age of the cases still open on D beside it.
- roll rate (迁徙率): share of accounts (or balance) in bucket i at the end of one month found in
  bucket j at the end of the next; cure rate (回滚率): j = M0 from a delinquent i.
- promise-kept rate (承诺兑现率): promises kept / promises resolved (kept, partly kept, broken)
  in the period.
- right-party-contact rate (有效联系率): dials (calls and visits) that reached the debtor
  themself / dials, in the period.
- contacts per case: contacts in the period / average number of open cases over its days.
- collected per collector / per team, collector league table, alerts by kind and blocked
  contacts by rule: sums of the period's flows.
- strategy arm results: per champion/challenger arm, cure rate and money collected per case,
  and the challenger − champion differences with 95 % confidence intervals.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.types import String

from casedb.delinquency import bucket_labels
from casedb.models import (
    OPEN_STATUSES,
    Alert,
    AuditEntry,
    CaseStatus,
    ChangeEvent,
    CollectionCase,
    Collector,
    ComplianceCheck,
    ContactAttempt,
    Customer,
    ImportBatch,
    Loan,
    MonthlyStatement,
    PortfolioEventCount,
    PortfolioSnapshot,
    PortfolioSnapshotRun,
    PromiseToPay,
    RepaymentTransaction,
    RuleDecision,
    Team,
)
from reports.snapshots import (
    Filters,
    Window,
    business_date,
    event_count_selects,
    grain_for,
    live_selects,
    local_midnight,
    month_end,
    snapshot_dates,
)

# Two-sided 95 % normal quantile.
Z95 = 1.959963984540054
CURRENT = "M0"
UNASSIGNED = None
# Case statuses that count as cured when the case closed in the period.
CURED_STATUSES = (CaseStatus.PAID.value, CaseStatus.SETTLED.value)


# --- scope and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A period (``start`` to ``end``, both included) and the filters; ``team_ids`` restricts to
    a set of teams (a supervisor's own) beside the one ``team_id`` chosen."""

    start: date
    end: date
    team_id: int | None = None
    collector_id: int | None = None
    product: str | None = None
    region: str | None = None
    team_ids: tuple[int, ...] | None = None

    @property
    def filters(self) -> Filters:
        return Filters(self.team_id, self.collector_id, self.product, self.region, self.team_ids)

    def key(self) -> str:
        """A stable text of the scope (cache keys, file names)."""
        parts = [f"{self.start.isoformat()}..{self.end.isoformat()}"]
        for name in ("team_id", "collector_id", "product", "region"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if self.team_ids is not None:
            parts.append("team_ids=" + ",".join(str(t) for t in sorted(self.team_ids)))
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    return value


class _Result:
    def as_dict(self) -> dict[str, Any]:
        return _jsonable({f.name: getattr(self, f.name) for f in fields(self)})  # type: ignore[arg-type]


def ratio(numerator: Any, denominator: Any) -> float | None:
    """``numerator / denominator`` as a float; None when there is nothing to divide by."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


# --- reading snapshots -----------------------------------------------------------------------


class _Reader:
    """The snapshot days of a scope and sums over them (stored days and the live business day)."""

    def __init__(self, connection: Connection, scope: Scope) -> None:
        self.connection = connection
        self.scope = scope
        self.dialect = connection.dialect.name
        self.today = business_date(connection)
        self.snapshots = snapshot_dates(connection)
        self.stored = [
            d for d in self.snapshots if scope.start <= d <= scope.end and d < self.today
        ]
        self.live = scope.start <= self.today <= scope.end
        self.live_since = max((d for d in self.snapshots if d < self.today), default=None)
        self.days = [*self.stored, *([self.today] if self.live else [])]

    @property
    def last(self) -> date | None:
        return self.days[-1] if self.days else None

    def empty_note(self) -> str:
        scope = self.scope
        if scope.start > scope.end:
            return f"the period is empty: it starts ({scope.start}) after it ends ({scope.end})"
        if scope.start > self.today:
            return f"the period starts after the business date ({self.today}): no data yet"
        first = self.snapshots[0] if self.snapshots else None
        if first is None:
            return f"no snapshot before the business date ({self.today}) and the period ends first"
        return (
            f"no snapshot in {scope.start}..{scope.end} (snapshots from {first}; business "
            f"date {self.today})"
        )

    def sums(
        self,
        measures: Sequence[str],
        by: Sequence[str] = (),
        days: Iterable[date] | None = None,
        per_day: bool = False,
    ) -> dict[tuple, dict[str, Any]]:
        """``{key: {measure: sum}}`` over ``days`` (default: the period's), the key being the
        ``by`` dimensions' values (preceded by the day if ``per_day``)."""
        wanted = sorted(set(self.days if days is None else days))
        stored = [d for d in wanted if d < self.today and d in self.snapshots]
        found: dict[tuple, dict[str, Any]] = {}
        rows: list[Any] = []
        if stored:
            table = PortfolioSnapshot.__table__
            keys = [table.c[d] for d in by]
            if per_day:
                keys.insert(0, table.c.as_of)
            grain = grain_for(by, self.scope.filters)
            query = (
                select(*keys, *(func.sum(table.c[m]).label(m) for m in measures))
                .where(
                    table.c.grain == grain,
                    table.c.as_of.in_(stored),
                    *self._stored_filters(table),
                )
                .group_by(*keys)
            )
            rows += self.connection.execute(query).all()
        parts: list[tuple[Sequence[str], list[Any]]] = [(measures, rows)]
        if self.today in wanted:
            for query, summed in live_selects(
                self.dialect,
                self.today,
                Window(self.live_since, None),
                filters=self.scope.filters,
                measures=measures,
                group_by=by,
            ):
                live = query.subquery("live")
                keys = [live.c[d] for d in by]
                if per_day:
                    keys.insert(0, live.c.as_of)
                parts.append(
                    (
                        summed,
                        self.connection.execute(select(*keys, *(live.c[m] for m in summed))).all(),
                    )
                )
        width = len(by) + (1 if per_day else 0)
        for summed, part in parts:
            for row in part:
                key = tuple(row[:width])
                if per_day and not isinstance(key[0], date):
                    key = (date.fromisoformat(str(key[0])[:10]), *key[1:])
                values = found.setdefault(key, {})
                for measure, value in zip(summed, row[width:], strict=True):
                    values[measure] = _add(values.get(measure), value)
        return found

    def counts(self, measure: str, days: Iterable[date] | None = None) -> dict[str, int]:
        """Event counts of ``measure`` ("alert", "blocked") by key over ``days``."""
        wanted = sorted(set(self.days if days is None else days))
        stored = [d for d in wanted if d < self.today and d in self.snapshots]
        found: dict[str, int] = {}
        rows: list[Any] = []
        if stored:
            table = PortfolioEventCount.__table__
            rows += self.connection.execute(
                select(table.c.key, func.sum(table.c.count))
                .where(
                    table.c.as_of.in_(stored),
                    table.c.measure == measure,
                    *self._stored_filters(table),
                )
                .group_by(table.c.key)
            ).all()
        if self.today in wanted:
            for query in event_count_selects(
                self.today,
                Window(self.live_since, None),
                filters=self.scope.filters,
                group_by=(),
                measures=[measure],
            ):
                live = query.subquery("live")
                rows += self.connection.execute(select(live.c.key, live.c.count)).all()
        for key, count in rows:
            found[key] = found.get(key, 0) + int(count or 0)
        return found

    def _stored_filters(self, table: Any) -> list[Any]:
        scope = self.scope
        conditions = []
        if scope.team_id is not None:
            conditions.append(table.c.team_id == scope.team_id)
        if scope.team_ids is not None:
            conditions.append(table.c.team_id.in_(scope.team_ids or (-1,)))
        if scope.collector_id is not None:
            conditions.append(table.c.collector_id == scope.collector_id)
        if scope.product is not None:
            conditions.append(table.c.product == scope.product)
        if scope.region is not None:
            conditions.append(table.c.region == scope.region)
        return conditions


def _names(connection: Connection, model: Any, ids: Iterable[Any]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    table = model.__table__
    query = select(table.c.id, table.c.name).where(table.c.id.in_(wanted))
    return {row.id: row.name for row in connection.execute(query)}


def _buckets(found: Iterable[str]) -> list[str]:
    """The configured buckets in order, then any other bucket seen (edges changed since)."""
    labels = bucket_labels()
    return labels + sorted({b for b in found if b not in labels})


# --- overdue rate and its trend --------------------------------------------------------------


@dataclass(frozen=True)
class OverdueRate(_Result):
    """Overdue rate on ``as_of`` (the last snapshot day of the period)."""

    scope: Scope
    as_of: date | None
    accounts: int
    overdue_accounts: int
    balance: Decimal
    overdue_balance: Decimal
    # Sum of the open cases' overdue amounts (None: not known, a month rebuilt from statements).
    overdue_amount: Decimal | None
    by_count: float | None
    by_balance: float | None
    note: str | None = None


def _overdue(as_of: date | None, scope: Scope, rows: Mapping[tuple, Mapping[str, Any]]) -> Any:
    accounts = overdue_accounts = 0
    balance = overdue_balance = Decimal(0)
    overdue_amount: Decimal | None = None
    for (bucket, *_), values in rows.items():
        n, money = int(values.get("accounts") or 0), values.get("balance") or Decimal(0)
        accounts += n
        balance += money
        if bucket != CURRENT:
            overdue_accounts += n
            overdue_balance += money
        overdue_amount = _add(overdue_amount, values.get("overdue_amount"))
    note = None if accounts else f"no account in the scope on {as_of}"
    return OverdueRate(
        scope,
        as_of,
        accounts,
        overdue_accounts,
        balance,
        overdue_balance,
        overdue_amount,
        ratio(overdue_accounts, accounts),
        ratio(overdue_balance, balance),
        note,
    )


def overdue_rate(connection: Connection, scope: Scope) -> OverdueRate:
    """Overdue rate (逾期率) on the last snapshot day D of the period.

    by_count = Σ accounts in buckets past M0 / Σ accounts in the book;
    by_balance = Σ balance of those accounts / Σ balance of the book (all on D). An account is a
    loan in the book (active, or with an open case); its bucket is its open case's (M0 without
    one); its balance its open case's outstanding balance, else the loan's. Under a team or
    collector filter the book is that team's or collector's cases.
    """
    reader = _Reader(connection, scope)
    if reader.last is None:
        return OverdueRate(
            scope, None, 0, 0, Decimal(0), Decimal(0), None, None, None, reader.empty_note()
        )
    rows = reader.sums(
        ("accounts", "balance", "overdue_amount"), by=("bucket",), days=[reader.last]
    )
    return _overdue(reader.last, scope, rows)


@dataclass(frozen=True)
class TrendPoint:
    as_of: date
    accounts: int
    overdue_accounts: int
    by_count: float | None
    by_balance: float | None


@dataclass(frozen=True)
class OverdueTrend(_Result):
    scope: Scope
    points: tuple[TrendPoint, ...]
    note: str | None = None


def overdue_rate_trend(connection: Connection, scope: Scope) -> OverdueTrend:
    """The overdue rate (by count and by balance, as :func:`overdue_rate`) of every snapshot day
    in the period, oldest first: a daily series where the tick wrote daily snapshots, monthly for
    months rebuilt from statements."""
    reader = _Reader(connection, scope)
    if not reader.days:
        return OverdueTrend(scope, (), reader.empty_note())
    rows = reader.sums(("accounts", "balance"), by=("bucket",), per_day=True)
    by_day: dict[date, dict[tuple, dict[str, Any]]] = {}
    for (day, bucket), values in rows.items():
        by_day.setdefault(day, {})[(bucket,)] = values
    points = []
    for day in reader.days:
        rate = _overdue(day, scope, by_day.get(day, {}))
        points.append(
            TrendPoint(day, rate.accounts, rate.overdue_accounts, rate.by_count, rate.by_balance)
        )
    note = None if any(p.accounts for p in points) else "no account in the scope on any day"
    return OverdueTrend(scope, tuple(points), note)


# --- aging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketFigures:
    bucket: str
    accounts: int
    balance: Decimal
    cases: int
    overdue_amount: Decimal | None


@dataclass(frozen=True)
class Aging(_Result):
    """DPD buckets on ``as_of``; ``groups`` (with ``group_by``): open cases per bucket per
    team / collector / product / region, for stacked bars."""

    scope: Scope
    as_of: date | None
    buckets: tuple[BucketFigures, ...]
    group_by: str | None = None
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    note: str | None = None


GROUPS = {"team": "team_id", "collector": "collector_id", "product": "product", "region": "region"}


def _group_labels(connection: Connection, group_by: str | None, keys: Iterable[Any]) -> dict:
    if group_by == "team":
        return _names(connection, Team, keys)
    if group_by == "collector":
        return _names(connection, Collector, keys)
    return {}


def _label(labels: Mapping[Any, str], key: Any) -> str:
    if key is None:
        return "-"
    return labels.get(key, str(key))


def dpd_bucket_aging(connection: Connection, scope: Scope, group_by: str | None = None) -> Aging:
    """DPD bucket aging (账龄分布) on the last snapshot day D: per bucket (M0 .. M4+), the accounts
    in the book, their balance, the open cases and their overdue amount; with ``group_by``
    ("team", "collector", "product", "region") also the open cases per bucket per group.
    Shares: ``accounts / Σ accounts`` per bucket."""
    if group_by is not None and group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    reader = _Reader(connection, scope)
    if reader.last is None:
        return Aging(scope, None, (), group_by, {}, reader.empty_note())
    dims = ("bucket",) + ((GROUPS[group_by],) if group_by else ())
    rows = reader.sums(
        ("accounts", "balance", "cases", "overdue_amount"), by=dims, days=[reader.last]
    )
    totals: dict[str, dict[str, Any]] = {}
    grouped: dict[Any, dict[str, int]] = {}
    for key, values in rows.items():
        bucket = key[0]
        total = totals.setdefault(bucket, {})
        for measure, value in values.items():
            total[measure] = _add(total.get(measure), value)
        if group_by and values.get("cases"):
            per = grouped.setdefault(key[1], {})
            per[bucket] = per.get(bucket, 0) + int(values["cases"])
    buckets = tuple(
        BucketFigures(
            bucket,
            int(totals.get(bucket, {}).get("accounts") or 0),
            totals.get(bucket, {}).get("balance") or Decimal(0),
            int(totals.get(bucket, {}).get("cases") or 0),
            totals.get(bucket, {}).get("overdue_amount"),
        )
        for bucket in _buckets(totals)
    )
    labels = _group_labels(connection, group_by, grouped)
    groups = {_label(labels, key): per for key, per in sorted(grouped.items(), key=_sort_key)}
    note = (
        None
        if any(b.accounts or b.cases for b in buckets)
        else (f"no account in the scope on {reader.last}")
    )
    return Aging(scope, reader.last, buckets, group_by, groups, note)


def _sort_key(item: tuple[Any, Any]) -> tuple[int, str]:
    key = item[0]
    return (1, "") if key is None else (0, f"{key:>12}" if isinstance(key, int) else str(key))


# --- recovery, cycle, promises, contacts -----------------------------------------------------


@dataclass(frozen=True)
class RecoveryFigures:
    group: str | None
    collected: Decimal
    overdue_at_entry: Decimal
    rate: float | None


@dataclass(frozen=True)
class RecoveryRate(_Result):
    scope: Scope
    collected: Decimal
    overdue_at_entry: Decimal
    rate: float | None
    group_by: str | None = None
    groups: tuple[RecoveryFigures, ...] = ()
    note: str | None = None


def _recovery_parts(
    reader: _Reader, dims: tuple[str, ...]
) -> tuple[dict[tuple, Decimal], dict[tuple, Decimal]]:
    """(collected, overdue at entry) per ``dims`` key over the reader's period."""
    collected: dict[tuple, Decimal] = {}
    for key, values in reader.sums(("collected",), by=("status_group", *dims)).items():
        if key[0] in ("open", "closed"):
            collected[key[1:]] = collected.get(key[1:], Decimal(0)) + (
                values["collected"] or Decimal(0)
            )
    # Worked in the period = still open at its end, or closed during it.
    base: dict[tuple, Decimal] = {}
    for key, values in reader.sums(("overdue_at_entry",), by=dims, days=[reader.last]).items():
        base[key] = base.get(key, Decimal(0)) + (values["overdue_at_entry"] or Decimal(0))
    for key, values in reader.sums(("closed_overdue",), by=dims).items():
        base[key] = base.get(key, Decimal(0)) + (values["closed_overdue"] or Decimal(0))
    return collected, base


def recovery_rate(
    connection: Connection, scope: Scope, group_by: str | None = None
) -> RecoveryRate:
    """Recovery rate (回收率) over the period.

    rate = Σ collected in the period on loans under collection (with an open or closed case) /
    Σ overdue_at_entry of the cases worked in the period: those open on the last snapshot day D
    plus those closed during the period (every case open at some time in the period is one or
    the other). With ``group_by`` ("team", "collector", "product", "region") per group too: a
    payment counts for the group holding the case on the day snapshotted, a case's entry amount
    for the group holding it on D, or when it closed.
    """
    if group_by is not None and group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    reader = _Reader(connection, scope)
    if not reader.days:
        return RecoveryRate(scope, Decimal(0), Decimal(0), None, group_by, (), reader.empty_note())
    dims = (GROUPS[group_by],) if group_by else ()
    collected, base = _recovery_parts(reader, dims)
    total_collected = sum(collected.values(), Decimal(0))
    total_base = sum(base.values(), Decimal(0))
    groups: tuple[RecoveryFigures, ...] = ()
    if group_by:
        keys = sorted(set(collected) | set(base), key=lambda k: _sort_key((k[0], None)))
        labels = _group_labels(connection, group_by, (k[0] for k in keys))
        groups = tuple(
            RecoveryFigures(
                None if key[0] is None else _label(labels, key[0]),
                collected.get(key, Decimal(0)),
                base.get(key, Decimal(0)),
                ratio(collected.get(key, Decimal(0)), base.get(key, Decimal(0))),
            )
            for key in keys
        )
    note = None
    if not total_base:
        note = "no case was worked in the period: nothing to recover"
    return RecoveryRate(
        scope,
        total_collected,
        total_base,
        ratio(total_collected, total_base),
        group_by,
        groups,
        note,
    )


@dataclass(frozen=True)
class CollectionCycle(_Result):
    scope: Scope
    closed_cases: int
    total_days: int
    average_days: float | None
    # The cases still open on the last day, and their average age in days.
    open_cases: int
    open_average_age: float | None
    note: str | None = None


def average_collection_cycle(connection: Connection, scope: Scope) -> CollectionCycle:
    """Average collection cycle (平均催收周期) over the period.

    average_days = Σ (closed_on − opened_on) / number of cases closed in the period; beside it,
    open_average_age = Σ (D − opened_on) / open cases on the last snapshot day D.
    """
    reader = _Reader(connection, scope)
    if not reader.days:
        return CollectionCycle(scope, 0, 0, None, 0, None, reader.empty_note())
    flows = reader.sums(("closed", "closed_days")).get((), {})
    stocks = reader.sums(("cases", "age_days"), days=[reader.last]).get((), {})
    closed = int(flows.get("closed") or 0)
    days = int(flows.get("closed_days") or 0)
    open_cases = int(stocks.get("cases") or 0)
    note = None if closed else "no case closed in the period"
    return CollectionCycle(
        scope,
        closed,
        days,
        ratio(days, closed),
        open_cases,
        ratio(stocks.get("age_days") or 0, open_cases),
        note,
    )


@dataclass(frozen=True)
class PromiseKept(_Result):
    scope: Scope
    made: int
    promised_amount: Decimal
    kept: int
    partly_kept: int
    broken: int
    resolved: int
    kept_rate: float | None
    kept_or_partly_rate: float | None
    note: str | None = None


def promise_kept_rate(connection: Connection, scope: Scope) -> PromiseKept:
    """Promise-kept rate (承诺兑现率) over the period.

    kept_rate = promises resolved as kept / promises resolved (kept + partly kept + broken), by
    the day they were resolved; kept_or_partly_rate counts partly kept ones as kept. ``made`` and
    ``promised_amount``: promises made in the period (on the day of the contact they were given
    in).
    """
    reader = _Reader(connection, scope)
    if not reader.days:
        return PromiseKept(scope, 0, Decimal(0), 0, 0, 0, 0, None, None, reader.empty_note())
    values = reader.sums(
        (
            "promises_made",
            "promised_amount",
            "promises_kept",
            "promises_partly_kept",
            "promises_broken",
        )
    ).get((), {})
    kept = int(values.get("promises_kept") or 0)
    partly = int(values.get("promises_partly_kept") or 0)
    broken = int(values.get("promises_broken") or 0)
    resolved = kept + partly + broken
    return PromiseKept(
        scope,
        int(values.get("promises_made") or 0),
        values.get("promised_amount") or Decimal(0),
        kept,
        partly,
        broken,
        resolved,
        ratio(kept, resolved),
        ratio(kept + partly, resolved),
        None if resolved else "no promise was resolved in the period",
    )


@dataclass(frozen=True)
class ContactRate(_Result):
    scope: Scope
    contacts: int
    dials: int
    right_party_contacts: int
    rate: float | None
    note: str | None = None


def right_party_contact_rate(connection: Connection, scope: Scope) -> ContactRate:
    """Right-party-contact rate (有效联系率) over the period.

    rate = dials (calls and field visits) whose party was the debtor and whose outcome was a
    conversation (rpc, ptp, refused, dispute, hardship, already paid, cease requested) / dials.
    """
    reader = _Reader(connection, scope)
    if not reader.days:
        return ContactRate(scope, 0, 0, 0, None, reader.empty_note())
    values = reader.sums(("contacts", "dials", "rpc")).get((), {})
    dials = int(values.get("dials") or 0)
    rpc = int(values.get("rpc") or 0)
    return ContactRate(
        scope,
        int(values.get("contacts") or 0),
        dials,
        rpc,
        ratio(rpc, dials),
        None if dials else "no call or visit in the period",
    )


@dataclass(frozen=True)
class ContactsPerCase(_Result):
    scope: Scope
    contacts: int
    average_open_cases: float | None
    per_case: float | None
    note: str | None = None


def contacts_per_case(connection: Connection, scope: Scope) -> ContactsPerCase:
    """Contacts per case over the period.

    per_case = contacts (every channel) in the period / the average over the period's snapshot
    days of the number of open cases.
    """
    reader = _Reader(connection, scope)
    if not reader.days:
        return ContactsPerCase(scope, 0, None, None, reader.empty_note())
    contacts = int(reader.sums(("contacts",)).get((), {}).get("contacts") or 0)
    per_day = reader.sums(("cases",), per_day=True)
    open_cases = [int(per_day.get((day,), {}).get("cases") or 0) for day in reader.days]
    average = sum(open_cases) / len(open_cases)
    return ContactsPerCase(
        scope,
        contacts,
        average,
        ratio(contacts, average) if average else None,
        None if average else "no open case in the period",
    )


# --- collected, league table -----------------------------------------------------------------


@dataclass(frozen=True)
class Collected(_Result):
    """Money collected in the period on loans under collection, per team or collector (the
    one holding the case; ``name`` None: no team / collector)."""

    scope: Scope
    group_by: str
    total: Decimal
    rows: tuple[dict[str, Any], ...]
    note: str | None = None


def _collected_by(connection: Connection, scope: Scope, group_by: str) -> Collected:
    reader = _Reader(connection, scope)
    if not reader.days:
        return Collected(scope, group_by, Decimal(0), (), reader.empty_note())
    dim = GROUPS[group_by]
    sums: dict[Any, Decimal] = {}
    for (status, key), values in reader.sums(("collected",), by=("status_group", dim)).items():
        if status in ("open", "closed"):
            sums[key] = sums.get(key, Decimal(0)) + (values["collected"] or Decimal(0))
    total = sum(sums.values(), Decimal(0))
    labels = _group_labels(connection, group_by, sums)
    rows = tuple(
        {
            "id": key,
            "name": None if key is None else _label(labels, key),
            "collected": amount,
            "share": ratio(amount, total),
        }
        for key, amount in sorted(sums.items(), key=lambda item: (-item[1], str(item[0])))
    )
    return Collected(
        scope, group_by, total, rows, None if rows else "nothing collected in the period"
    )


def collected_by_collector(connection: Connection, scope: Scope) -> Collected:
    """Collected per collector = Σ payments in the period on the loans of the collector's cases
    (the collector holding the case on the snapshot day that counts the payment), largest
    first, with each one's share of the total."""
    return _collected_by(connection, scope, "collector")


def collected_by_team(connection: Connection, scope: Scope) -> Collected:
    """Collected per team = Σ payments in the period on the loans of the team's cases, largest
    first, with each one's share of the total."""
    return _collected_by(connection, scope, "team")


@dataclass(frozen=True)
class LeagueRow:
    rank: int
    collector_id: int
    name: str
    team: str | None
    open_cases: int
    collected: Decimal
    recovery_rate: float | None
    contacts: int
    dials: int
    rpc_rate: float | None
    promises_made: int
    promise_kept_rate: float | None


@dataclass(frozen=True)
class LeagueTable(_Result):
    scope: Scope
    rows: tuple[LeagueRow, ...]
    note: str | None = None


def collector_league_table(connection: Connection, scope: Scope) -> LeagueTable:
    """Collector league table (催收员排行): per collector with cases or activity in the period,
    collected, recovery rate, contacts, dials, RPC rate, promises made and promise-kept rate
    (each as defined above, per collector), and open cases on the last day; ranked by collected,
    then recovery rate."""
    reader = _Reader(connection, scope)
    if not reader.days:
        return LeagueTable(scope, (), reader.empty_note())
    flows = reader.sums(
        (
            "contacts",
            "dials",
            "rpc",
            "promises_made",
            "promises_kept",
            "promises_partly_kept",
            "promises_broken",
        ),
        by=("collector_id",),
    )
    stocks = reader.sums(("cases",), by=("collector_id",), days=[reader.last])
    collected, base = _recovery_parts(reader, ("collector_id",))
    ids = {k[0] for k in (*flows, *stocks, *collected, *base) if k[0] is not None}
    collectors = Collector.__table__
    teams = Team.__table__
    people = {
        row.id: row
        for row in connection.execute(
            select(collectors.c.id, collectors.c.name, teams.c.name.label("team"))
            .select_from(collectors.outerjoin(teams, teams.c.id == collectors.c.team_id))
            .where(collectors.c.id.in_(sorted(ids)))
        )
    }
    rows = []
    for collector_id in ids:
        key = (collector_id,)
        f = flows.get(key, {})
        kept = int(f.get("promises_kept") or 0)
        resolved = kept + int(f.get("promises_partly_kept") or 0)
        resolved += int(f.get("promises_broken") or 0)
        person = people.get(collector_id)
        rows.append(
            {
                "collector_id": collector_id,
                "name": person.name if person else str(collector_id),
                "team": person.team if person else None,
                "open_cases": int(stocks.get(key, {}).get("cases") or 0),
                "collected": collected.get(key, Decimal(0)),
                "recovery_rate": ratio(collected.get(key, Decimal(0)), base.get(key)),
                "contacts": int(f.get("contacts") or 0),
                "dials": int(f.get("dials") or 0),
                "rpc_rate": ratio(f.get("rpc") or 0, f.get("dials") or 0),
                "promises_made": int(f.get("promises_made") or 0),
                "promise_kept_rate": ratio(kept, resolved),
            }
        )
    rows.sort(key=lambda r: (-r["collected"], -(r["recovery_rate"] or 0), r["name"]))
    table = tuple(LeagueRow(rank, **row) for rank, row in enumerate(rows, start=1))
    return LeagueTable(scope, table, None if table else "no collector worked in the scope")


# --- alerts and blocked contacts -------------------------------------------------------------


@dataclass(frozen=True)
class Counts(_Result):
    scope: Scope
    total: int
    items: tuple[tuple[str, int], ...]
    note: str | None = None


def _counts(connection: Connection, scope: Scope, measure: str, nothing: str) -> Counts:
    reader = _Reader(connection, scope)
    if not reader.days:
        return Counts(scope, 0, (), reader.empty_note())
    found = reader.counts(measure)
    items = tuple(sorted(found.items(), key=lambda item: (-item[1], item[0])))
    total = sum(found.values())
    return Counts(scope, total, items, None if total else nothing)


def alerts_by_type(connection: Connection, scope: Scope) -> Counts:
    """Alerts raised in the period, per alert kind (missed_installments, ...), most first."""
    return _counts(connection, scope, "alert", "no alert was raised in the period")


def blocked_contacts_by_rule(connection: Connection, scope: Scope) -> Counts:
    """Contacts the compliance gate blocked in the period, per blocking rule
    (``compliance_check.blocking_rule``: the first rule that blocked), most first."""
    return _counts(connection, scope, "blocked", "no contact was blocked in the period")


# --- roll rates and cure rates (monthly statements) ------------------------------------------


@dataclass(frozen=True)
class RollRates(_Result):
    """Bucket-to-bucket transitions month on month: ``counts[pair][from][to]`` accounts and
    ``balances[pair][from][to]`` their balance at the end of the first month, for every
    consecutive month pair ("2005-04->2005-05") in the period, over every bucket."""

    scope: Scope
    months: tuple[str, ...]
    buckets: tuple[str, ...]
    pairs: tuple[str, ...]
    counts: dict[str, dict[str, dict[str, int]]]
    balances: dict[str, dict[str, dict[str, Decimal]]]
    note: str | None = None

    def rate(self, pair: str, source: str, target: str, by: str = "count") -> float | None:
        """Share of ``source``'s accounts (``by="count"``) or balance (``"balance"``) at the end
        of the pair's first month found in ``target`` at the end of the second."""
        matrix = self.counts if by == "count" else self.balances
        row = matrix.get(pair, {}).get(source, {})
        total = sum(row.values())
        return ratio(row.get(target, 0), total)

    def roll_forward(self, pair: str, by: str = "count") -> dict[str, float | None]:
        """Roll rate (迁徙率) of every bucket but the last: the share moving to the next one."""
        return {
            source: self.rate(pair, source, target, by)
            for source, target in itertools.pairwise(self.buckets)
        }

    def as_dict(self) -> dict[str, Any]:
        found = super().as_dict()
        found["roll_forward"] = {
            pair: {"count": self.roll_forward(pair), "balance": self.roll_forward(pair, "balance")}
            for pair in self.pairs
        }
        return found

    def as_json(self) -> str:
        """``{"months": [...], "buckets": [...], "transitions": {"2005-04->2005-05": {"M0":
        {"M0": count, ...}, ...}}}`` by count, every bucket pair listed (zeros included)."""
        return json.dumps(
            {
                "months": list(self.months),
                "buckets": list(self.buckets),
                "transitions": self.counts,
            },
            ensure_ascii=False,
        )


def _statement_pairs(connection: Connection, scope: Scope) -> list[tuple[date, date]]:
    statements = MonthlyStatement.__table__
    periods = [
        p
        for p in connection.scalars(
            select(statements.c.period)
            .where(statements.c.period >= scope.start, statements.c.period <= scope.end)
            .distinct()
            .order_by(statements.c.period)
        )
        if p == month_end(p)
    ]
    return [
        (first, second)
        for first, second in itertools.pairwise(periods)
        if second == month_end(first + timedelta(days=1))
    ]


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def roll_rates(connection: Connection, scope: Scope) -> RollRates:
    """Roll rates (迁徙率) month on month from the monthly statements in the period.

    For each pair of consecutive month ends (m, m+1) in the period and every account with a
    statement in both: counts[m→m+1][i][j] = accounts in bucket i at m and j at m+1;
    balances[...][i][j] = their balance at m. The roll rate from i to j is counts[i][j] /
    Σ_j counts[i][j] (by balance likewise). Filters: the loan's product, the debtor's region, the
    team and collector holding the loan's case today.
    """
    pairs = _statement_pairs(connection, scope)
    if not pairs or scope.start > scope.end:
        note = "no two consecutive months of statements in the period"
        return RollRates(scope, (), tuple(bucket_labels()), (), {}, {}, note)
    first, second = MonthlyStatement.__table__.alias("m1"), MonthlyStatement.__table__.alias("m2")
    loans, cases, customers = Loan.__table__, CollectionCase.__table__, Customer.__table__
    raw: dict[str, dict[tuple[str, str], tuple[int, Decimal]]] = {}
    seen: set[str] = set()
    for m1, m2 in pairs:
        base = first.join(second, and_(second.c.loan_id == first.c.loan_id, second.c.period == m2))
        conditions = [first.c.period == m1]
        if scope.product is not None or scope.region is not None:
            base = base.join(loans, loans.c.id == first.c.loan_id)
            if scope.product is not None:
                conditions.append(type_coerce(loans.c.product, String()) == scope.product)
            if scope.region is not None:
                base = base.join(customers, customers.c.id == loans.c.customer_id)
                conditions.append(customers.c.region == scope.region)
        if scope.team_id is not None or scope.collector_id is not None or scope.team_ids:
            base = base.join(cases, cases.c.loan_id == first.c.loan_id)
            if scope.team_id is not None:
                conditions.append(cases.c.team_id == scope.team_id)
            if scope.collector_id is not None:
                conditions.append(cases.c.collector_id == scope.collector_id)
        if scope.team_ids is not None:
            if scope.team_ids:
                conditions.append(cases.c.team_id.in_(scope.team_ids))
            else:
                conditions.append(literal(False))
        pair = f"{_month(m1)}->{_month(m2)}"
        cells = raw.setdefault(pair, {})
        for source, target, count, balance in connection.execute(
            select(first.c.bucket, second.c.bucket, func.count(), func.sum(first.c.balance))
            .select_from(base)
            .where(*conditions)
            .group_by(first.c.bucket, second.c.bucket)
        ):
            cells[(source, target)] = (int(count), balance or Decimal(0))
            seen.update((source, target))
    buckets = _buckets(seen)
    counts = {
        pair: {i: {j: cells.get((i, j), (0, 0))[0] for j in buckets} for i in buckets}
        for pair, cells in raw.items()
    }
    balances = {
        pair: {
            i: {j: Decimal(cells.get((i, j), (0, Decimal(0)))[1]) for j in buckets} for i in buckets
        }
        for pair, cells in raw.items()
    }
    months = tuple(sorted({_month(d) for pair in pairs for d in pair}))
    note = None if any(cells for cells in raw.values()) else "no account in the scope"
    return RollRates(scope, months, tuple(buckets), tuple(raw), counts, balances, note)


@dataclass(frozen=True)
class CureFigures:
    pair: str
    bucket: str
    accounts: int
    cured: int
    rate: float | None
    balance: Decimal
    cured_balance: Decimal
    balance_rate: float | None


@dataclass(frozen=True)
class CureRates(_Result):
    """Per month pair and delinquent bucket, the share back to current; ``overall`` per pair
    over every delinquent bucket."""

    scope: Scope
    rows: tuple[CureFigures, ...]
    overall: tuple[CureFigures, ...]
    note: str | None = None


def cure_rates(connection: Connection, scope: Scope, rolls: RollRates | None = None) -> CureRates:
    """Cure rates (回滚率/治愈率) month on month: for a delinquent bucket i (past M0), accounts in
    i at m found in M0 at m+1 / accounts in i at m (by balance: their balance at m likewise);
    ``overall`` does the same over all delinquent buckets together. From :func:`roll_rates`."""
    rolls = rolls or roll_rates(connection, scope)
    rows: list[CureFigures] = []
    overall: list[CureFigures] = []
    for pair in rolls.pairs:
        totals = [0, 0, Decimal(0), Decimal(0)]
        for bucket in rolls.buckets:
            if bucket == CURRENT:
                continue
            counts = rolls.counts[pair][bucket]
            balances = rolls.balances[pair][bucket]
            figures = [
                sum(counts.values()),
                counts.get(CURRENT, 0),
                sum(balances.values(), Decimal(0)),
                balances.get(CURRENT, Decimal(0)),
            ]
            totals = [a + b for a, b in zip(totals, figures, strict=True)]
            rows.append(_cure(pair, bucket, *figures))
        overall.append(_cure(pair, "M1+", *totals))
    note = rolls.note
    if not note and not any(r.accounts for r in rows):
        note = "no delinquent account in the scope"
    return CureRates(scope, tuple(rows), tuple(overall), note)


def _cure(
    pair: str, bucket: str, accounts: Any, cured: Any, balance: Any, cured_balance: Any
) -> CureFigures:
    return CureFigures(
        pair,
        bucket,
        int(accounts),
        int(cured),
        ratio(cured, accounts),
        Decimal(balance),
        Decimal(cured_balance),
        ratio(cured_balance, balance),
    )


# --- champion / challenger -------------------------------------------------------------------


@dataclass(frozen=True)
class ArmFigures:
    arm: str
    cases: int
    cured: int
    cure_rate: float | None
    collected: Decimal
    mean_collected: float | None
    sd_collected: float | None


@dataclass(frozen=True)
class ArmResults(_Result):
    """Per arm, and the challenger − champion differences with their 95 % intervals."""

    scope: Scope
    arms: tuple[ArmFigures, ...]
    cure_rate_difference: float | None
    cure_rate_ci: tuple[float, float] | None
    collected_difference: float | None
    collected_ci: tuple[float, float] | None
    note: str | None = None


def strategy_arm_results(
    connection: Connection,
    scope: Scope,
    champion: str = "champion",
    challenger: str = "challenger",
) -> ArmResults:
    """Champion vs challenger (冠军/挑战者) over the period.

    A case's arm is that of its latest strategy decision made by the end of the period
    (``rule_decision.applied["arm"]``). Per arm: cases; cured = cases closed as paid or settled in
    the period, or (when the period reaches the business date) open and back to DPD 0; cure rate
    = cured / cases; collected = Σ payments in the period on the cases' loans, and its mean and
    sample standard deviation per case. Differences are challenger − champion:
    cure rate: d = p₂ − p₁ ± 1.96 · √(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂) (Wald);
    collected per case: d = x̄₂ − x̄₁ ± 1.96 · √(s₁²/n₁ + s₂²/n₂) (Welch, normal quantile).
    Filters: the team and collector holding the case today, the loan's product, the region.
    """
    if scope.start > scope.end:
        return ArmResults(scope, (), None, None, None, None, "the period is empty")
    today = business_date(connection)
    if scope.start > today:
        note = f"the period starts after the business date ({today}): no data yet"
        return ArmResults(scope, (), None, None, None, None, note)
    decisions = RuleDecision.__table__
    cases, loans, customers = CollectionCase.__table__, Loan.__table__, Customer.__table__
    payments = RepaymentTransaction.__table__
    arm = decisions.c.applied["arm"].as_string()
    latest = (
        select(decisions.c.case_id, func.max(decisions.c.id).label("decision_id"))
        .where(
            decisions.c.kind == "strategy",
            decisions.c.decided_at < local_midnight(scope.end + timedelta(days=1)),
            arm.is_not(None),
        )
        .group_by(decisions.c.case_id)
        .subquery("latest")
    )
    period = Window(scope.start - timedelta(days=1), scope.end)
    paid = (
        select(payments.c.loan_id, func.sum(payments.c.amount).label("amount"))
        .where(period.instants(payments.c.paid_at))
        .group_by(payments.c.loan_id)
        .subquery("paid")
    )
    cured = and_(
        cases.c.status.in_(CURED_STATUSES),
        cases.c.closed_on >= scope.start,
        cases.c.closed_on <= scope.end,
    )
    if scope.start <= today <= scope.end:
        open_current = and_(cases.c.status.in_([s.value for s in OPEN_STATUSES]), cases.c.dpd <= 0)
        cured = or_(cured, open_current)
    amount = func.coalesce(paid.c.amount, 0)
    base = (
        latest.join(decisions, decisions.c.id == latest.c.decision_id)
        .join(cases, cases.c.id == latest.c.case_id)
        .join(loans, loans.c.id == cases.c.loan_id)
        .outerjoin(paid, paid.c.loan_id == cases.c.loan_id)
    )
    conditions = []
    if scope.region is not None:
        base = base.join(customers, customers.c.id == cases.c.customer_id)
        conditions.append(customers.c.region == scope.region)
    if scope.product is not None:
        conditions.append(type_coerce(loans.c.product, String()) == scope.product)
    if scope.team_id is not None:
        conditions.append(cases.c.team_id == scope.team_id)
    if scope.team_ids is not None:
        conditions.append(cases.c.team_id.in_(scope.team_ids or (-1,)))
    if scope.collector_id is not None:
        conditions.append(cases.c.collector_id == scope.collector_id)
    rows = connection.execute(
        select(
            arm.label("arm"),
            func.count(),
            func.sum(case((cured, 1), else_=0)),
            func.sum(amount),
            func.sum(amount * amount),
        )
        .select_from(base)
        .where(*conditions)
        .group_by(arm)
    ).all()
    arms = []
    for name, n, n_cured, total, squares in rows:
        n, n_cured = int(n), int(n_cured or 0)
        total = Decimal(total or 0)
        mean = float(total) / n if n else None
        sd = None
        if n > 1:
            variance = (float(squares or 0) - float(total) ** 2 / n) / (n - 1)
            sd = math.sqrt(max(variance, 0.0))
        arms.append(ArmFigures(str(name), n, n_cured, ratio(n_cured, n), total, mean, sd))
    arms.sort(key=lambda a: (a.arm != champion, a.arm != challenger, a.arm))
    by_arm = {a.arm: a for a in arms}
    one, two = by_arm.get(champion), by_arm.get(challenger)
    if one is None or two is None:
        missing = [name for name, a in ((champion, one), (challenger, two)) if a is None]
        note = f"no case on the {' or '.join(missing)} arm in the scope"
        return ArmResults(scope, tuple(arms), None, None, None, None, note)
    p1, p2 = one.cure_rate or 0.0, two.cure_rate or 0.0
    cure_difference = p2 - p1
    cure_se = math.sqrt(p1 * (1 - p1) / one.cases + p2 * (1 - p2) / two.cases)
    cure_ci = (cure_difference - Z95 * cure_se, cure_difference + Z95 * cure_se)
    collected_difference = (two.mean_collected or 0.0) - (one.mean_collected or 0.0)
    collected_ci = None
    note = None
    if one.sd_collected is not None and two.sd_collected is not None:
        se = math.sqrt(one.sd_collected**2 / one.cases + two.sd_collected**2 / two.cases)
        collected_ci = (collected_difference - Z95 * se, collected_difference + Z95 * se)
    else:
        note = "an arm has a single case: no interval for the collected amount"
    return ArmResults(
        scope,
        tuple(arms),
        cure_difference,
        cure_ci,
        collected_difference,
        collected_ci,
        note,
    )


# --- the dashboard's tiles, and the data version ---------------------------------------------


def dashboard_tiles(connection: Connection, scope: Scope) -> dict[str, Any]:
    """The dashboard's KPI tiles: overdue rate, recovery rate, average cycle, promise-kept rate,
    RPC rate and collected (as :func:`recovery_rate`'s numerator)."""
    recovery = recovery_rate(connection, scope)
    return {
        "overdue_rate": overdue_rate(connection, scope),
        "recovery_rate": recovery,
        "average_collection_cycle": average_collection_cycle(connection, scope),
        "promise_kept_rate": promise_kept_rate(connection, scope),
        "right_party_contact_rate": right_party_contact_rate(connection, scope),
        "collected": recovery.collected,
    }


# The tables the metrics read, whose newest row (its id) moves whenever a fact is added; a case
# changed in place moves the audit trail or the outbox, a tick the business date and the runs.
_VERSIONED = (
    AuditEntry,
    ChangeEvent,
    RuleDecision,
    ContactAttempt,
    RepaymentTransaction,
    PromiseToPay,
    Alert,
    ComplianceCheck,
    CollectionCase,
    Loan,
    MonthlyStatement,
    ImportBatch,
)


def data_version(connection: Connection) -> str:
    """A text that changes whenever a fact the metrics read changes: the business date, the
    latest snapshot written and the newest id of each table (one indexed lookup each)."""
    runs = PortfolioSnapshotRun.__table__
    columns = [
        select(func.max(model.__table__.c.id)).scalar_subquery().label(model.__tablename__)
        for model in _VERSIONED
    ]
    columns.append(select(func.max(runs.c.written_at)).scalar_subquery().label("snapshots"))
    values = connection.execute(select(*columns)).one()
    return "|".join([business_date(connection).isoformat(), *(str(v) for v in values)])
