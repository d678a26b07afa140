"""Published decision tables and the decisions the rules service took with them.

``published_ruleset`` holds every version of a decision table that may run, as its canonical JSON
document; versions are never edited in place, so ``(name, version)`` is unique and the checksum
proves what ran. ``rule_decision`` is the provenance of every decision: which table version,
which rows fired, what they said, and the facts they saw, keyed by the change event that caused it
so that applying an event twice is impossible (``uq_rule_decision_event_id``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, str_enum
from casedb.types import utcnow


class PublishedRuleset(Base):
    """One published version of a decision table; the newest active one of a kind runs."""

    __tablename__ = "published_ruleset"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index(None, "kind", "active", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    # SHA-256 of the canonical JSON (rules_service.decision_table.checksum).
    checksum: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)


class RuleDecision(Base):
    """What one table version decided for one case, and why (rows, conditions, facts).

    ``event_id`` is the change event that triggered it (``None`` for a manual re-evaluation);
    the unique key on ``(event_id, ruleset)`` makes applying an event twice fail loudly instead
    of doubling its effect.
    """

    __tablename__ = "rule_decision"
    __table_args__ = (
        UniqueConstraint("event_id", "ruleset"),
        Index(None, "case_id", "kind", "id"),
        Index("ix_rule_decision_ruleset_version", "ruleset", "version", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_case.id"))
    event_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("change_event.id")
    )
    ruleset: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    checksum: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # Row ids that fired, in the order the hit policy gives them.
    rows: Mapped[list[str]]
    # Per fired row: {"row", "when" (its non-"-" cells), "then" (its outputs)}.
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The facts the table reads, as the rows saw them (dates as ISO text).
    facts: Mapped[dict[str, Any]]
    # What was changed on the case because of it (team, collector, priority...), or why not.
    applied: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when the table could not decide (a fact of the wrong type, a UNIQUE overlap).
    error: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReevaluationRun(Base):
    """A request to decide every open case again (a new version published, the daily tick).

    The open cases are split into chunks of consecutive case ids when the run is requested; the
    rules-service processes take chunks one at a time, so N processes share a run and a crash
    loses at most the chunk it was working on, which stays undone and is taken again.
    """

    __tablename__ = "reevaluation_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    # The kinds of table to re-run ("assignment", ...); all running kinds when empty.
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    cases: Mapped[int] = mapped_column(default=0)
    chunks: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]


class ReevaluationChunk(Base):
    """Open cases ``first_case_id``..``last_case_id`` of a run; ``done_at`` once committed."""

    __tablename__ = "reevaluation_chunk"
    __table_args__ = (
        Index(
            "ix_reevaluation_chunk_pending",
            "id",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reevaluation_run.id"), index=True)
    first_case_id: Mapped[int]
    last_case_id: Mapped[int]
    cases: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None]
    # Cases decided, cases whose team/collector/priority/strategy changed, decisions recorded.
    evaluated: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    recorded: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"
    RETIRED = "retired"
    REJECTED = "rejected"


class RulesetVersion(Base):
    """One version of a decision table as analysts author it, from draft to retired.

    Only a draft's document and tests change; from submission on, a version is frozen and a
    change is a new draft (``based_on_id``). Who wrote, submitted, approved and published it is
    recorded here and every step is in the audit trail; publishing puts the document into
    ``published_ruleset``, which is what the rules service runs.
    """

    __tablename__ = "ruleset_version"
    __table_args__ = (UniqueConstraint("name", "version"), Index(None, "kind", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    status: Mapped[VersionStatus] = mapped_column(
        str_enum(VersionStatus), default=VersionStatus.DRAFT
    )
    document: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    # Analyst-written test cases: [{"name", "facts": {...}, "expect": {...} | None}].
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Static analysis findings of the document as last saved.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The last simulation over the open portfolio (JSON result), and the job that made it.
    simulation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    simulation_job_id: Mapped[str | None] = mapped_column(String(64))
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("ruleset_version.id"))
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
