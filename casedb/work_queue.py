"""A collector's queue, and get-next: the top case whose customer nobody else is working.

The lock is per customer (a customer with two loans is one conversation), lives in Redis with an
expiry so a collector who walks away does not block the customer for long, and is taken with
SET NX so two collectors pressing get-next at the same moment never get the same customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from redis import Redis
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from casedb.case_tasks import DueTask, earliest_open_tasks
from casedb.models import (
    OPEN_STATUSES,
    CollectionCase,
    Customer,
    PromiseStatus,
    PromiseToPay,
)

LOCK_SECONDS = 15 * 60


@dataclass(frozen=True)
class QueueItem:
    case_id: int
    case_no: str
    customer_id: int
    customer_name: str
    dpd: int
    bucket: str
    overdue: Decimal
    priority_score: int
    priority_level: str | None
    status: str
    next_action: str | None
    next_action_due_at: datetime | None
    broken_promise: bool
    # The case's open path step due first (the treatment run's task), if any.
    task: DueTask | None = None


def my_queue(
    session: Session, collector_id: int, limit: int = 200, now: datetime | None = None
) -> list[QueueItem]:
    """Open, not-on-hold cases of the collector: broken promises first, then by priority, DPD."""
    broken = exists().where(
        PromiseToPay.case_id == CollectionCase.id, PromiseToPay.status == PromiseStatus.BROKEN
    )
    rows = session.execute(
        select(
            CollectionCase.id,
            CollectionCase.case_no,
            CollectionCase.customer_id,
            Customer.name,
            CollectionCase.dpd,
            CollectionCase.bucket,
            CollectionCase.overdue_principal
            + CollectionCase.overdue_interest
            + CollectionCase.overdue_fees,
            CollectionCase.priority_score,
            CollectionCase.priority_level,
            CollectionCase.status,
            CollectionCase.next_action,
            CollectionCase.next_action_due_at,
            broken.label("broken"),
        )
        .join(Customer, Customer.id == CollectionCase.customer_id)
        .where(
            CollectionCase.collector_id == collector_id,
            CollectionCase.status.in_(OPEN_STATUSES),
            CollectionCase.on_hold.is_(False),
        )
        .order_by(
            broken.desc(),
            CollectionCase.priority_score.desc(),
            CollectionCase.dpd.desc(),
            CollectionCase.id,
        )
        .limit(limit)
    ).all()
    tasks = earliest_open_tasks(session, [row[0] for row in rows], now)
    return [
        QueueItem(
            *row[:6],
            Decimal(row[6]).quantize(Decimal("0.01")),
            row[7],
            row[8],
            str(row[9]),
            row[10],
            row[11],
            bool(row[12]),
            tasks.get(row[0]),
        )
        for row in rows
    ]


def lock_key(customer_id: int) -> str:
    return f"ct:customer-lock:{customer_id}"


def get_next(
    session: Session, redis: Redis, collector_id: int, lock_seconds: int = LOCK_SECONDS
) -> QueueItem | None:
    """Lock and return the collector's top case whose customer is free (or already theirs)."""
    owner = str(collector_id)
    for item in my_queue(session, collector_id):
        key = lock_key(item.customer_id)
        if redis.set(key, owner, nx=True, ex=lock_seconds):
            return item
        holder = redis.get(key)
        if holder is not None and holder.decode() == owner:
            redis.expire(key, lock_seconds)
            return item
    return None


def release(redis: Redis, customer_id: int, collector_id: int) -> bool:
    """Give a customer back, only if this collector holds the lock."""
    key = lock_key(customer_id)
    holder = redis.get(key)
    if holder is not None and holder.decode() == str(collector_id):
        return bool(redis.delete(key))
    return False
