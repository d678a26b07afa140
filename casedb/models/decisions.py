"""Published decision tables and the decisions the rules service took with them.

``published_ruleset`` holds every version of a decision table that may run, as its canonical JSON
document; versions are never edited in place, so ``(name, version)`` is unique and the checksum
proves what ran. ``rule_decision`` is the provenance of every decision: which table version,
which rows fired, what they said, and the facts they saw, keyed by the change event that caused it
so that applying an event twice is impossible (``uq_rule_decision_event_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base
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
