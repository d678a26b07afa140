"""A case's timeline: contacts, promises and change events in one list, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import ChangeEvent, ContactAttempt, PromiseToPay


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    summary: str
    actor: str | None


def case_timeline(session: Session, case_id: int, limit: int = 200) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            c.started_at,
            "contact",
            f"{c.channel.value} · {c.party.value} · {c.outcome.value}"
            + (f" · {c.notes}" if c.notes else ""),
            None,
        )
        for c in session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.case_id == case_id)
            .order_by(ContactAttempt.started_at.desc())
            .limit(limit)
        )
    ]
    entries += [
        TimelineEntry(
            p.created_at,
            "promise",
            f"{p.amount} by {p.promised_for} · {p.status.value}",
            None,
        )
        for p in session.scalars(
            select(PromiseToPay).where(PromiseToPay.case_id == case_id).limit(limit)
        )
    ]
    entries += [
        TimelineEntry(e.occurred_at, e.kind.value, _describe(e.payload), e.actor)
        for e in session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.case_id == case_id)
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
