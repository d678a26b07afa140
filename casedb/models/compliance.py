"""Compliance: the debtor's standing instructions, the gate's log, and versioned policies.

``debtor_instruction`` holds what a debtor (or a contact person) told the collector that limits
contact — consent, cease, opt-out of a channel, representation by an attorney, a refusal, an
agreement to late hours — in the same vocabulary as the replay file. ``compliance_check`` is the
gate's log: every question asked and its answer, append-only (database triggers refuse UPDATE
and DELETE, like the audit trail). ``compliance_policy`` holds the policy versions analysts edit
under the same maker-checker life cycle as decision tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, str_enum
from casedb.models.decisions import VersionStatus
from casedb.types import utcnow

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class DebtorInstruction(Base):
    """Something said that limits contact; holds until revoked (consent lapses by its window)."""

    __tablename__ = "debtor_instruction"
    __table_args__ = (Index(None, "customer_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    # The debt it is about; None: every debt of the customer.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"))
    # consent, cease, opt_out, represented, refused, agreement (casedb.compliance.events).
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    party: Mapped[str | None] = mapped_column(String(24))
    third_party_contact_id: Mapped[int | None] = mapped_column(ForeignKey("third_party_contact.id"))
    contact_point_id: Mapped[int | None] = mapped_column(ForeignKey("contact_point.id"))
    # Consent to a call at a given time; what an agreement allows ("late_hours").
    consent_for: Mapped[datetime | None]
    allows: Mapped[str | None] = mapped_column(String(32))
    given_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class ComplianceCheck(Base):
    """One question to the gate and its answer; never changed once written."""

    __tablename__ = "compliance_check"
    __table_args__ = (
        Index(None, "checked_at"),
        Index(None, "case_id", "checked_at"),
        Index(None, "verdict", "checked_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the contact would happen (the gate judges that moment).
    contact_at: Mapped[datetime]
    case_id: Mapped[int | None] = mapped_column(ForeignKey("collection_case.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    # click (a collector in the console), automated (a treatment step), api (an agency), log.
    origin: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    party: Mapped[str] = mapped_column(String(24))
    # Masked: the log is read by auditors who do not need the full number.
    target: Mapped[str | None] = mapped_column(String(128))
    policy: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(8))
    # [{"id", "verdict", "message", "message_zh", "source"}]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    earliest_allowed_at: Mapped[datetime | None]
    # The first blocking rule, for counting blocked contacts by rule without reading JSON.
    blocking_rule: Mapped[str | None] = mapped_column(String(40), index=True)


class CompliancePolicyVersion(Base):
    """One version of a compliance policy, from draft to retired (maker-checker)."""

    __tablename__ = "compliance_policy"
    __table_args__ = (UniqueConstraint("name", "version"), Index(None, "status", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    status: Mapped[VersionStatus] = mapped_column(
        str_enum(VersionStatus), default=VersionStatus.DRAFT
    )
    document: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("compliance_policy.id"))
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
