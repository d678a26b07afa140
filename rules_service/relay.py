"""The rules service's consumer of the case database's outbox (``change_event``).

The outbox table itself is the durable queue; there is no broker in between, so there is nothing
to lose between the two. For the cases with pending events, up to :data:`CASES_PER_TRANSACTION`
at a time (what accumulated since the last pass: under load the relay batches like a group
commit, idle it takes the one case that woke it), one database transaction:

1. takes the cases (PostgreSQL: ``pg_try_advisory_xact_lock`` on each case id, skipping those
   another process holds; SQLite: ``BEGIN IMMEDIATE``, which serialises writers),
2. reads their pending events in id order (after taking the cases, so it sees everything
   committed by whoever had them before),
3. evaluates the running tables once per case on its current facts (read for all the cases
   together, :mod:`rules_service.bulk_decide`),
4. applies the decisions to the cases (one audit entry per changed case, actor
   ``rules-service``),
5. inserts one ``rule_decision`` row per event and ruleset (skipping any event that already has
   decisions: the apply is idempotent by event id even if an event is marked pending again), and
6. sets ``delivered_at`` on those events,

and commits. If the transaction fails, each of its cases is tried alone, so one bad case waits
for its retry without holding up the others. Steps 4-6 commit together or not at all: a crash
or ``kill -9`` anywhere before the commit rolls everything back and the events are still
pending for the next run (at-least-once delivery); once committed they are never taken again
(exactly-once effect). The unique key
``(event_id, ruleset)`` on ``rule_decision`` makes a double apply fail instead of doubling.

Order: one case is only ever worked by the transaction that holds it, and each transaction takes
all of its cases' pending events in id order, so a case's events are applied in order and never
concurrently. Decisions are computed from the case's committed state, not from event payloads, so
even an event committed late with a lower id (ids are taken at insert, not at commit) cannot make
an older state win: the last transaction for a case always decides on its newest state.

The service writes no change events for its own changes (no loop).

Between events the process works the chunks of requested re-evaluation runs
(:mod:`rules_service.bulk_decide`), one chunk at a time, so an event never waits behind a whole
run. Idle, it waits for the next event: on PostgreSQL a trigger sends ``NOTIFY change_event`` as
an event commits and the relay wakes at once (the poll interval is only the fallback); on SQLite
it polls.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casedb import audit
from casedb.models import ChangeEvent, CollectionCase, EventKind, PublishedRuleset, RuleDecision
from casedb.types import utcnow
from rules_service.alerts import raise_alerts
from rules_service.bulk_decide import (
    Reevaluator,
    audit_each_case,
    decide_states,
    insert_decisions,
    read_states,
    write_changes,
)
from rules_service.decide import RosterCache, Staff
from rules_service.policy import Policy
from rules_service.rebalance import rebalance_collector

log = logging.getLogger(__name__)

ACTOR = "rules-service"
# Namespace of the per-case advisory locks (the first key of pg_try_advisory_xact_lock(int, int)).
CASE_LOCK_SPACE = 7_001
# A case whose transaction failed is retried after this many seconds (by this process).
RETRY_AFTER = 30.0
# Cases decided together in one transaction (fewer round trips; one bad case is found by
# retrying its batch one case at a time).
CASES_PER_TRANSACTION = 50
# Longest wait between tries while the database is unreachable.
MAX_OUTAGE_WAIT = 30.0


class OutboxWakeup:
    """Waits for ``NOTIFY change_event`` on PostgreSQL (sent by a trigger as events commit);
    anywhere else, or while the database is unreachable, it simply sleeps."""

    def __init__(self, engine: Engine) -> None:
        self.url = (
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            if engine.dialect.name == "postgresql"
            else None
        )
        self._connection: psycopg.Connection | None = None

    def _listening(self) -> psycopg.Connection | None:
        if self.url is None:
            return None
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(self.url, autocommit=True)
                self._connection.execute("LISTEN change_event")
            except psycopg.Error:
                log.warning("rules: cannot LISTEN for events; polling instead")
                self._connection = None
        return self._connection

    def wait(self, timeout: float, stopping: Callable[[], bool] = lambda: False) -> None:
        """Return at the next event, after ``timeout`` seconds, or within a second of
        ``stopping()`` turning true (a SIGTERM must not wait out a long poll)."""
        deadline = time.monotonic() + timeout
        while not stopping() and (left := deadline - time.monotonic()) > 0:
            if self._wait_once(min(left, 1.0)):
                return

    def _wait_once(self, timeout: float) -> bool:
        connection = self._listening()
        if connection is None:
            time.sleep(timeout)
            return False
        try:
            return any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error:
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class PassResult:
    delivered: int = 0
    cases: int = 0
    busy: int = 0  # cases another process held
    failed: int = 0
    failures: list[str] = field(default_factory=list)


class Relay:
    """Consumes the outbox for one process; run several on PostgreSQL to share the work."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy | None = None,
        batch: int = 200,
        after_case: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy or Policy()
        self.batch = batch
        self.postgres = engine.dialect.name == "postgresql"
        self._retry_at: dict[int, float] = {}
        self._after_case = after_case  # a test hook: called after each committed case
        self.roster = RosterCache()
        self.reevaluator = Reevaluator(engine, self.policy)
        self.reevaluated = 0
        self.wakeup = OutboxWakeup(engine)

    # --- one pass ---------------------------------------------------------------------------

    def refresh(self) -> None:
        with Session(self.engine) as session:
            self.policy.refresh(session)
        self._report_isolations()

    def _report_isolations(self) -> None:
        """Alert on versions isolated after failing at run time: an error in the log and an
        entry in the audit trail, which auditors and the console read."""
        while self.policy.isolations:
            loaded, reason = self.policy.isolations[0]
            fallback = self.policy.current.get(loaded.kind)
            with Session(self.engine) as session, session.begin():
                self._begin(session)
                audit.append(
                    session,
                    [
                        audit.Change(
                            ACTOR,
                            "isolate",
                            PublishedRuleset.__tablename__,
                            str(loaded.published_id),
                            None,
                            {
                                "ruleset": loaded.table.name,
                                "version": loaded.table.version,
                                "reason": reason,
                                "running_instead": fallback.engine_name if fallback else None,
                            },
                        )
                    ],
                )
            self.policy.isolations.pop(0)

    def run_pass(self) -> PassResult:
        """Refresh the policy, then work the cases of the oldest pending events once."""
        self.refresh()
        result = PassResult()
        if not self.policy.current:
            log.warning("no published ruleset is running; run `python run.py rules publish`")
            return result
        now = time.monotonic()
        ready: list[int] = []
        for case_id in self._pending_cases():
            if case_id is None:
                result.delivered += self._deliver_caseless()
            elif self._retry_at.get(case_id, 0) > now:
                result.failed += 1
            else:
                ready.append(case_id)
        for start in range(0, len(ready), CASES_PER_TRANSACTION):
            group = ready[start : start + CASES_PER_TRANSACTION]
            try:
                self._work_cases(group, result)
            except DBAPIError as error:
                if error.connection_invalidated:  # the database, not a case: run() waits
                    raise
                self._each_alone(group, now, result)
            except Exception:
                self._each_alone(group, now, result)
        return result

    def _each_alone(self, group: list[int], now: float, result: PassResult) -> None:
        """Find the bad case of a failed batch: each alone, so the others go through."""
        if len(group) == 1:
            self._failed(group[0], now, result)
            return
        log.warning("rules: a batch of %d cases failed; trying each alone", len(group))
        for case_id in group:
            try:
                self._work_cases([case_id], result)
            except Exception:
                self._failed(case_id, now, result)

    def _failed(self, case_id: int, now: float, result: PassResult) -> None:
        error = sys.exc_info()[1]
        log.exception("rules: case %s failed; retrying later", case_id)
        self._retry_at[case_id] = now + RETRY_AFTER
        self._note_failure(case_id, error)
        result.failed += 1
        result.failures.append(f"case {case_id}: {error}")

    def _pending_cases(self) -> list[int | None]:
        """Cases of the oldest pending events, oldest first (reads the partial pending index)."""
        now = time.monotonic()
        waiting = [case_id for case_id, at in self._retry_at.items() if at > now][:1000]
        query = select(ChangeEvent.case_id).where(ChangeEvent.delivered_at.is_(None))
        if waiting:  # failed cases wait for their retry without holding up the others
            query = query.where(ChangeEvent.case_id.is_(None) | ChangeEvent.case_id.not_in(waiting))
        query = query.order_by(ChangeEvent.id).limit(self.batch * 4)
        if self.postgres:  # skip what another process is working on: it takes the next cases
            query = query.with_for_update(skip_locked=True)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return list(dict.fromkeys(row.case_id for row in rows))[: self.batch]

    def _begin(self, session: Session) -> None:
        if not self.postgres:
            session.connection(execution_options={"sqlite_immediate": True})

    def _take(self, session: Session, case_ids: list[int]) -> list[int]:
        """The cases this transaction may work: on PostgreSQL those whose advisory lock it got
        (one round trip for all), elsewhere all (the writer lock is held)."""
        if not self.postgres:
            return case_ids
        return list(
            session.scalars(
                text(
                    "SELECT c FROM unnest(CAST(:ids AS bigint[])) AS c"
                    " WHERE pg_try_advisory_xact_lock(:space, c::int)"
                ),
                {"ids": case_ids, "space": CASE_LOCK_SPACE},
            )
        )

    def _work_cases(self, case_ids: list[int], result: PassResult) -> None:
        """Apply the pending events of ``case_ids`` in one transaction; counts into ``result``
        the cases worked, the events delivered and the cases another process had."""
        with Session(self.engine, info={"actor": ACTOR}) as session, session.begin():
            self._begin(session)
            taken = self._take(session, case_ids)
            busy = len(case_ids) - len(taken)
            if not taken:
                result.busy += busy
                return
            events = session.execute(
                select(ChangeEvent.id, ChangeEvent.case_id)
                .where(ChangeEvent.case_id.in_(taken), ChangeEvent.delivered_at.is_(None))
                .order_by(ChangeEvent.id)
                .with_for_update()
            ).all()
            if not events:
                result.busy += busy
                return
            event_ids = [row.id for row in events]
            # Idempotence keyed by event id: an event that already has decisions (delivered once,
            # then marked pending again by hand or by a restore) is not applied a second time.
            done = set(
                session.scalars(
                    select(RuleDecision.event_id).where(RuleDecision.event_id.in_(event_ids))
                )
            )
            todo: dict[int, list[int]] = {}
            for row in events:
                if row.id not in done:
                    todo.setdefault(row.case_id, []).append(row.id)
            if todo:
                states = read_states(session, CollectionCase.id.in_(sorted(todo)))
                staff = Staff(session, roster=self.roster)
                outcomes = decide_states(session, self.policy, states, staff)
                changed = write_changes(session, outcomes)
                records = [
                    decision.record(o.state.id, event_id)
                    for o in outcomes
                    for event_id in todo[o.state.id]
                    for decision in o.decisions
                ]
                alert_decisions = insert_decisions(session, records) if records else {}
                raise_alerts(session, outcomes, alert_decisions)
                session.execute(
                    update(ChangeEvent)
                    .where(ChangeEvent.id.in_(event_ids))
                    .values(
                        delivered_at=utcnow(), attempts=ChangeEvent.attempts + 1, last_error=None
                    )
                )
                audit_each_case(session, changed)  # last: holds the audit lock to the commit
            else:
                session.execute(
                    update(ChangeEvent)
                    .where(ChangeEvent.id.in_(event_ids))
                    .values(
                        delivered_at=utcnow(), attempts=ChangeEvent.attempts + 1, last_error=None
                    )
                )
        worked = {row.case_id for row in events}
        for case_id in worked:
            self._retry_at.pop(case_id, None)
        result.cases += len(worked)
        result.delivered += len(event_ids)
        result.busy += busy
        if self._after_case is not None:
            for case_id in sorted(worked):
                self._after_case(case_id)

    def _deliver_caseless(self) -> int:
        """Events about no case. A ``collector_changed`` rebalances the collector's cases in the
        transaction that consumes it, so a crash before the commit redoes it; the others have
        nothing to do and are consumed as they are. An event whose rebalance met a case another
        process held, or failed, stays pending and is taken again on a later pass."""
        with Session(self.engine, info={"actor": ACTOR}) as session, session.begin():
            self._begin(session)
            events = session.execute(
                select(ChangeEvent.id, ChangeEvent.kind, ChangeEvent.payload)
                .where(ChangeEvent.case_id.is_(None), ChangeEvent.delivered_at.is_(None))
                .order_by(ChangeEvent.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            by_collector: dict[int, list[int]] = {}
            for event in events:
                collector_id = (event.payload or {}).get("collector_id")
                if event.kind == EventKind.COLLECTOR_CHANGED and collector_id is not None:
                    by_collector.setdefault(int(collector_id), []).append(event.id)

            def take_case(case_id: int) -> bool:  # the lock _work_case takes, without waiting
                return not self.postgres or bool(
                    session.scalar(
                        text("SELECT pg_try_advisory_xact_lock(:space, :case_id)"),
                        {"space": CASE_LOCK_SPACE, "case_id": case_id},
                    )
                )

            waiting: set[int] = set()
            for collector_id, event_ids in by_collector.items():  # once per collector: by state
                try:
                    with session.begin_nested():
                        rebalanced = rebalance_collector(session, collector_id, take_case)
                except Exception as error:  # one bad collector must not stop the rest
                    log.exception("rules: rebalancing collector %s failed", collector_id)
                    waiting.update(event_ids)
                    session.execute(
                        update(ChangeEvent)
                        .where(ChangeEvent.id.in_(event_ids))
                        .values(attempts=ChangeEvent.attempts + 1, last_error=str(error)[:2000])
                    )
                    continue
                if rebalanced.busy:  # what was moved stays moved; the rest on the next pass
                    waiting.update(event_ids)
            ids = [event.id for event in events if event.id not in waiting]
            if ids:
                session.execute(
                    update(ChangeEvent)
                    .where(ChangeEvent.id.in_(ids))
                    .values(delivered_at=utcnow(), attempts=ChangeEvent.attempts + 1)
                )
        return len(ids)

    def _note_failure(self, case_id: int, error: Exception) -> None:
        try:
            with Session(self.engine) as session, session.begin():
                self._begin(session)
                session.execute(
                    update(ChangeEvent)
                    .where(ChangeEvent.case_id == case_id, ChangeEvent.delivered_at.is_(None))
                    .values(attempts=ChangeEvent.attempts + 1, last_error=str(error)[:2000])
                )
        except Exception:  # the database itself may be what failed
            log.exception("rules: could not record the failure of case %s", case_id)

    # --- the process ------------------------------------------------------------------------

    def run(
        self,
        once: bool = False,
        poll: float = 1.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Work until ``stopping()``; with ``once``, until nothing is left that this process can
        take (cases another process holds are waited for). Returns the events delivered."""
        total = 0
        outage = 0.0
        try:
            while not stopping():
                try:
                    result = self.run_pass()
                    total += result.delivered
                    if result.delivered:
                        outage = 0.0
                        continue
                    chunk = self.reevaluator.work_chunk() if self.policy.current else None
                    self._report_isolations()
                except DBAPIError as error:
                    # The database is down or restarting: nothing was committed by the failed
                    # transaction, so nothing is lost; wait (up to 30 s between tries) and resume.
                    outage = min(max(outage * 2, 0.5), MAX_OUTAGE_WAIT)
                    log.error("rules: database unavailable (%s); retrying in %.1f s", error, outage)
                    self.wakeup.close()
                    self.wakeup.wait(outage, stopping)
                    continue
                outage = 0.0
                if chunk is not None:
                    self.reevaluated += chunk.evaluated
                    continue
                if once and not result.busy:
                    if not self.policy.current:
                        raise RuntimeError(
                            "no published ruleset is running; run `python run.py rules publish`"
                        )
                    break
                if result.busy:
                    time.sleep(0.05)
                else:
                    self.wakeup.wait(poll, stopping)
        finally:
            self.wakeup.close()
        return total
