"""Collection cases, and the contacts and promises collectors log against them."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casedb.models.base import Base, Timestamps, external_id, money, str_enum
from casedb.models.customers import ContactPoint, Customer, ThirdPartyContact
from casedb.models.loans import Loan
from casedb.models.organisation import Collector, Team


class CaseStatus(enum.StrEnum):
    NEW = "new"
    IN_COLLECTION = "in_collection"
    PROMISED = "promised"
    PAID = "paid"
    SETTLED = "settled"
    LEGAL = "legal"
    WRITTEN_OFF = "written_off"
    CLOSED = "closed"


OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.IN_COLLECTION, CaseStatus.PROMISED, CaseStatus.LEGAL)


class CollectionCase(Timestamps, Base):
    """One delinquent loan under collection, from its first missed due date until it ends."""

    __tablename__ = "collection_case"
    __table_args__ = (
        Index(None, "collector_id", "status", "priority_score"),
        Index(None, "team_id", "status"),
        Index(None, "status", "bucket"),
        # The console's case list: its default order (priority, then id, both descending) and
        # a bucket filter sorted by DPD read the first page from these without a sort of 1M rows;
        # a collector's list filtered by bucket reads only that collector's bucket.
        Index("ix_collection_case_priority", "priority_score", "id"),
        Index("ix_collection_case_bucket_dpd", "bucket", "dpd", "id"),
        Index("ix_collection_case_collector_bucket", "collector_id", "bucket", "dpd"),
        # The day's cases opened and closed, for the portfolio snapshot (reports.snapshots).
        Index("ix_collection_case_opened_on", "opened_on"),
        Index("ix_collection_case_closed_on", "closed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan.id"), unique=True)
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus), default=CaseStatus.NEW)
    opened_on: Mapped[date]
    closed_on: Mapped[date | None]
    dpd: Mapped[int] = mapped_column(default=0, index=True)
    bucket: Mapped[str] = mapped_column(String(8))
    overdue_principal: Mapped[Decimal] = money()
    overdue_interest: Mapped[Decimal] = money()
    overdue_fees: Mapped[Decimal] = money()
    # Overdue amount when the case was opened: the denominator of the recovery rate.
    overdue_at_entry: Mapped[Decimal] = money()
    outstanding_balance: Mapped[Decimal] = money()
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    risk_level: Mapped[str | None] = mapped_column(String(16))
    priority_score: Mapped[int] = mapped_column(default=0)
    priority_level: Mapped[str | None] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collector.id"))
    strategy: Mapped[str | None] = mapped_column(String(64))
    next_action: Mapped[str | None] = mapped_column(String(64))
    next_action_due_at: Mapped[datetime | None]
    on_hold: Mapped[bool] = mapped_column(default=False)

    customer: Mapped[Customer] = relationship()
    loan: Mapped[Loan] = relationship()
    team: Mapped[Team | None] = relationship()
    collector: Mapped[Collector | None] = relationship()

    @property
    def overdue_amount(self) -> Decimal:
        return self.overdue_principal + self.overdue_interest + self.overdue_fees

    def __str__(self) -> str:
        return self.case_no


class Channel(enum.StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    LETTER = "letter"
    VISIT = "visit"
    APP_PUSH = "app_push"


class Party(enum.StrEnum):
    DEBTOR = "debtor"
    THIRD_PARTY = "third_party"
    EMERGENCY_CONTACT = "emergency_contact"
    ATTORNEY = "attorney"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Outcome(enum.StrEnum):
    """What came of a contact; RPC outcomes are conversations with the debtor themself."""

    RIGHT_PARTY_CONTACT = "rpc"
    PROMISE_TO_PAY = "ptp"
    REFUSED_TO_PAY = "refused_to_pay"
    DISPUTE = "dispute"
    HARDSHIP = "hardship"
    ALREADY_PAID = "already_paid"
    THIRD_PARTY_REACHED = "third_party_reached"
    THIRD_PARTY_REFUSED = "third_party_refused"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    NOT_IN_SERVICE = "not_in_service"
    WRONG_NUMBER = "wrong_number"
    CEASE_REQUESTED = "cease_requested"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


RIGHT_PARTY_OUTCOMES = frozenset(
    {
        Outcome.RIGHT_PARTY_CONTACT,
        Outcome.PROMISE_TO_PAY,
        Outcome.REFUSED_TO_PAY,
        Outcome.DISPUTE,
        Outcome.HARDSHIP,
        Outcome.ALREADY_PAID,
        Outcome.CEASE_REQUESTED,
    }
)


# Outcomes in which someone answered and spoke: a connected call (CN caps count these).
CONNECTED_OUTCOMES = RIGHT_PARTY_OUTCOMES | {
    Outcome.WRONG_NUMBER,
    Outcome.THIRD_PARTY_REACHED,
    Outcome.THIRD_PARTY_REFUSED,
}


class ContactAttempt(Timestamps, Base):
    """One call, message, letter or visit, logged with its outcome."""

    __tablename__ = "contact_attempt"
    __table_args__ = (
        Index(None, "case_id", "started_at"),
        Index(None, "customer_id", "started_at"),
        # The daily portfolio snapshot reads one day's contacts (reports.snapshots).
        Index("ix_contact_attempt_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_no: Mapped[str] = external_id()
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collector.id"), index=True)
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_point.id"), index=True)
    third_party_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("third_party_contact.id"), index=True
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    party: Mapped[Party] = mapped_column(str_enum(Party), default=Party.DEBTOR)
    direction: Mapped[Direction] = mapped_column(str_enum(Direction), default=Direction.OUTBOUND)
    started_at: Mapped[datetime]
    # The debtor's IANA time zone at the time, so "local time of the call" stays reproducible.
    local_timezone: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome))
    notes: Mapped[str | None] = mapped_column(Text)

    case: Mapped[CollectionCase] = relationship()
    contact_point: Mapped[ContactPoint | None] = relationship()
    third_party_contact: Mapped[ThirdPartyContact | None] = relationship()

    @property
    def right_party_contact(self) -> bool:
        return self.party is Party.DEBTOR and self.outcome in RIGHT_PARTY_OUTCOMES


class PromiseStatus(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    PARTLY_KEPT = "partly_kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseToPay(Timestamps, Base):
    """A debtor's promise to pay an amount by a date, tracked to kept or broken."""

    __tablename__ = "promise_to_pay"
    __table_args__ = (
        Index(None, "status", "promised_for"),
        # The daily portfolio snapshot reads one day's resolved promises (reports.snapshots).
        Index("ix_promise_to_pay_resolved_on", "resolved_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    promise_no: Mapped[str] = external_id()
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"), index=True)
    contact_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("contact_attempt.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("collector.id"))
    amount: Mapped[Decimal] = money()
    promised_for: Mapped[date]
    status: Mapped[PromiseStatus] = mapped_column(
        str_enum(PromiseStatus), default=PromiseStatus.PENDING
    )
    amount_paid: Mapped[Decimal] = money()
    resolved_on: Mapped[date | None]

    case: Mapped[CollectionCase] = relationship()
