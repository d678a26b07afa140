"""External views of the debtor: bureau reports, third-party ratings, consumption summaries."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, Timestamps, external_id, money, str_enum


class CreditSource(enum.StrEnum):
    BUREAU_REPORT = "bureau_report"
    THIRD_PARTY_RATING = "third_party_rating"


# Ratings from best to worst; a move to the right is a downgrade.
RATING_SCALE = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D")


class CreditSnapshot(Timestamps, Base):
    """A dated credit-bureau report or third-party rating of a customer."""

    __tablename__ = "credit_snapshot"
    __table_args__ = (Index(None, "customer_id", "reported_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_kind: Mapped[CreditSource] = mapped_column(str_enum(CreditSource))
    # The bureau or agency, e.g. "PBOC", "Baihang", "Experian".
    provider: Mapped[str] = mapped_column(String(64))
    reported_on: Mapped[date]
    score: Mapped[int | None]
    rating: Mapped[str | None] = mapped_column(String(8))
    delinquent_accounts_elsewhere: Mapped[int | None]
    debt_elsewhere: Mapped[Decimal | None] = money(nullable=True, default=None)
    inquiries_last_6m: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ConsumptionSummary(Timestamps, Base):
    """A month of the debtor's e-commerce spending, a hint of ability to pay."""

    __tablename__ = "consumption_summary"
    __table_args__ = (Index(None, "customer_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    summary_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    platform: Mapped[str] = mapped_column(String(64))
    # First day of the month summarised.
    period: Mapped[date]
    order_count: Mapped[int] = mapped_column(default=0)
    total_amount: Mapped[Decimal] = money()
    top_category: Mapped[str | None] = mapped_column(String(64))
    last_order_on: Mapped[date | None]
