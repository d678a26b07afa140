"""Treatment: the paths cases follow, the tasks and messages they produce, and settlements.

A treatment path (``treatment_path``) is a versioned list of steps with day offsets, each with a
script or template in Chinese and English; the strategy table names the path a case follows.
``treatment_progress`` records where each case is on each path it has followed, so a case that
leaves a path (a promise to pay puts it on the follow-up path) and comes back resumes at the
step it had reached. Each step that falls due becomes a ``case_task``; the automated ones
(SMS, e-mail, letter, app push) also an ``outbound_message`` that the sender delivers once.
``settlement`` holds discounted settlements and payment plans, with who proposed and approved.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casedb.models.base import Base, Timestamps, money, str_enum
from casedb.models.cases import CollectionCase
from casedb.models.decisions import VersionStatus
from casedb.types import utcnow

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class TreatmentPath(Base):
    """One version of a treatment path as analysts author it, from draft to retired (the
    same maker-checker life cycle as a decision table's versions)."""

    __tablename__ = "treatment_path"
    __table_args__ = (UniqueConstraint("name", "version"), Index(None, "status", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    status: Mapped[VersionStatus] = mapped_column(
        str_enum(VersionStatus), default=VersionStatus.DRAFT
    )
    # {"name", "title": {zh, en}, "steps": [{"id", "action", "offset_days", "after",
    #  "escalate_after_hours", "template": {"zh": {"subject", "body"}, "en": {...}}}]}
    document: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_path.id"))
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class TreatmentProgress(Base):
    """Where one case is on one path: the next step to create and what its offset counts from.

    ``entered_on`` and ``anchor_on`` (the day the previous step fell due) move forward by the
    days the case spent elsewhere when it comes back, so a pause does not make every step due
    at once on return.
    """

    __tablename__ = "treatment_progress"
    __table_args__ = (
        UniqueConstraint("case_id", "path"),
        Index("ix_treatment_progress_current", "current", "case_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"))
    path: Mapped[str] = mapped_column(String(64))
    path_version: Mapped[int]
    entered_on: Mapped[date]
    anchor_on: Mapped[date]
    next_step: Mapped[int] = mapped_column(default=0)
    # The path the case follows now (one per case); False once the strategy moved it on.
    current: Mapped[bool] = mapped_column(default=True)
    left_on: Mapped[date | None]


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    # The case left the path, ended or was put on hold before the task was done.
    CANCELLED = "cancelled"


class CaseTask(Base):
    """One step of a path that fell due on a case: a call to make, a letter to send."""

    __tablename__ = "case_task"
    __table_args__ = (
        UniqueConstraint("case_id", "path", "step"),
        Index("ix_case_task_queue", "collector_id", "status", "due_at"),
        Index("ix_case_task_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    path: Mapped[str] = mapped_column(String(64))
    path_version: Mapped[int]
    step: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    automated: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime]
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.OPEN)
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collector.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who asked for a task a person raised (a write-off recommendation); None for path steps.
    created_by: Mapped[str | None] = mapped_column(String(64))
    # Overdue manual tasks escalate to the team's supervisor (an alert in the inbox).
    escalate_after_hours: Mapped[int | None]
    escalated_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    contact_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))

    case: Mapped[CollectionCase] = relationship()


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"
    # Handed to the sender; a crash here is resolved by asking the sender (idempotency key).
    SENDING = "sending"
    SENT = "sent"
    # Retries exhausted; a person looks at it.
    FAILED = "failed"
    # The compliance gate refused it (reason in last_error); never sent.
    BLOCKED = "blocked"


class OutboundMessage(Base):
    """An automated contact produced by a path step: one per task, delivered at most once."""

    __tablename__ = "outbound_message"
    __table_args__ = (Index("ix_outbound_message_queue", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(BIG_ID, ForeignKey("case_task.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    recipient: Mapped[str | None] = mapped_column(String(256))
    subject: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(
        str_enum(MessageStatus), default=MessageStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # What the sender called the delivery (gateway message id, file name of a letter).
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    # Letters: the generated document, filed with the case.
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    document_name: Mapped[str | None] = mapped_column(String(128))

    case: Mapped[CollectionCase] = relationship()


class SettlementKind(enum.StrEnum):
    # One payment of a discounted amount closes the case.
    SETTLEMENT = "settlement"
    # The amount owed in instalments, no discount.
    PAYMENT_PLAN = "payment_plan"


class SettlementStatus(enum.StrEnum):
    # Above the proposer's discount limit: waits for a supervisor.
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class Settlement(Timestamps, Base):
    """A settlement or payment plan agreed on a case, with its approval."""

    __tablename__ = "settlement"
    __table_args__ = (Index(None, "status", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    kind: Mapped[SettlementKind] = mapped_column(str_enum(SettlementKind))
    status: Mapped[SettlementStatus] = mapped_column(
        str_enum(SettlementStatus), default=SettlementStatus.PROPOSED
    )
    owed_amount: Mapped[Decimal] = money()
    agreed_amount: Mapped[Decimal] = money()
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0))
    # [{"due_on": "2026-12-01", "amount": "500.00"}, ...]
    instalments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    amount_paid: Mapped[Decimal] = money()
    proposed_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]
    decided_note: Mapped[str | None] = mapped_column(Text)
    ended_on: Mapped[date | None]

    case: Mapped[CollectionCase] = relationship()
