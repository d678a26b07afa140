"""Deciding every open case again: after a new table version is published, and after the tick.

:func:`request_reevaluation` records a run and splits the open cases into chunks of consecutive
case ids in the caller's transaction (so a publish and its re-evaluation commit together). The
rules-service processes work the chunks between outbox events (:class:`Reevaluator`), one chunk
per transaction, taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that N processes share a
run; a crash rolls the chunk back and it is taken again.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from casedb.models import OPEN_STATUSES, CollectionCase, ReevaluationChunk, ReevaluationRun
from casedb.types import utcnow
from rules_service.decision_table import Kind

# Cases per chunk: big enough that the per-chunk reads (collectors, their loads, the latest
# decisions) are amortised, small enough that a chunk's transaction stays short.
CHUNK_SIZE = 2000


def request_reevaluation(
    session: Session,
    reason: str,
    kinds: Iterable[Kind] | None = None,
    by: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ReevaluationRun:
    """Ask the rules service to decide every open case again with the ``kinds`` tables (all the
    running ones when ``None``); returns the run, flushed, in the caller's transaction."""
    ids = session.scalars(
        select(CollectionCase.id)
        .where(CollectionCase.status.in_(OPEN_STATUSES))
        .order_by(CollectionCase.id)
    ).all()
    chunks = [ids[start : start + chunk_size] for start in range(0, len(ids), chunk_size)]
    now = utcnow()
    run = ReevaluationRun(
        reason=reason[:200],
        kinds=sorted(kind.value for kind in kinds or ()),
        requested_by=by,
        requested_at=now,
        cases=len(ids),
        chunks=len(chunks),
        finished_at=None if chunks else now,
    )
    session.add(run)
    session.flush()
    if chunks:
        session.execute(
            insert(ReevaluationChunk),
            [
                {
                    "run_id": run.id,
                    "first_case_id": chunk[0],
                    "last_case_id": chunk[-1],
                    "cases": len(chunk),
                    "evaluated": 0,
                    "changed": 0,
                    "recorded": 0,
                    "attempts": 0,
                }
                for chunk in chunks
            ],
        )
    return run
