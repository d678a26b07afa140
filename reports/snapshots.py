"""The daily portfolio snapshot: written at the end of each business day, read by the metrics.

One ``INSERT ... SELECT`` aggregates the portfolio into ``portfolio_snapshot`` (stocks at the
end of the day and flows since the previous snapshot, per team / collector / product / region /
bucket / status group, see ``casedb.models.snapshots``) at its finest grain, two more roll that
up into the coarser grains, and one per kind fills ``portfolio_event_count`` (alerts by kind,
blocked contacts by rule): a million cases are a few group-bys on the database (about ten
seconds on PostgreSQL, bench/dashboard_queries.py), never a loop in Python.

Who writes:

- **the daily tick** (``rules_service.daily_tick.advance_to``) closes the day it moves away
  from, in its own transaction, before it moves DPD and buckets on (:func:`close_business_day`):
  the snapshot of that day, and — on a month end — a monthly statement for every open case's
  loan that has none, so roll rates go on month after month for live data as they do for the
  UCI months;
- **``python run.py snapshot``** (:func:`backfill`): the month ends before the business date
  that have monthly statements but no snapshot (rebuilt from the statements: bucket and balance
  as reported; which team held a case then is not known, so no team or collector), then the
  business date so far. ``make demo`` runs it, so the demo has its months and its day.

Rewriting the latest day replaces its rows (idempotent per date). An earlier day is refused:
without a snapshot its flows are already counted in a later one; with one, its stocks would be
replaced by today's (a statement month end may be rebuilt from its statements).

The metrics read the business date that is still going on live, with the same sums
(:func:`live_selects`: the stocks from the tables as they stand, each flow from its own facts
since the last snapshot, through their indexes): the figures of today are live, the days before
are the snapshots. A day's flows are the facts dated (in ``config.DEFAULT_TIMEZONE``) after the
previous snapshot's day up to and including its own; a fact dated into a day already snapshotted
(a payment posted late) is counted by neither.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Date,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

import config
from casedb.delinquency import BUSINESS_DATE_KEY
from casedb.models import (
    OPEN_STATUSES,
    Alert,
    Channel,
    CollectionCase,
    ComplianceCheck,
    ContactAttempt,
    Customer,
    Loan,
    LoanStatus,
    MonthlyStatement,
    Party,
    PortfolioEventCount,
    PortfolioSnapshot,
    PortfolioSnapshotRun,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
    SystemSetting,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES
from casedb.types import Money, utcnow

DIMENSIONS = ("team_id", "collector_id", "product", "region", "bucket", "status_group")
# The grains each day is written at (portfolio_snapshot.grain) and their dimensions.
GRAINS = {
    "portfolio": ("team_id", "product", "region", "bucket", "status_group"),
    "collector": ("team_id", "collector_id", "bucket", "status_group"),
    "detail": DIMENSIONS,
}
EVENT_DIMENSIONS = ("team_id", "collector_id", "product", "region")
STOCKS = (
    "accounts",
    "balance",
    "cases",
    "overdue_amount",
    "overdue_at_entry",
    "dpd_total",
    "age_days",
)
FLOWS = (
    "entered",
    "entered_overdue",
    "closed",
    "closed_days",
    "closed_overdue",
    "collected",
    "promises_made",
    "promised_amount",
    "promises_kept",
    "promises_partly_kept",
    "promises_broken",
    "contacts",
    "dials",
    "rpc",
    "alerts_raised",
    "contacts_blocked",
)
MEASURES = STOCKS + FLOWS
EVENT_MEASURES = ("alert", "blocked")
# Sources of a snapshot's stocks (portfolio_snapshot_run.source).
TICK, BACKFILL, STATEMENTS = "tick", "backfill", "statements"
# Contacts that can be a conversation: dialled calls and field visits.
DIAL_CHANNELS = (Channel.CALL.value, Channel.VISIT.value)
RESOLVED_PROMISES = {
    "promises_kept": PromiseStatus.KEPT.value,
    "promises_partly_kept": PromiseStatus.PARTLY_KEPT.value,
    "promises_broken": PromiseStatus.BROKEN.value,
}


class SnapshotRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A snapshot that cannot be written (a future day, a day whose state is gone...)."""


@dataclass(frozen=True)
class Filters:
    """The dimension filters of a report's scope; None is "any". ``team_ids`` is a set the team
    must be in (a supervisor's teams), beside the one ``team_id`` chosen."""

    team_id: int | None = None
    collector_id: int | None = None
    product: str | None = None
    region: str | None = None
    team_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Window:
    """The days whose flows count: after ``since`` (None: from the beginning) up to and including
    ``until`` (None: no end, the day still going on)."""

    since: date | None
    until: date | None

    def instants(self, column: Any, upper: bool = True) -> ColumnElement[bool]:
        """``column`` (a UTC instant) falls on one of the window's local days (or, without
        ``upper``, on one of them or later)."""
        conditions = []
        if self.since is not None:
            conditions.append(column >= local_midnight(self.since + timedelta(days=1)))
        if self.until is not None and upper:
            conditions.append(column < local_midnight(self.until + timedelta(days=1)))
        return and_(true(), *conditions)

    def dates(self, column: Any) -> ColumnElement[bool]:
        """``column`` (a calendar date) is one of the window's days."""
        conditions = [column.is_not(None)]
        if self.since is not None:
            conditions.append(column > self.since)
        if self.until is not None:
            conditions.append(column <= self.until)
        return and_(*conditions)


def local_midnight(day: date) -> datetime:
    """The UTC instant at which ``day`` begins in ``config.DEFAULT_TIMEZONE``."""
    return datetime.combine(day, time(0), ZoneInfo(config.DEFAULT_TIMEZONE)).astimezone(UTC)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def business_date(connection: Connection) -> date:
    """The as-of date: the configured override, else the stored one, else today."""
    forced = config.business_date_override()
    if forced is not None:
        return forced
    stored = connection.scalar(
        select(SystemSetting.__table__.c.value).where(
            SystemSetting.__table__.c.key == BUSINESS_DATE_KEY
        )
    )
    return date.fromisoformat(stored) if stored else date.today()


def days_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[int]:
    """Whole days from ``earlier`` to ``later`` (dates or date columns), in SQL."""
    if not isinstance(later, ColumnElement):
        later = literal(later, Date)
    if dialect == "postgresql":
        return later - earlier  # date - date is an integer of days there
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


# --- the select ------------------------------------------------------------------------------


@dataclass
class _Tables:
    loan: Any = field(default_factory=lambda: Loan.__table__)
    case: Any = field(default_factory=lambda: CollectionCase.__table__)
    customer: Any = field(default_factory=lambda: Customer.__table__)
    statement: Any = field(default_factory=lambda: MonthlyStatement.__table__)


def _flow_sources(window: Window, needed: set[str]) -> dict[str, Any]:
    """Per-loan or per-case aggregates of the window's facts, only those ``needed``."""
    sources: dict[str, Any] = {}
    if "collected" in needed:
        payments = RepaymentTransaction.__table__
        sources["payments"] = (
            select(payments.c.loan_id, func.sum(payments.c.amount).label("collected"))
            .where(window.instants(payments.c.paid_at))
            .group_by(payments.c.loan_id)
            .subquery("payments")
        )
    if needed & {"contacts", "dials", "rpc"}:
        attempts = ContactAttempt.__table__
        dial = attempts.c.channel.in_(DIAL_CHANNELS)
        rpc = and_(
            dial,
            attempts.c.party == Party.DEBTOR.value,
            attempts.c.outcome.in_([o.value for o in RIGHT_PARTY_OUTCOMES]),
        )
        sources["contacts"] = (
            select(
                attempts.c.case_id,
                func.count().label("contacts"),
                func.sum(case((dial, 1), else_=0)).label("dials"),
                func.sum(case((rpc, 1), else_=0)).label("rpc"),
            )
            .where(window.instants(attempts.c.started_at))
            .group_by(attempts.c.case_id)
            .subquery("contacts")
        )
    if needed & {"promises_made", "promised_amount"}:
        promises = PromiseToPay.__table__
        attempts = ContactAttempt.__table__.alias("promise_contact")
        # A promise is made when the contact it was given in happened (else when it was logged).
        made_at = func.coalesce(attempts.c.started_at, promises.c.created_at)
        sources["made"] = (
            select(
                promises.c.case_id,
                func.count().label("promises_made"),
                func.sum(promises.c.amount).label("promised_amount"),
            )
            .select_from(
                promises.outerjoin(attempts, attempts.c.id == promises.c.contact_attempt_id)
            )
            # A promise is logged after the contact it was given in: the window's start bounds
            # the logging time too, which spares joining every older promise to its contact.
            .where(window.instants(made_at), window.instants(promises.c.created_at, upper=False))
            .group_by(promises.c.case_id)
            .subquery("made")
        )
    if needed & set(RESOLVED_PROMISES):
        promises = PromiseToPay.__table__
        sources["resolved"] = (
            select(
                promises.c.case_id,
                *(
                    func.sum(case((promises.c.status == status, 1), else_=0)).label(name)
                    for name, status in RESOLVED_PROMISES.items()
                ),
            )
            .where(
                window.dates(promises.c.resolved_on),
                promises.c.status.in_(list(RESOLVED_PROMISES.values())),
            )
            .group_by(promises.c.case_id)
            .subquery("resolved")
        )
    if "alerts_raised" in needed:
        alerts = Alert.__table__
        sources["alerts"] = (
            select(alerts.c.case_id, func.count().label("alerts_raised"))
            .where(window.instants(alerts.c.raised_at))
            .group_by(alerts.c.case_id)
            .subquery("alerts")
        )
    if "contacts_blocked" in needed:
        checks = ComplianceCheck.__table__
        sources["blocked"] = (
            select(checks.c.case_id, func.count().label("contacts_blocked"))
            .where(
                window.instants(checks.c.checked_at),
                checks.c.blocking_rule.is_not(None),
                checks.c.case_id.is_not(None),
            )
            .group_by(checks.c.case_id)
            .subquery("blocked")
        )
    return sources


# Which flow source each flow measure is read from (None: from the case row itself).
_SOURCE_OF = {
    "collected": "payments",
    "contacts": "contacts",
    "dials": "contacts",
    "rpc": "contacts",
    "promises_made": "made",
    "promised_amount": "made",
    "promises_kept": "resolved",
    "promises_partly_kept": "resolved",
    "promises_broken": "resolved",
    "alerts_raised": "alerts",
    "contacts_blocked": "blocked",
}


def portfolio_select(
    dialect: str,
    as_of: date,
    window: Window,
    *,
    filters: Filters | None = None,
    measures: Sequence[str] = MEASURES,
    group_by: Sequence[str] = DIMENSIONS,
    from_statements: bool = False,
) -> Select:
    """``as_of``, the ``group_by`` dimensions and the sums of ``measures``: the portfolio's
    stocks now (or, ``from_statements``, as the monthly statements of period ``as_of`` report
    them) and its flows over ``window``, restricted by ``filters``.

    Only the tables the measures, dimensions and filters need are read, so a metric asking for
    one number costs about what the hand-written aggregate would.
    """
    filters = filters or Filters()
    unknown = [m for m in measures if m not in MEASURES] + [
        d for d in group_by if d not in DIMENSIONS
    ]
    if unknown:
        raise ValueError(f"unknown measures or dimensions: {', '.join(unknown)}")
    t = _Tables()
    loan, cases, customer, statement = t.loan, t.case, t.customer, t.statement
    needed = set(measures)
    sources = _flow_sources(window, needed)

    if from_statements:
        has_case = and_(cases.c.id.is_not(None), cases.c.opened_on <= as_of)
        is_open = and_(
            has_case, or_(cases.c.closed_on.is_(None), cases.c.closed_on > as_of)
        ).self_group()
        bucket = statement.c.bucket
        in_book: ColumnElement[bool] = true()
        balance: Any = statement.c.balance
        overdue_amount: Any = cast(null(), Money())
        dpd: Any = statement.c.dpd
        team: Any = None  # which team held a case in a past month is not known
        collector: Any = None
        base = statement.join(loan, loan.c.id == statement.c.loan_id)
        where = [statement.c.period == as_of]
    else:
        has_case = cases.c.id.is_not(None)
        is_open = cases.c.status.in_([s.value for s in OPEN_STATUSES])
        bucket = case((is_open, cases.c.bucket), else_="M0")
        active = loan.c.status == LoanStatus.ACTIVE.value
        in_book = or_(active, is_open).self_group()
        balance = case(
            (is_open, cases.c.outstanding_balance),
            (active, loan.c.outstanding_balance),
            else_=0,
        )
        overdue_amount = case(
            (
                is_open,
                cases.c.overdue_principal + cases.c.overdue_interest + cases.c.overdue_fees,
            ),
            else_=0,
        )
        dpd = cases.c.dpd
        team, collector = cases.c.team_id, cases.c.collector_id
        base = loan
        where = []
    base = base.outerjoin(cases, cases.c.loan_id == loan.c.id)
    if "region" in group_by or filters.region is not None:
        base = base.join(customer, customer.c.id == loan.c.customer_id)
    for name, source in sources.items():
        key = source.c.loan_id if name == "payments" else source.c.case_id
        base = base.outerjoin(source, key == (loan.c.id if name == "payments" else cases.c.id))

    entered = window.dates(cases.c.opened_on)
    closed = window.dates(cases.c.closed_on)
    expressions: dict[str, Any] = {
        "accounts": case((in_book, 1), else_=0),
        "balance": type_coerce(balance, Money()),
        "cases": case((is_open, 1), else_=0),
        "overdue_amount": type_coerce(overdue_amount, Money()),
        "overdue_at_entry": case((is_open, cases.c.overdue_at_entry), else_=0),
        "dpd_total": case((is_open, dpd), else_=0),
        "age_days": case((is_open, days_between(dialect, as_of, cases.c.opened_on)), else_=0),
        "entered": case((entered, 1), else_=0),
        "entered_overdue": case((entered, cases.c.overdue_at_entry), else_=0),
        "closed": case((closed, 1), else_=0),
        "closed_days": case(
            (closed, days_between(dialect, cases.c.closed_on, cases.c.opened_on)), else_=0
        ),
        "closed_overdue": case((closed, cases.c.overdue_at_entry), else_=0),
    }
    for measure, source in _SOURCE_OF.items():
        if source in sources:
            expressions[measure] = func.coalesce(getattr(sources[source].c, measure), 0)
    dimensions: dict[str, Any] = {
        "team_id": team,
        "collector_id": collector,
        "product": type_coerce(loan.c.product, String()),
        "region": customer.c.region,
        "bucket": bucket,
        "status_group": case((is_open, "open"), (has_case, "closed"), else_="none"),
    }
    grouped = [dimensions[d] for d in group_by if dimensions[d] is not None]

    # A row counts if its account is in the book or something happened on it in the window.
    reasons: list[ColumnElement[bool]] = [in_book]
    if needed & {"closed", "closed_days", "closed_overdue"}:
        reasons.append(closed)
    for name, source in sources.items():
        reasons.append((source.c.loan_id if name == "payments" else source.c.case_id).is_not(None))
    where.append(or_(*reasons))
    where += _filter_conditions(filters, team, collector, loan, customer)

    query = (
        select(
            literal(as_of, Date).label("as_of"),
            *(_dimension(dimensions[d]).label(d) for d in group_by),
            *(func.sum(expressions[m]).label(m) for m in measures),
        )
        .select_from(base)
        .where(*where)
    )
    return query.group_by(*grouped) if grouped else query


# Flows read from the case row itself, by the date column that dates them.
_CASE_FLOWS = {
    "entered": "opened_on",
    "entered_overdue": "opened_on",
    "closed": "closed_on",
    "closed_days": "closed_on",
    "closed_overdue": "closed_on",
}


def live_selects(
    dialect: str,
    as_of: date,
    window: Window,
    *,
    filters: Filters | None = None,
    measures: Sequence[str] = MEASURES,
    group_by: Sequence[str] = DIMENSIONS,
) -> list[tuple[Select, tuple[str, ...]]]:
    """The sums :func:`portfolio_select` gives for the live tables, as several selects whose
    rows add up (each with the measures it sums): the stocks from one pass over the book, and
    each flow from its own facts of the window — a range of an index — joined to their cases,
    so a day of payments costs a day of payments, not a pass over a million loans."""
    filters = filters or Filters()
    selects: list[tuple[Select, tuple[str, ...]]] = []
    stocks = tuple(m for m in measures if m in STOCKS)
    if stocks and set(stocks) <= OPEN_CASE_STOCKS:
        selects.append((_open_case_select(dialect, as_of, filters, stocks, group_by), stocks))
    elif stocks:
        query = portfolio_select(
            dialect, as_of, window, filters=filters, measures=stocks, group_by=group_by
        )
        selects.append((query, stocks))
    by_source: dict[str, list[str]] = {}
    for measure in measures:
        if measure not in STOCKS:
            by_source.setdefault(_SOURCE_OF.get(measure) or _CASE_FLOWS[measure], []).append(
                measure
            )
    t = _Tables()
    loan, cases, customer = t.loan, t.case, t.customer
    is_open = cases.c.status.in_([s.value for s in OPEN_STATUSES])
    dimensions: dict[str, Any] = {
        "team_id": cases.c.team_id,
        "collector_id": cases.c.collector_id,
        "product": type_coerce(loan.c.product, String()),
        "region": customer.c.region,
        "bucket": case((is_open, cases.c.bucket), else_="M0"),
        "status_group": case((is_open, "open"), (cases.c.id.is_not(None), "closed"), else_="none"),
    }
    for name, wanted in by_source.items():
        where: list[ColumnElement[bool]] = []
        if name in ("opened_on", "closed_on"):
            base: Any = cases
            if "product" in group_by or filters.product is not None:
                base = base.join(loan, loan.c.id == cases.c.loan_id)
            where.append(window.dates(cases.c[name]))
            expressions = {
                "entered": literal(1),
                "entered_overdue": cases.c.overdue_at_entry,
                "closed": literal(1),
                "closed_days": days_between(dialect, cases.c.closed_on, cases.c.opened_on),
                "closed_overdue": cases.c.overdue_at_entry,
            }
        else:
            source = _flow_sources(window, set(wanted))[name]
            if name == "payments":
                base = source.join(loan, loan.c.id == source.c.loan_id).outerjoin(
                    cases, cases.c.loan_id == loan.c.id
                )
            else:
                base = source.join(cases, cases.c.id == source.c.case_id)
                if "product" in group_by or filters.product is not None:
                    base = base.join(loan, loan.c.id == cases.c.loan_id)
            expressions = {m: source.c[m] for m in wanted}
        if "region" in group_by or filters.region is not None:
            debtor = loan.c.customer_id if name == "payments" else cases.c.customer_id
            base = base.join(customer, customer.c.id == debtor)
        where += _filter_conditions(filters, cases.c.team_id, cases.c.collector_id, loan, customer)
        query = (
            select(
                literal(as_of, Date).label("as_of"),
                *(dimensions[d].label(d) for d in group_by),
                *(func.sum(expressions[m]).label(m) for m in wanted),
            )
            .select_from(base)
            .where(*where)
        )
        if group_by:
            query = query.group_by(*(dimensions[d] for d in group_by))
        selects.append((query, tuple(wanted)))
    return selects


# Stocks that only open cases have: read from the open cases alone, not the whole book.
OPEN_CASE_STOCKS = frozenset(
    {"cases", "overdue_amount", "overdue_at_entry", "dpd_total", "age_days"}
)


def _open_case_select(
    dialect: str,
    as_of: date,
    filters: Filters,
    measures: Sequence[str],
    group_by: Sequence[str],
) -> Select:
    """:func:`portfolio_select`'s sums of open-case stocks, from the open cases only."""
    t = _Tables()
    loan, cases, customer = t.loan, t.case, t.customer
    base: Any = cases
    if "product" in group_by or filters.product is not None:
        base = base.join(loan, loan.c.id == cases.c.loan_id)
    if "region" in group_by or filters.region is not None:
        base = base.join(customer, customer.c.id == cases.c.customer_id)
    expressions = {
        "cases": literal(1),
        "overdue_amount": cases.c.overdue_principal
        + cases.c.overdue_interest
        + cases.c.overdue_fees,
        "overdue_at_entry": cases.c.overdue_at_entry,
        "dpd_total": cases.c.dpd,
        "age_days": days_between(dialect, as_of, cases.c.opened_on),
    }
    dimensions: dict[str, Any] = {
        "team_id": cases.c.team_id,
        "collector_id": cases.c.collector_id,
        "product": type_coerce(loan.c.product, String()),
        "region": customer.c.region,
        "bucket": cases.c.bucket,
        "status_group": literal("open", String()),
    }
    query = (
        select(
            literal(as_of, Date).label("as_of"),
            *(dimensions[d].label(d) for d in group_by),
            *(
                func.sum(
                    type_coerce(expressions[m], Money())
                    if m.startswith("overdue")
                    else expressions[m]
                ).label(m)
                for m in measures
            ),
        )
        .select_from(base)
        .where(
            cases.c.status.in_([s.value for s in OPEN_STATUSES]),
            *_filter_conditions(filters, cases.c.team_id, cases.c.collector_id, loan, customer),
        )
    )
    grouped = [dimensions[d] for d in group_by if d != "status_group"]
    return query.group_by(*grouped) if grouped else query


def _dimension(column: Any) -> Any:
    """A dimension's column, or a typed NULL for one that is not known (past teams)."""
    return cast(null(), Integer) if column is None else column


def _filter_conditions(
    filters: Filters, team: Any, collector: Any, loan: Any, customer: Any
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for value, column in ((filters.team_id, team), (filters.collector_id, collector)):
        if value is not None:
            # Snapshots rebuilt from statements know no team: a team filter matches nothing.
            conditions.append(false() if column is None else column == value)
    if filters.team_ids is not None:
        conditions.append(
            false() if team is None or not filters.team_ids else team.in_(filters.team_ids)
        )
    if filters.product is not None:
        conditions.append(type_coerce(loan.c.product, String()) == filters.product)
    if filters.region is not None:
        conditions.append(customer.c.region == filters.region)
    return conditions


def event_count_selects(
    as_of: date,
    window: Window,
    *,
    filters: Filters | None = None,
    group_by: Sequence[str] = EVENT_DIMENSIONS,
    measures: Iterable[str] = EVENT_MEASURES,
    with_assignment: bool = True,
) -> list[Select]:
    """Alerts raised by kind and contacts blocked by rule over ``window``: ``as_of``, the
    ``group_by`` dimensions, ``measure``, ``key`` and ``count``."""
    filters = filters or Filters()
    t = _Tables()
    loan, cases, customer = t.loan, t.case, t.customer
    team = cases.c.team_id if with_assignment else None
    collector = cases.c.collector_id if with_assignment else None
    dimensions = {
        "team_id": team,
        "collector_id": collector,
        "product": type_coerce(loan.c.product, String()),
        "region": customer.c.region,
    }
    selects = []
    for measure in measures:
        if measure == "alert":
            alerts = Alert.__table__
            key, happened = alerts.c.kind, window.instants(alerts.c.raised_at)
            base = (
                alerts.join(cases, cases.c.id == alerts.c.case_id)
                .join(loan, loan.c.id == cases.c.loan_id)
                .join(customer, customer.c.id == cases.c.customer_id)
            )
            where = [happened]
        elif measure == "blocked":
            checks = ComplianceCheck.__table__
            key = checks.c.blocking_rule
            base = (
                checks.outerjoin(cases, cases.c.id == checks.c.case_id)
                .outerjoin(loan, loan.c.id == cases.c.loan_id)
                .outerjoin(
                    customer,
                    customer.c.id == func.coalesce(cases.c.customer_id, checks.c.customer_id),
                )
            )
            where = [window.instants(checks.c.checked_at), checks.c.blocking_rule.is_not(None)]
        else:
            raise ValueError(f"unknown event measure {measure!r}")
        where += _filter_conditions(filters, team, collector, loan, customer)
        selects.append(
            select(
                literal(as_of, Date).label("as_of"),
                *(_dimension(dimensions[d]).label(d) for d in group_by),
                literal(measure, String()).label("measure"),
                key.label("key"),
                func.count().label("count"),
            )
            .select_from(base)
            .where(*where)
            .group_by(*(dimensions[d] for d in group_by if dimensions[d] is not None), key)
        )
    return selects


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotResult:
    as_of: date
    since: date | None
    source: str
    rows: int
    events: int
    statements: int = 0

    def text(self) -> str:
        since = f"flows after {self.since}" if self.since else "flows until then"
        extra = f", {self.statements} month-end statements written" if self.statements else ""
        return (
            f"snapshot {self.as_of} ({self.source}): {self.rows} rows, {self.events} event "
            f"counts; {since}{extra}"
        )


def snapshot_dates(connection: Connection) -> list[date]:
    """The days that have a snapshot, oldest first."""
    runs = PortfolioSnapshotRun.__table__
    return list(connection.scalars(select(runs.c.as_of).order_by(runs.c.as_of)))


def write_snapshot(connection: Connection, as_of: date, *, by: str, source: str) -> SnapshotResult:
    """Write (or rewrite) the snapshot of ``as_of``: from the live tables for ``tick`` and
    ``backfill``, from the monthly statements of period ``as_of`` for ``statements``."""
    if source not in (TICK, BACKFILL, STATEMENTS):
        raise ValueError(f"unknown snapshot source {source!r}")
    dates = snapshot_dates(connection)
    if dates and as_of < dates[-1] and as_of not in dates:
        raise SnapshotRefused(
            f"{as_of} is before the latest snapshot ({dates[-1]}), whose flows already count "
            "its facts"
        )
    if dates and as_of < dates[-1] and source != STATEMENTS:
        raise SnapshotRefused(
            f"{as_of} is before the latest snapshot ({dates[-1]}): its stocks would be "
            "today's, not its own"
        )
    since = max((d for d in dates if d < as_of), default=None)
    window = Window(since, as_of)
    dialect = connection.dialect.name
    statements = source == STATEMENTS
    snapshots = PortfolioSnapshot.__table__
    events = PortfolioEventCount.__table__
    runs = PortfolioSnapshotRun.__table__
    for table in (snapshots, events, runs):
        connection.execute(delete(table).where(table.c.as_of == as_of))
    # The detail grain from the tables; the coarser grains rolled up from its rows.
    query = portfolio_select(dialect, as_of, window, from_statements=statements)
    connection.execute(
        insert(snapshots).from_select(
            ["as_of", *DIMENSIONS, *MEASURES, "grain"],
            query.add_columns(literal("detail", String())),
        )
    )
    for grain, dimensions in GRAINS.items():
        if grain == "detail":
            continue
        keys = [snapshots.c[d] for d in dimensions]
        rollup = (
            select(
                snapshots.c.as_of,
                *keys,
                *(func.sum(snapshots.c[m]) for m in MEASURES),
                literal(grain, String()),
            )
            .where(snapshots.c.as_of == as_of, snapshots.c.grain == "detail")
            .group_by(snapshots.c.as_of, *keys)
        )
        connection.execute(
            insert(snapshots).from_select(["as_of", *dimensions, *MEASURES, "grain"], rollup)
        )
    for query in event_count_selects(as_of, window, with_assignment=not statements):
        connection.execute(
            insert(events).from_select(
                ["as_of", *EVENT_DIMENSIONS, "measure", "key", "count"], query
            )
        )
    # Counted afterwards: psycopg does not always report the rows of INSERT ... SELECT.
    rows = connection.scalar(
        select(func.count()).where(snapshots.c.as_of == as_of, snapshots.c.grain == "detail")
    )
    counted = connection.scalar(select(func.count()).where(events.c.as_of == as_of))
    connection.execute(
        insert(runs).values(
            as_of=as_of,
            since=since,
            source=source,
            rows=rows,
            written_by=by,
            written_at=utcnow(),
        )
    )
    return SnapshotResult(as_of, since, source, rows, counted)


def write_month_end_statements(
    connection: Connection, period: date, dpd_changes: Any | None = None
) -> int:
    """A monthly statement of ``period`` (a month end) for every open case's loan that has none:
    the case's balance, DPD and bucket, months past due from the DPD (0 when current) and the
    payments of the month. ``dpd_changes`` (``id``, ``new_dpd``: the tick's DPD moves to
    ``period``) stands in for the DPD of the cases it names."""
    cases = CollectionCase.__table__
    statements = MonthlyStatement.__table__
    payments = RepaymentTransaction.__table__
    first = period.replace(day=1)
    paid = (
        select(payments.c.loan_id, func.sum(payments.c.amount).label("amount"))
        .where(Window(first - timedelta(days=1), period).instants(payments.c.paid_at))
        .group_by(payments.c.loan_id)
        .subquery("paid")
    )
    base = cases.outerjoin(paid, paid.c.loan_id == cases.c.loan_id)
    dpd: Any = cases.c.dpd
    if dpd_changes is not None:
        base = base.outerjoin(dpd_changes, dpd_changes.c.id == cases.c.id)
        dpd = func.coalesce(dpd_changes.c.new_dpd, cases.c.dpd)
    months = case((dpd > 0, (dpd + 29) // 30), else_=0)
    from rules_service.daily_tick import bucket_case  # noqa: PLC0415  (it imports this module)

    already = (
        select(statements.c.id)
        .where(statements.c.loan_id == cases.c.loan_id, statements.c.period == period)
        .exists()
    )
    query = (
        select(
            cases.c.loan_id,
            literal(period, Date),
            cases.c.outstanding_balance,
            func.coalesce(paid.c.amount, 0),
            months,
            months,
            dpd,
            bucket_case(dpd),
        )
        .select_from(base)
        .where(cases.c.status.in_([s.value for s in OPEN_STATUSES]), ~already)
    )
    before = connection.scalar(select(func.count()).where(statements.c.period == period))
    connection.execute(
        insert(statements).from_select(
            [
                "loan_id",
                "period",
                "balance",
                "amount_paid",
                "repayment_status",
                "months_past_due",
                "dpd",
                "bucket",
            ],
            query,
        )
    )
    return connection.scalar(select(func.count()).where(statements.c.period == period)) - before


def close_business_day(
    connection: Connection,
    day: date,
    to: date,
    *,
    by: str,
    dpd_at: Callable[[date], Any] | None = None,
) -> SnapshotResult:
    """What the daily tick does before moving the business date from ``day`` to ``to``: the
    month-end statements of every month end from ``day`` to the day before ``to`` (``day``'s from
    the cases as they stand; a later one, crossed by a jump of several days, with the DPD
    ``dpd_at(month_end)`` gives), then the snapshot of ``day``."""
    written = 0
    end = month_end(day)
    while end < to:
        written += write_month_end_statements(
            connection, end, None if end == day or dpd_at is None else dpd_at(end)
        )
        end = month_end(end + timedelta(days=1))
    result = write_snapshot(connection, day, by=by, source=TICK)
    return SnapshotResult(
        result.as_of, result.since, result.source, result.rows, result.events, written
    )


def statement_periods(connection: Connection, before: date | None = None) -> list[date]:
    """The month ends that have monthly statements (before ``before``), oldest first."""
    statements = MonthlyStatement.__table__
    query = select(statements.c.period).distinct().order_by(statements.c.period)
    if before is not None:
        query = query.where(statements.c.period < before)
    return [p for p in connection.scalars(query) if p == month_end(p)]


def backfill(connection: Connection, day: date | None = None, *, by: str) -> list[SnapshotResult]:
    """``run.py snapshot``: the snapshot of ``day``, or (no day) of every month end before the
    business date that has statements and no snapshot (none before the latest snapshot) and of
    the business date so far.

    The business date's stocks are the tables as they stand; a past day's can only come from its
    monthly statements: a past day without them is refused, as is a day after the business
    date."""
    today = business_date(connection)
    if day is not None:
        if day > today:
            raise SnapshotRefused(f"{day} is after the business date {today}")
        if day == today:
            return [write_snapshot(connection, day, by=by, source=BACKFILL)]
        if day not in statement_periods(connection):
            raise SnapshotRefused(
                f"{day} is before the business date {today} and has no monthly statements: "
                "the state of a past day cannot be recomputed from today's (the daily tick "
                "writes each day's snapshot as the day ends)"
            )
        return [write_snapshot(connection, day, by=by, source=STATEMENTS)]
    done = snapshot_dates(connection)
    latest = done[-1] if done else None
    results = [
        write_snapshot(connection, period, by=by, source=STATEMENTS)
        for period in statement_periods(connection, before=today)
        if period not in done and (latest is None or period > latest)
    ]
    results.append(write_snapshot(connection, today, by=by, source=BACKFILL))
    return results


def grain_for(group_by: Sequence[str], filters: Filters) -> str:
    """The smallest grain that answers a read grouped by ``group_by`` under ``filters``."""
    collector = "collector_id" in group_by or filters.collector_id is not None
    detail = (
        "product" in group_by
        or "region" in group_by
        or filters.product is not None
        or filters.region is not None
    )
    if collector:
        return "detail" if detail else "collector"
    return "portfolio"
