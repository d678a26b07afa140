"""Early warnings (风险预警) raised on cases by the alert table, and what people did with them.

The rules service raises an ``alert`` row for every alert code a case's alert decision fired
that the case has no unresolved alert of yet (``rules_service.alerts``); the row names the
decision, table version and row that raised it. People acknowledge, assign and resolve alerts in
the console; each change goes through the ORM, so the audit trail keeps who did what and when.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casedb.models.base import Base, str_enum
from casedb.models.cases import CollectionCase
from casedb.types import utcnow


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


# An alert in one of these is still being dealt with: the same kind is not raised again.
UNRESOLVED_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.ASSIGNED)
# Most severe first (the inbox's order).
ALERT_SEVERITIES = ("critical", "warning", "info")


class Alert(Base):
    """One warning on one case, from raising to resolution."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_inbox", "status", "severity", "raised_at"),
        Index("ix_alert_case_kind", "case_id", "kind", "status"),
        # The daily portfolio snapshot reads one day's alerts (reports.snapshots).
        Index("ix_alert_raised_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"))
    # The alert code of the table row's ``alert`` output (missed_installments, ...).
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus), default=AlertStatus.OPEN)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Provenance: the decision, table version and row that raised it.
    raised_by_decision_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("rule_decision.id")
    )
    ruleset: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    row: Mapped[str] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[CollectionCase] = relationship()
