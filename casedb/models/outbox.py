"""The change-event outbox: facts the rules service must react to, written with the change."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, str_enum
from casedb.types import utcnow


class EventKind(enum.StrEnum):
    CASE_OPENED = "case_opened"
    PAYMENT_POSTED = "payment_posted"
    CONTACT_LOGGED = "contact_logged"
    PROMISE_MADE = "promise_made"
    PROMISE_KEPT = "promise_kept"
    PROMISE_BROKEN = "promise_broken"
    RATING_CHANGED = "rating_changed"
    DPD_CHANGED = "dpd_changed"
    CASE_UPDATED = "case_updated"
    # A collector's capacity went down, or they left or changed team: their cases are rebalanced.
    COLLECTOR_CHANGED = "collector_changed"


class ChangeEvent(Base):
    """One fact that changed, in commit order; ``delivered_at`` is set once it was acted on."""

    __tablename__ = "change_event"
    __table_args__ = (
        Index(
            "ix_change_event_pending",
            "id",
            postgresql_where=text("delivered_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loan.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who or what made the change: a username, "import:<batch id>", "rules".
    actor: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
