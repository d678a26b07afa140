"""Deciding a chunk of open cases at once: the work of a re-evaluation run.

One transaction per chunk (:class:`Reevaluator.work_chunk`):

1. takes the next undone chunk (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so N processes share a
   run; SQLite: ``BEGIN IMMEDIATE``) and locks its open cases (``FOR UPDATE``), so a chunk never
   decides on a state that the outbox relay is changing at the same moment;
2. reads the facts of all its cases with one query per source table and the latest recorded
   decision of each case and kind;
3. evaluates the tables on each case's facts through the engine, exactly as the relay does
   (:func:`rules_service.decide.evaluate` and :func:`~rules_service.decide.outcome`);
4. writes the changed cases with one bulk UPDATE, a ``rule_decision`` row where the decision
   is new, and one audit entry for the chunk listing every change (``reevaluate``, before and
   after per case), last, so that the audit chain's lock is held only until the commit. A
   decision is new when it has another version, other rows, or a change to the case; a
   re-evaluation that comes to the same rows of the same version records nothing, so the daily
   tick does not write four decisions per case per day that say what the last ones said;
5. marks the chunk done, and commits.

A crash before the commit leaves the chunk undone and it is taken again; a chunk that fails is
retried after a pause by this process and the others carry on.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from casedb import audit
from casedb.audit import jsonable
from casedb.bulk_insert import insert_rows
from casedb.models import (
    OPEN_STATUSES,
    CollectionCase,
    Customer,
    ReevaluationChunk,
    ReevaluationRun,
    RuleDecision,
)
from casedb.types import utcnow
from rules_service.alerts import raise_alerts
from rules_service.case_facts import facts_of_cases
from rules_service.decide import (
    CaseState,
    Decision,
    LoadBook,
    RosterCache,
    Staff,
    evaluate,
    outcome,
)
from rules_service.decision_table import Kind
from rules_service.policy import Policy

log = logging.getLogger(__name__)

ACTOR = "rules-service"
RETRY_AFTER = 30.0
# The case fields each kind of decision changes: a decision that changed one is recorded.
FIELDS_OF: dict[Kind, tuple[str, ...]] = {
    Kind.ASSIGNMENT: ("team_id", "collector_id"),
    Kind.PRIORITY: ("priority_score", "priority_level"),
    Kind.STRATEGY: ("strategy", "next_action"),
    Kind.ALERT: (),
}


@dataclass(frozen=True)
class Latest:
    """A case's latest recorded decision of one kind: its id and what it said (ruleset,
    version, rows, error)."""

    id: int
    said: tuple[Any, ...]


@dataclass(frozen=True)
class ChunkResult:
    run_id: int
    chunk_id: int
    evaluated: int
    changed: int
    recorded: int


def _latest_decisions(session: Session, first: int, last: int) -> dict[tuple[int, str], Latest]:
    """What each case's latest recorded decision of each kind said, read through the
    ``(case_id, kind, id)`` index."""
    newest = (
        select(func.max(RuleDecision.id))
        .where(RuleDecision.case_id.between(first, last))
        .group_by(RuleDecision.case_id, RuleDecision.kind)
    )
    rows = session.connection().execute(
        select(
            RuleDecision.id,
            RuleDecision.case_id,
            RuleDecision.kind,
            RuleDecision.ruleset,
            RuleDecision.version,
            RuleDecision.rows,
            RuleDecision.error,
        ).where(RuleDecision.id.in_(newest))
    )
    return {
        (r.case_id, r.kind): Latest(r.id, (r.ruleset, r.version, list(r.rows), r.error))
        for r in rows
    }


def _is_news(decision: Decision, latest: Latest | None, changes: Mapping[str, tuple]) -> bool:
    said = (decision.table.name, decision.table.version, decision.rows, decision.error)
    return (
        latest is None
        or said != latest.said
        or any(name in changes for name in FIELDS_OF[decision.kind])
    )


def insert_decisions(session: Session, records: list[dict[str, Any]]) -> dict[int, int]:
    """Insert decision rows (COPY on PostgreSQL: a chunk writes thousands); returns, per case,
    the id of the last alert decision inserted (what the alerts it raises point at)."""
    ids = insert_rows(session, RuleDecision.__table__, records, return_ids=True)
    return {
        record["case_id"]: id_
        for record, id_ in zip(records, ids, strict=True)
        if record["kind"] == Kind.ALERT.value
    }


# What a decision may change on a case and what it reads to do it (CaseState's fields, in order).
STATE_COLUMNS = (
    CollectionCase.id,
    CollectionCase.status,
    CollectionCase.team_id,
    CollectionCase.collector_id,
    CollectionCase.priority_score,
    CollectionCase.priority_level,
    CollectionCase.strategy,
    CollectionCase.next_action,
    Customer.region,
    Customer.language,
)


def read_states(session: Session, *where: Any) -> list[CaseState]:
    """The cases matching ``where``, locked (``FOR UPDATE`` on PostgreSQL; SQLite's writer
    lock is already held), in id order."""
    query = (
        select(*STATE_COLUMNS)
        .join(Customer, Customer.id == CollectionCase.customer_id)
        .where(*where)
        .order_by(CollectionCase.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=CollectionCase)
    return [CaseState(*row) for row in session.execute(query)]


@dataclass
class Outcome:
    """What the tables decided for one case and what that changed on it."""

    state: CaseState
    decisions: list[Decision]
    changes: dict[str, tuple]


def decide_states(
    session: Session, policy: Policy, states: list[CaseState], staff: Staff, kinds: Any = None
) -> list[Outcome]:
    """Evaluate the tables on each case's facts (read together) and work out the changes."""
    facts = facts_of_cases(session, [state.id for state in states])
    wanted = list(kinds) if kinds else None
    outcomes = []
    for state in states:
        decisions = evaluate(policy, facts[state.id], wanted)
        outcomes.append(Outcome(state, decisions, outcome(staff, state, decisions)))
    return outcomes


# PostgreSQL: every changed case in one statement, its values as arrays (an executemany of
# 2,000 UPDATEs took a seventh of a chunk's time).
_UPDATE_CASES = text(
    "UPDATE collection_case AS c SET team_id = v.team_id, collector_id = v.collector_id,"
    " priority_score = v.priority_score, priority_level = v.priority_level,"
    " strategy = v.strategy, next_action = v.next_action, updated_at = :now"
    " FROM unnest(CAST(:id AS integer[]), CAST(:team_id AS integer[]),"
    " CAST(:collector_id AS integer[]), CAST(:priority_score AS integer[]),"
    " CAST(:priority_level AS varchar[]), CAST(:strategy AS varchar[]),"
    " CAST(:next_action AS varchar[]))"
    " AS v(id, team_id, collector_id, priority_score, priority_level, strategy, next_action)"
    " WHERE c.id = v.id"
)


def write_changes(session: Session, outcomes: list[Outcome]) -> list[Outcome]:
    """One bulk UPDATE of the cases whose fields changed; returns those outcomes."""
    changed = [o for o in outcomes if o.changes]
    if not changed:
        return changed
    if session.get_bind().dialect.name == "postgresql":
        columns = ("id", *CaseState.CHANGEABLE)
        session.execute(
            _UPDATE_CASES,
            {
                "now": utcnow(),
                **{name: [getattr(o.state, name) for o in changed] for name in columns},
            },
        )
    else:
        session.execute(
            update(CollectionCase),
            [
                {"id": o.state.id, **{n: getattr(o.state, n) for n in CaseState.CHANGEABLE}}
                for o in changed
            ],
        )
    return changed


def _fields(changes: Mapping[str, tuple], side: int) -> dict[str, Any]:
    return {name: jsonable(values[side]) for name, values in changes.items()}


def audit_each_case(session: Session, changed: list[Outcome]) -> None:
    """One audit entry per changed case (as the ORM would write it), in one append."""
    if changed:
        audit.append(
            session,
            [
                audit.Change(
                    ACTOR,
                    "update",
                    CollectionCase.__tablename__,
                    str(o.state.id),
                    _fields(o.changes, 0),
                    _fields(o.changes, 1),
                )
                for o in changed
            ],
        )


def decide_cases(
    session: Session,
    policy: Policy,
    first_case_id: int,
    last_case_id: int,
    kinds: Iterable[Kind] | None = None,
    loads: LoadBook | None = None,
    roster: RosterCache | None = None,
) -> tuple[int, int, int]:
    """Decide the open cases with ids ``first_case_id``..``last_case_id`` again in the caller's
    transaction; returns (cases evaluated, cases changed, decisions recorded)."""
    states = read_states(
        session,
        CollectionCase.id.between(first_case_id, last_case_id),
        CollectionCase.status.in_(OPEN_STATUSES),
    )
    if not states:
        return 0, 0, 0
    staff = Staff(session, roster=roster)
    if loads is not None:
        staff.share_loads(loads.current(session, staff.collectors))
    outcomes = decide_states(session, policy, states, staff, kinds)
    latest = _latest_decisions(session, first_case_id, last_case_id)
    records = [
        decision.record(o.state.id, None)
        for o in outcomes
        for decision in o.decisions
        if _is_news(decision, latest.get((o.state.id, decision.kind.value)), o.changes)
    ]
    changed = write_changes(session, outcomes)
    alert_decisions = {
        case_id: known.id for (case_id, kind), known in latest.items() if kind == Kind.ALERT.value
    }
    # Only a case with an earlier alert decision can have an alert already.
    may_have_alerts = set(alert_decisions)
    if records:
        alert_decisions.update(insert_decisions(session, records))
    raise_alerts(session, outcomes, alert_decisions, may_have_alerts)
    if changed:
        # Last: the audit chain's lock is held from here to the commit, so the processes
        # sharing a run queue for it only as long as one insert takes. One entry for the
        # chunk, listing every case's change (a million entries would double the run).
        audit.append(
            session,
            [
                audit.Change(
                    ACTOR,
                    "reevaluate",
                    CollectionCase.__tablename__,
                    f"{first_case_id}..{last_case_id}",
                    {str(o.state.id): _fields(o.changes, 0) for o in changed},
                    {str(o.state.id): _fields(o.changes, 1) for o in changed},
                )
            ],
        )
    return len(states), len(changed), len(records)


_CHUNK_PLANNING = text(
    "SELECT set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('random_page_cost', '1.1', true)"
)


def plan_as_a_chunk(session: Session) -> None:
    """Planner settings for a chunk's key lookups, for the session's transaction only.

    A chunk's reads look up 2,000 keys in tables of millions of rows, which the indexes answer
    in milliseconds. Left to itself, PostgreSQL planned some of them as parallel sequential
    scans (three processes for 40 ms each, on the two cores the service shares with the
    database) and hash joins over a whole table, because its default page costs assume disks
    rather than the cached data it works on. So: no parallel workers, cached-data page costs.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_CHUNK_PLANNING)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a chunk is decided.

    A chunk allocates hundreds of thousands of short-lived dicts, tuples and rows, which
    reference counting frees; yet at the default threshold Python's cycle collector ran 220
    times per chunk (twice over every object the process holds), 14 % of the chunk's time. The
    few cycles a chunk makes (its session) are collected after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Reevaluator:
    """Works the chunks of requested re-evaluation runs, one chunk per transaction."""

    def __init__(self, engine: Engine, policy: Policy) -> None:
        self.engine = engine
        self.policy = policy
        self.postgres = engine.dialect.name == "postgresql"
        self._retry_at: dict[int, float] = {}
        self.loads = LoadBook()
        self.roster = RosterCache()

    def _begin(self, session: Session) -> None:
        if not self.postgres:
            session.connection(execution_options={"sqlite_immediate": True})
        plan_as_a_chunk(session)

    def work_chunk(self) -> ChunkResult | None:
        """Decide the next undone chunk; ``None`` when there is none this process may take."""
        now = time.monotonic()
        waiting = [chunk for chunk, at in self._retry_at.items() if at > now][:1000]
        chunk_id: int | None = None
        try:
            with Session(self.engine, info={"actor": ACTOR}) as session, session.begin():
                self._begin(session)
                query = select(ReevaluationChunk).where(ReevaluationChunk.done_at.is_(None))
                if waiting:
                    query = query.where(ReevaluationChunk.id.not_in(waiting))
                chunk = session.scalars(
                    query.order_by(ReevaluationChunk.id).limit(1).with_for_update(skip_locked=True)
                ).first()
                if chunk is None:
                    self._finish_runs(session)
                    return None
                chunk_id = chunk.id
                run = session.get(ReevaluationRun, chunk.run_id)
                kinds = [Kind(kind) for kind in run.kinds] if run and run.kinds else None
                with cyclic_gc_paused():
                    evaluated, changed, recorded = decide_cases(
                        session,
                        self.policy,
                        chunk.first_case_id,
                        chunk.last_case_id,
                        kinds,
                        self.loads,
                        self.roster,
                    )
                chunk.done_at = utcnow()
                chunk.evaluated, chunk.changed, chunk.recorded = evaluated, changed, recorded
                chunk.attempts += 1
                chunk.last_error = None
                result = ChunkResult(chunk.run_id, chunk.id, evaluated, changed, recorded)
        except Exception as error:  # one bad chunk must not stop the service
            if chunk_id is None:
                raise
            log.exception("rules: re-evaluation chunk %s failed; retrying later", chunk_id)
            self._retry_at[chunk_id] = now + RETRY_AFTER
            self._note_failure(chunk_id, error)
            return ChunkResult(0, chunk_id, 0, 0, 0)
        self._retry_at.pop(chunk_id, None)
        return result

    def _finish_runs(self, session: Session) -> None:
        """Runs whose chunks are all done get their finishing time."""
        undone = select(ReevaluationChunk.id).where(
            ReevaluationChunk.run_id == ReevaluationRun.id, ReevaluationChunk.done_at.is_(None)
        )
        session.execute(
            update(ReevaluationRun)
            .where(ReevaluationRun.finished_at.is_(None), ~undone.exists())
            .values(finished_at=utcnow())
        )

    def _note_failure(self, chunk_id: int, error: Exception) -> None:
        try:
            with Session(self.engine) as session, session.begin():
                self._begin(session)
                session.execute(
                    update(ReevaluationChunk)
                    .where(ReevaluationChunk.id == chunk_id)
                    .values(attempts=ReevaluationChunk.attempts + 1, last_error=str(error)[:2000])
                )
        except Exception:  # the database itself may be what failed
            log.exception("rules: could not record the failure of chunk %s", chunk_id)

    def work(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Work chunks until none is left for this process; returns the cases evaluated."""
        total = 0
        while not stopping():
            result = self.work_chunk()
            if result is None:
                break
            total += result.evaluated
            if result.run_id == 0:  # failed: its retry waits; work the others
                continue
        return total
