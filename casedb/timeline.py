"""A case's timeline: contacts, promises, change events and rule decisions, newest first.

Times are shown in the debtor's zone (what the collector talked about was the debtor's "10:30"),
and each fact appears once: a contact and a promise are their own rows, so the events that
announced them to the rules service are left out. A rule decision shows its provenance: table,
version, the row that fired with its conditions, and what it changed on the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb.models import (
    ChangeEvent,
    Collector,
    ContactAttempt,
    EventKind,
    PromiseToPay,
    RuleDecision,
)

# Events whose fact the timeline already shows as a contact or promise row.
SHOWN_AS_ROWS = (EventKind.CONTACT_LOGGED, EventKind.PROMISE_MADE)
# Who the timeline names for decisions the rules service took.
RULES_ACTOR = "rules"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    summary: str
    actor: str | None


def case_timeline(
    session: Session, case_id: int, zone: str | None = None, limit: int = 200
) -> list[TimelineEntry]:
    """The case's history, newest first, with times in ``zone`` (default: the configured one)."""
    local = ZoneInfo(zone or config.DEFAULT_TIMEZONE)
    entries = [
        TimelineEntry(
            c.started_at.astimezone(local),
            "contact",
            f"{c.channel.value} · {c.party.value} · {c.outcome.value}"
            + (f" · {c.notes}" if c.notes else ""),
            collector,
        )
        for c, collector in session.execute(
            select(ContactAttempt, Collector.name)
            .outerjoin(Collector, Collector.id == ContactAttempt.collector_id)
            .where(ContactAttempt.case_id == case_id)
            .order_by(ContactAttempt.started_at.desc())
            .limit(limit)
        )
    ]
    entries += [
        TimelineEntry(
            p.created_at.astimezone(local),
            "promise",
            f"{p.amount} by {p.promised_for} · {p.status.value}",
            collector,
        )
        for p, collector in session.execute(
            select(PromiseToPay, Collector.name)
            .outerjoin(Collector, Collector.id == PromiseToPay.collector_id)
            .where(PromiseToPay.case_id == case_id)
            .order_by(PromiseToPay.id.desc())
            .limit(limit)
        )
    ]
    entries += [
        TimelineEntry(e.occurred_at.astimezone(local), e.kind.value, _describe(e.payload), e.actor)
        for e in session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.case_id == case_id, ChangeEvent.kind.not_in(SHOWN_AS_ROWS))
            .order_by(ChangeEvent.id.desc())
            .limit(limit)
        )
    ]
    entries += [
        TimelineEntry(d.decided_at.astimezone(local), "decision", describe_decision(d), RULES_ACTOR)
        for d in session.scalars(
            select(RuleDecision)
            .where(RuleDecision.case_id == case_id)
            .order_by(RuleDecision.id.desc())
            .limit(limit)
        )
        # An alert table that raised nothing is not news.
        if d.rows or d.error
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


# What a decision changed that its row's outputs do not already say.
_SHOWN_APPLIED = ("team", "collector", "unchanged", "note")
_SYMBOLS = ((">=", "≥"), ("<=", "≤"), ("!=", "≠"))


def condition_text(fact: str, cell: str) -> str:
    """One decision-table cell read as a condition: ``dpd ≥ 90``, ``bucket = "M4+"``."""
    for ascii_op, symbol in _SYMBOLS:
        cell = cell.replace(ascii_op, symbol)
    if cell.startswith(("<", ">", "=", "≥", "≤", "≠")):
        return f"{fact} {cell}"
    if cell.startswith(("[", "(")):
        return f"{fact} in {cell}"
    if cell.startswith("not(") and cell.endswith(")"):
        return f"{fact} not in ({cell[4:-1]})"
    return f"{fact} = {cell}"


def conditions_text(when: dict[str, str]) -> str:
    """A row's cells (the ``-`` ones already left out) joined as one condition."""
    return " and ".join(condition_text(fact, cell) for fact, cell in when.items()) or "always"


def describe_decision(decision: RuleDecision) -> str:
    """``assignment v7 row A04: team=legal_review, collector=C-001 (bucket = "M4+")``."""
    head = f"{decision.ruleset} v{decision.version}"
    if decision.error:
        return f"{head}: could not decide ({decision.error})"
    if not decision.outputs:
        return f"{head}: no row matched"
    parts = []
    for output in decision.outputs:
        applied = decision.applied or {}
        shown = {
            **output.get("then", {}),
            **{k: applied[k] for k in _SHOWN_APPLIED if k in applied},
        }
        values = ", ".join(
            f"{k}={v}" for k, v in shown.items() if v is not None and not k.startswith("message_")
        )
        parts.append(f"row {output['row']}: {values} ({conditions_text(output.get('when', {}))})")
    return f"{head} " + "; ".join(parts)


def _describe(payload: dict) -> str:
    if "old_status" in payload:
        text = f"{payload['old_status']} → {payload['status']}"
        return text + (f" ({payload['reason']})" if payload.get("reason") else "")
    return ", ".join(f"{k}={v}" for k, v in payload.items() if not isinstance(v, list | dict))
