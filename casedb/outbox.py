"""Writing change events in the same transaction as the change they describe.

The rules service reads the outbox in id order and marks what it acted on; because an event is
only ever written by the transaction that made the change, a rolled-back change leaves no event
and a committed one can never be missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from casedb.models import ChangeEvent, EventKind
from casedb.types import utcnow


def emit(
    session: Session,
    kind: EventKind,
    *,
    case_id: int | None = None,
    customer_id: int | None = None,
    loan_id: int | None = None,
    payload: dict[str, Any] | None = None,
    actor: str | None = None,
) -> ChangeEvent:
    event = ChangeEvent(
        kind=kind,
        case_id=case_id,
        customer_id=customer_id,
        loan_id=loan_id,
        payload=payload or {},
        actor=actor,
        occurred_at=utcnow(),
    )
    session.add(event)
    return event


def emit_many(session: Session, events: Iterable[dict[str, Any]], actor: str | None = None) -> int:
    """Bulk form of :func:`emit` for importers; each dict has ``kind`` and optional ids/payload."""
    now = utcnow()
    rows = [
        {
            "kind": e["kind"],
            "case_id": e.get("case_id"),
            "customer_id": e.get("customer_id"),
            "loan_id": e.get("loan_id"),
            "payload": e.get("payload", {}),
            "actor": actor,
            "occurred_at": now,
            "attempts": 0,
        }
        for e in events
    ]
    if rows:
        session.execute(insert(ChangeEvent), rows)
    return len(rows)


def pending(session: Session, limit: int = 500, after_id: int = 0) -> list[ChangeEvent]:
    """Undelivered events in commit order."""
    return list(
        session.scalars(
            select(ChangeEvent)
            .where(ChangeEvent.delivered_at.is_(None), ChangeEvent.id > after_id)
            .order_by(ChangeEvent.id)
            .limit(limit)
        )
    )
