"""Deciding every open case again: after a new table version is published, and after the tick.

:func:`request_reevaluation` records a run and splits the open cases into chunks of consecutive
case ids in the caller's transaction (so a publish and its re-evaluation commit together). The
rules-service processes work the chunks between outbox events (:class:`Reevaluator`), one chunk
per transaction, taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that N processes share a
run; a crash rolls the chunk back and it is taken again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from casedb.models import (
    OPEN_STATUSES,
    AuditEntry,
    CollectionCase,
    PublishedRuleset,
    ReevaluationChunk,
    ReevaluationRun,
)
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


@dataclass(frozen=True)
class RunProgress:
    """How far a re-evaluation run has come: what the console's run page shows."""

    id: int
    reason: str
    kinds: list[str]
    requested_by: str | None
    requested_at: datetime
    finished_at: datetime | None
    cases: int
    chunks: int
    chunks_done: int
    evaluated: int
    changed: int
    recorded: int
    # Undone chunks whose last attempt failed (they are retried), and the latest error.
    failing: int
    last_error: str | None
    last_done_at: datetime | None

    @property
    def percent(self) -> int:
        return 100 if not self.chunks else self.chunks_done * 100 // self.chunks

    @property
    def seconds(self) -> float | None:
        """From the request to the last chunk committed (so far)."""
        end = self.finished_at or self.last_done_at
        return (end - self.requested_at).total_seconds() if end else None


def runs_progress(session: Session, limit: int = 20) -> list[RunProgress]:
    """The newest ``limit`` runs with their chunks counted (one aggregate over their chunks)."""
    runs = session.scalars(
        select(ReevaluationRun).order_by(ReevaluationRun.id.desc()).limit(limit)
    ).all()
    if not runs:
        return []
    chunk = ReevaluationChunk
    undone_failed = chunk.done_at.is_(None) & chunk.last_error.is_not(None)
    counts = {
        row.run_id: row
        for row in session.execute(
            select(
                chunk.run_id,
                func.count(chunk.done_at).label("done"),
                func.coalesce(func.sum(chunk.evaluated), 0).label("evaluated"),
                func.coalesce(func.sum(chunk.changed), 0).label("changed"),
                func.coalesce(func.sum(chunk.recorded), 0).label("recorded"),
                func.count().filter(undone_failed).label("failing"),
                func.max(chunk.done_at).label("last_done_at"),
            )
            .where(chunk.run_id.in_([run.id for run in runs]))
            .group_by(chunk.run_id)
        )
    }
    failing = [run_id for run_id, row in counts.items() if row.failing]
    errors = (
        dict(
            session.execute(
                select(chunk.run_id, chunk.last_error)
                .where(chunk.run_id.in_(failing), undone_failed)
                .order_by(chunk.id)  # the latest error of each run last, so it is kept
            ).all()
        )
        if failing
        else {}
    )
    progress = []
    for run in runs:
        row = counts.get(run.id)
        progress.append(
            RunProgress(
                id=run.id,
                reason=run.reason,
                kinds=list(run.kinds or []),
                requested_by=run.requested_by,
                requested_at=run.requested_at,
                finished_at=run.finished_at,
                cases=run.cases,
                chunks=run.chunks,
                chunks_done=row.done if row else 0,
                evaluated=int(row.evaluated) if row else 0,
                changed=int(row.changed) if row else 0,
                recorded=int(row.recorded) if row else 0,
                failing=row.failing if row else 0,
                last_error=errors.get(run.id),
                last_done_at=row.last_done_at if row else None,
            )
        )
    return progress


@dataclass(frozen=True)
class Isolation:
    """A published version a rules-service process stopped running because it failed inside
    the engine, from the ``isolate`` entries of the audit trail."""

    at: datetime
    ruleset: str
    version: int
    reason: str
    running_instead: str | None


def isolations(session: Session, limit: int = 20) -> list[Isolation]:
    """The newest ``limit`` isolations, newest first."""
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.action == "isolate",
            AuditEntry.table_name == PublishedRuleset.__tablename__,
        )
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return [
        Isolation(
            entry.occurred_at,
            str(after.get("ruleset")),
            int(after.get("version") or 0),
            str(after.get("reason") or ""),
            after.get("running_instead"),
        )
        for entry in entries
        if (after := entry.after or {})
    ]
