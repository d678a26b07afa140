"""Daily portfolio snapshots (每日快照): what the books looked like at the end of each day.

Trends must be exact: the overdue rate of last Tuesday is what it was on Tuesday, not today's
cases re-read with Tuesday's date. So at the end of every business day (the daily tick, in the
tick's transaction) ``reports.snapshots`` aggregates the portfolio into ``portfolio_snapshot``:
one row per day and combination of the dimensions a report filters or groups by (team,
collector, product, region, DPD bucket, case status group) holding

- **stocks** at the end of the day: loan accounts in the book and their balance, open cases,
  their overdue amount, overdue amount at entry, total DPD and total age in days;
- **flows** since the previous snapshot (normally: that day): cases entered and closed (the
  days they took, their overdue amount at entry), money collected, promises made / kept /
  partly kept / broken, contacts, dials (calls and visits), right-party contacts, alerts raised
  and contacts the compliance gate blocked — each counted on the row of the case (team,
  collector, ...) as it stood that day.

``portfolio_event_count`` keeps the flows that have a kind of their own (alerts by alert kind,
blocked contacts by blocking rule) per day and team / collector / product / region, and
``portfolio_snapshot_run`` records each snapshot written: its date, the date of the previous one
(its flows cover the days after that one up to and including its own), where its stocks came
from and when it was written (the data version of the charts' cache).

Each day is kept at three grains (``grain``): without the collector (a few thousand rows a
day for a million cases: what most reports read), without product and region (the collector
league table) and with every dimension (a collector's own dashboard filtered by product or
region). The dimensions are plain values without foreign keys: a snapshot is history, and stays
when a team is renamed or removed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, money
from casedb.types import utcnow

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class PortfolioSnapshot(Base):
    """Stocks at the end of ``as_of`` and flows since the previous snapshot, per dimensions."""

    __tablename__ = "portfolio_snapshot"
    __table_args__ = (
        Index(None, "grain", "as_of", "team_id"),
        Index("ix_portfolio_snapshot_collector", "grain", "collector_id", "as_of"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    as_of: Mapped[date]
    # The same day at three grains, so a report reads the fewest rows that answer it:
    # "portfolio" (no collector), "collector" (no product, no region) and "detail" (everything).
    grain: Mapped[str] = mapped_column(String(12))
    # Dimensions: who held the case that day, the loan's product, the debtor's region, the
    # account's DPD bucket (M0 for accounts without an open case) and the case's status group:
    # "open", "closed" or "none" (an account without a case).
    team_id: Mapped[int | None]
    collector_id: Mapped[int | None]
    product: Mapped[str | None] = mapped_column(String(24))
    region: Mapped[str | None] = mapped_column(String(32))
    bucket: Mapped[str] = mapped_column(String(8))
    status_group: Mapped[str] = mapped_column(String(8))
    # Stocks at the end of the day.
    accounts: Mapped[int] = mapped_column(default=0)
    balance: Mapped[Decimal] = money()
    cases: Mapped[int] = mapped_column(default=0)
    # Unknown (NULL) in snapshots rebuilt from monthly statements.
    overdue_amount: Mapped[Decimal | None] = money(nullable=True, default=None)
    overdue_at_entry: Mapped[Decimal] = money()
    dpd_total: Mapped[int] = mapped_column(BIG_ID, default=0)
    age_days: Mapped[int] = mapped_column(BIG_ID, default=0)
    # Flows since the previous snapshot.
    entered: Mapped[int] = mapped_column(default=0)
    entered_overdue: Mapped[Decimal] = money()
    closed: Mapped[int] = mapped_column(default=0)
    closed_days: Mapped[int] = mapped_column(BIG_ID, default=0)
    # The overdue amount at entry of the cases closed (with entered_overdue: cases worked).
    closed_overdue: Mapped[Decimal] = money()
    collected: Mapped[Decimal] = money()
    promises_made: Mapped[int] = mapped_column(default=0)
    promised_amount: Mapped[Decimal] = money()
    promises_kept: Mapped[int] = mapped_column(default=0)
    promises_partly_kept: Mapped[int] = mapped_column(default=0)
    promises_broken: Mapped[int] = mapped_column(default=0)
    contacts: Mapped[int] = mapped_column(default=0)
    dials: Mapped[int] = mapped_column(default=0)
    rpc: Mapped[int] = mapped_column(default=0)
    alerts_raised: Mapped[int] = mapped_column(default=0)
    contacts_blocked: Mapped[int] = mapped_column(default=0)


class PortfolioEventCount(Base):
    """Flows with a kind since the previous snapshot: ``measure`` "alert" (``key``: the alert
    kind) or "blocked" (``key``: the compliance rule that blocked the contact)."""

    __tablename__ = "portfolio_event_count"
    __table_args__ = (Index(None, "as_of", "measure"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    as_of: Mapped[date]
    team_id: Mapped[int | None]
    collector_id: Mapped[int | None]
    product: Mapped[str | None] = mapped_column(String(24))
    region: Mapped[str | None] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(default=0)


class PortfolioSnapshotRun(Base):
    """One snapshot written: its day, the window of its flows, its source and when."""

    __tablename__ = "portfolio_snapshot_run"

    as_of: Mapped[date] = mapped_column(primary_key=True)
    # The previous snapshot's day: flows are those dated after it, up to ``as_of`` (None: all
    # before ``as_of``).
    since: Mapped[date | None]
    # "tick" (the end of the business day), "backfill" (the business day so far, by hand),
    # "statements" (a past month end rebuilt from the monthly statements).
    source: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(default=0)
    written_by: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime] = mapped_column(default=utcnow)
