"""A case's timeline: contacts, promises and change events in one list, newest first.

Times are shown in the debtor's zone (what the collector talked about was the debtor's "10:30"),
and each fact appears once: a contact and a promise are their own rows, so the events that
announced them to the rules service are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb.models import ChangeEvent, Collector, ContactAttempt, EventKind, PromiseToPay

# Events whose fact the timeline already shows as a contact or promise row.
SHOWN_AS_ROWS = (EventKind.CONTACT_LOGGED, EventKind.PROMISE_MADE)


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
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


def _describe(payload: dict) -> str:
    if "old_status" in payload:
        text = f"{payload['old_status']} → {payload['status']}"
        return text + (f" ({payload['reason']})" if payload.get("reason") else "")
    return ", ".join(f"{k}={v}" for k, v in payload.items() if not isinstance(v, list | dict))
