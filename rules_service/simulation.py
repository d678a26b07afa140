"""Simulating a draft decision table over the open portfolio, before anyone publishes it.

For every open case, :func:`simulate` reads the facts (as re-evaluation does, 2,000 cases per
eight queries), evaluates the version of the same kind that runs now and the draft, both with
the plain-Python reference evaluator (no durable-rules engine, no sids: the same code on the same
facts on both sides, so a difference is the draft's and not the evaluator's), and works out what
each would do to the case with the service's own outcome rules (:func:`rules_service.decide
.outcome`): team and collector by skill, region, language and load against capacity; priority
score and level; treatment path and next action; alerts raised. Each side has its own book of
collectors' loads, kept in memory, so the workload after the draft is simulated as the service
would build it, case by case, and nothing is written.

The result (JSON) says how many cases change team, collector, priority, strategy, next action
and alerts, the transitions (old → new counts), the workload per team and collector now, under
the running version and under the draft against capacity, a sample of changed cases with both
decisions and the rows behind them, the cases that could not be decided and the time it took.

The console runs it as an RQ job (:func:`start_simulation` → :func:`simulation_job`) that reports
progress in the job's ``meta`` and keeps the result with the version (``simulation``).
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rq import Queue, get_current_job
from rq.job import Job
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from casedb import audit
from casedb.audit import jsonable
from casedb.delinquency import business_date
from casedb.models import (
    OPEN_STATUSES,
    CollectionCase,
    Collector,
    Customer,
    PublishedRuleset,
    RulesetVersion,
    Team,
)
from casedb.session import default_engine, transaction
from casedb.types import utcnow
from rules_service.bulk_decide import STATE_COLUMNS
from rules_service.case_facts import facts_of_cases
from rules_service.decide import CaseState, Decision, Staff, outcome
from rules_service.decision_table import DecisionTable, Kind, TableError, checksum, from_json
from rules_service.facts import FactError, FactValue
from rules_service.hits import Hit, UniqueHitError
from rules_service.policy import LoadedTable
from rules_service.reference import evaluate as reference_evaluate

ACTOR = "rules-simulation"
JOB_FUNCTION = "rules_service.simulation.simulation_job"
# 1,000,000 open cases take a few minutes on two cores; RQ's default of 180 s would kill it.
JOB_TIMEOUT_SECONDS = 2 * 3600
# The result lives on the version; the job's own summary and progress only need to outlast a
# console session or a weekend.
JOB_KEPT_SECONDS = 7 * 24 * 3600
CHUNK = 2000
# Distinct fact combinations remembered per table: cases that read the same facts get the same
# answer from a deterministic evaluator, so it is computed once (bounded, for memory). A table
# over amounts sees few repeats: after MEMO_TRIAL answers with under a tenth reused, it stops
# remembering.
MEMO_LIMIT = 100_000
MEMO_TRIAL = 20_000
# Examples of each kind of error kept in the result; transitions listed per field.
EXAMPLES = 10
TRANSITIONS = 50

# Case fields compared between the two sides, under the names the result uses.
CASE_FIELDS: dict[str, str] = {
    "team_id": "team",
    "collector_id": "collector",
    "priority_level": "priority_level",
    "priority_score": "priority_score",
    "strategy": "strategy",
    "next_action": "next_action",
}
# Decision outputs compared that have no column on the case.
OUTPUT_FIELDS = ("segment", "arm", "alerts")
# What a changed case's sample entry shows of each side, per kind.
VIEW: Mapping[Kind, tuple[str, ...]] = {
    Kind.ASSIGNMENT: ("team", "collector"),
    Kind.PRIORITY: ("priority_score", "priority_level"),
    Kind.STRATEGY: ("strategy", "next_action", "segment", "arm"),
    Kind.ALERT: ("alerts",),
}

Facts = Mapping[str, FactValue | None]
Progress = Callable[[int, int], None]


# --- the version that runs now ---------------------------------------------------------------


def running_version(session: Session, kind: Kind) -> LoadedTable | None:
    """The version of ``kind`` the rules service runs: the newest active published one whose
    document loads and matches its checksum (what :meth:`Policy.refresh` chooses), read without
    compiling it into an engine."""
    rows = session.execute(
        select(
            PublishedRuleset.id,
            PublishedRuleset.name,
            PublishedRuleset.version,
            PublishedRuleset.checksum,
            PublishedRuleset.document,
        )
        .where(PublishedRuleset.kind == kind.value, PublishedRuleset.active.is_(True))
        .order_by(PublishedRuleset.id.desc())
    )
    for row in rows:
        try:
            table = from_json(row.document)
        except TableError:
            continue
        digest = checksum(table)
        if (table.kind, table.name, table.version, digest) == (
            kind,
            row.name,
            row.version,
            row.checksum,
        ):
            return LoadedTable(row.id, table, digest, table.qualified_name)
    return None


# --- evaluating ------------------------------------------------------------------------------


class _Side:
    """One table evaluated with the reference evaluator, remembering answers per distinct
    combination of the facts the table reads (the answer depends on nothing else)."""

    def __init__(self, loaded: LoadedTable | None) -> None:
        self.loaded = loaded
        self.table = loaded.table if loaded is not None else None
        self.names = self.table.fact_names if self.table is not None else ()
        self._memo: (
            dict[tuple[Any, ...], tuple[list[Hit], list[dict[str, Any]]] | Exception] | None
        ) = {}
        self.calls = 0
        self.reused = 0

    def answer(self, facts: Facts) -> tuple[list[Hit], list[dict[str, Any]]] | Exception | None:
        """(hits, outputs as a decision holds them), or the error, or None without a table."""
        if self.table is None:
            return None
        self.calls += 1
        memo = self._memo
        if memo is not None:
            key = tuple([facts.get(name) for name in self.names])
            found = memo.get(key)
            if found is not None:
                self.reused += 1
                return found
        try:
            hits = reference_evaluate(self.table, facts)
            found = (hits, [{"row": hit.row_id, "then": hit.outputs} for hit in hits])
        except (FactError, UniqueHitError) as error:
            found = error
        if memo is not None:
            if self.calls == MEMO_TRIAL and self.reused * 10 < MEMO_TRIAL:
                self._memo = None
            else:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = found
        return found

    def decision(self, answer: Any) -> Decision | None:
        """The decision :func:`outcome` applies (a fresh one: it notes what it applied)."""
        if not isinstance(answer, tuple) or self.loaded is None:
            return None
        hits, outputs = answer
        return Decision(self.loaded.kind, self.loaded, [h.row_id for h in hits], outputs, {})


def _extras(kind: Kind, answer: Any) -> tuple[Any, Any, Any]:
    """(segment, arm, alerts) a decision gives that the case has no column for."""
    if not isinstance(answer, tuple) or not answer[0]:
        return None, None, ()
    hits = answer[0]
    if kind is Kind.STRATEGY:
        then = hits[0].outputs
        return then.get("segment"), then.get("arm"), ()
    if kind is Kind.ALERT:
        return None, None, tuple(sorted({str(hit.outputs.get("alert")) for hit in hits}))
    return None, None, ()


# --- the result being built ------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts over the cases simulated so far."""

    cases: int = 0
    changed: Counter[str] = field(default_factory=Counter)
    transitions: dict[str, Counter[tuple[Any, Any]]] = field(default_factory=dict)
    rows_before: Counter[str] = field(default_factory=Counter)
    rows_after: Counter[str] = field(default_factory=Counter)
    alerts_before: Counter[str] = field(default_factory=Counter)
    alerts_after: Counter[str] = field(default_factory=Counter)
    teams: dict[str, Counter[int | None]] = field(
        default_factory=lambda: {side: Counter() for side in ("current", "before", "after")}
    )
    collectors: dict[str, Counter[int | None]] = field(
        default_factory=lambda: {side: Counter() for side in ("current", "before", "after")}
    )
    score_delta: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # n, sum, min, max
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    seen_changed: int = 0

    def moved(self, name: str, old: Any, new: Any) -> None:
        self.changed[name] += 1
        self.transitions.setdefault(name, Counter())[(old, new)] += 1

    def error(self, kind: str, case_no: str, side: str, error: Exception) -> None:
        self.errors[kind] += 1
        if sum(1 for e in self.examples if e["kind"] == kind) < EXAMPLES:
            self.examples.append(
                {"kind": kind, "case_no": case_no, "side": side, "error": str(error)}
            )


@dataclass(frozen=True)
class _Names:
    """Teams and collectors by id (active or not), for labels and capacity."""

    teams: dict[int, Any]
    collectors: dict[int, Any]

    @classmethod
    def read(cls, session: Session) -> _Names:
        teams = {
            row.id: row
            for row in session.execute(select(Team.id, Team.code, Team.name, Team.active))
        }
        collectors = {
            row.id: row
            for row in session.execute(
                select(
                    Collector.id,
                    Collector.code,
                    Collector.name,
                    Collector.team_id,
                    Collector.capacity,
                    Collector.active,
                )
            )
        }
        return cls(teams, collectors)

    def team(self, team_id: int | None) -> str | None:
        row = self.teams.get(team_id) if team_id is not None else None
        return None if team_id is None else (row.code if row is not None else f"#{team_id}")

    def collector(self, collector_id: int | None) -> str | None:
        if collector_id is None:
            return None
        row = self.collectors.get(collector_id)
        return row.code if row is not None else f"#{collector_id}"


_STATE_COLUMNS = (CollectionCase.case_no, *STATE_COLUMNS)


def _open_states(session: Session, after_id: int, limit: int) -> list[tuple[str, CaseState]]:
    """The next ``limit`` open cases after ``after_id`` in id order, as (case_no, state); read
    only (no lock: nothing is written, and the relay must not wait for a simulation)."""
    rows = session.execute(
        select(*_STATE_COLUMNS)
        .join(Customer, Customer.id == CollectionCase.customer_id)
        .where(CollectionCase.status.in_(OPEN_STATUSES), CollectionCase.id > after_id)
        .order_by(CollectionCase.id)
        .limit(limit)
    )
    return [(row[0], CaseState(*row[1:])) for row in rows]


def _snapshot(engine: Engine) -> Engine:
    """On PostgreSQL, one read-only REPEATABLE READ transaction: every chunk, the loads and the
    roster are read as of the same moment, however long the run."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine


# --- simulating ------------------------------------------------------------------------------


def simulate(
    engine: Engine,
    table: DecisionTable,
    progress: Progress | None = None,
    sample: int = 50,
    chunk: int = CHUNK,
    limit: int | None = None,
) -> dict[str, Any]:
    """What ``table`` would change on the open cases if it ran instead of the running version of
    its kind; nothing is written. Returns the JSON-able result (see the module docstring).

    ``progress(done, total)`` is called after every chunk; ``limit`` takes only the first open
    cases by id (a quick trial, or a benchmark's smaller run).
    """
    started = time.perf_counter()
    seconds: Counter[str] = Counter()
    tally = _Tally()
    rng = random.Random(0)  # a sample that is the same on every run over the same data
    with Session(_snapshot(engine)) as session:
        as_of = business_date(session)
        running = running_version(session, table.kind)
        draft = LoadedTable(0, table, checksum(table), table.qualified_name)
        before, after = _Side(running), _Side(draft)
        names = _Names.read(session)
        # Two books of loads: what the running version and what the draft would build.
        staff_before, staff_after = Staff(session, {}), Staff(session, {})
        total = session.scalar(
            select(func.count())
            .select_from(CollectionCase)
            .where(CollectionCase.status.in_(OPEN_STATUSES))
        )
        if limit is not None:
            total = min(total, limit)
        if progress is not None:
            progress(0, total)
        last_id = 0
        while True:
            began = time.perf_counter()
            states = _open_states(session, last_id, min(chunk, total - tally.cases))
            if not states:
                break
            last_id = states[-1][1].id
            facts = facts_of_cases(session, [state.id for _, state in states], as_of)
            seconds["facts"] += time.perf_counter() - began
            began = time.perf_counter()
            answers = []
            for _, state in states:
                case_facts = facts.get(state.id)
                if case_facts is None or isinstance(case_facts, FactError):
                    answers.append((case_facts, None, None))
                else:
                    answers.append(
                        (case_facts, before.answer(case_facts), after.answer(case_facts))
                    )
            seconds["evaluate"] += time.perf_counter() - began
            began = time.perf_counter()
            for (case_no, state), (case_facts, old, new) in zip(states, answers, strict=True):
                _one_case(
                    tally,
                    names,
                    table.kind,
                    (before, after),
                    (staff_before, staff_after),
                    case_no,
                    state,
                    case_facts,
                    old,
                    new,
                    sample,
                    rng,
                )
            seconds["outcome"] += time.perf_counter() - began
            if progress is not None:
                progress(tally.cases, total)
        roster = staff_after  # both read the same roster (one snapshot)
    seconds["total"] = time.perf_counter() - started
    return _result(table, running, as_of, tally, names, roster, (before, after), seconds)


def _one_case(
    tally: _Tally,
    names: _Names,
    kind: Kind,
    sides: tuple[_Side, _Side],
    staffs: tuple[Staff, Staff],
    case_no: str,
    state: CaseState,
    case_facts: Any,
    old: Any,
    new: Any,
    sample: int,
    rng: random.Random,
) -> None:
    """Apply both sides' decisions to copies of one case and count what differs."""
    tally.cases += 1
    tally.teams["current"][state.team_id] += 1
    tally.collectors["current"][state.collector_id] += 1
    if case_facts is None or isinstance(case_facts, FactError):
        error = case_facts or FactError("*", None, "the case's facts could not be read")
        tally.error("facts_refused", case_no, "both", error)
        for side in ("before", "after"):
            tally.teams[side][state.team_id] += 1
            tally.collectors[side][state.collector_id] += 1
        return
    results = []
    for label, side, staff, answer in (
        ("before", sides[0], staffs[0], old),
        ("after", sides[1], staffs[1], new),
    ):
        if isinstance(answer, Exception):
            what = "unique_overlap" if isinstance(answer, UniqueHitError) else "fact_type"
            tally.error(what, case_no, label, answer)
        decision = side.decision(answer)
        case = copy.copy(state)
        outcome(staff, case, [decision] if decision is not None else [])
        tally.teams[label][case.team_id] += 1
        tally.collectors[label][case.collector_id] += 1
        rows = answer[0] if isinstance(answer, tuple) else []
        counter = tally.rows_before if label == "before" else tally.rows_after
        for hit in rows:
            counter[hit.row_id] += 1
        extras = _extras(kind, answer)
        alerts = tally.alerts_before if label == "before" else tally.alerts_after
        for alert in extras[2]:
            alerts[alert] += 1
        results.append((case, decision, extras, answer))
    (b, b_decision, b_extras, b_answer), (a, a_decision, a_extras, a_answer) = results
    changed = []
    for attribute, name in CASE_FIELDS.items():
        old_value, new_value = getattr(b, attribute), getattr(a, attribute)
        if old_value != new_value:
            changed.append(name)
            if name == "priority_score":
                tally.changed[name] += 1
                delta = tally.score_delta
                step = (new_value or 0) - (old_value or 0)
                delta[0] += 1
                delta[1] += step
                delta[2] = step if delta[0] == 1 else min(delta[2], step)
                delta[3] = step if delta[0] == 1 else max(delta[3], step)
            else:
                tally.moved(name, old_value, new_value)
    for name, old_value, new_value in zip(OUTPUT_FIELDS, b_extras, a_extras, strict=True):
        if old_value != new_value:
            changed.append(name)
            tally.moved(name, old_value, new_value)
    old_rows = [h.row_id for h in b_answer[0]] if isinstance(b_answer, tuple) else None
    new_rows = [h.row_id for h in a_answer[0]] if isinstance(a_answer, tuple) else None
    if old_rows != new_rows:
        tally.changed["rows"] += 1
    if not changed:
        return
    tally.changed["any"] += 1
    tally.seen_changed += 1
    # Reservoir sampling: every changed case has the same chance to be shown; only the chosen
    # ones are described.
    if len(tally.sample) < sample:
        slot = len(tally.sample)
        tally.sample.append({})
    else:
        slot = rng.randrange(tally.seen_changed)
        if slot >= sample:
            return
    tally.sample[slot] = {
        "case_id": state.id,
        "case_no": case_no,
        "changed": changed,
        "current": _view(kind, names, state, (None, None, ())),
        "before": _described(kind, names, sides[0], b, b_decision, b_extras, b_answer),
        "after": _described(kind, names, sides[1], a, a_decision, a_extras, a_answer),
    }


def _view(kind: Kind, names: _Names, case: CaseState, extras: tuple[Any, Any, Any]) -> dict:
    values = {
        "team": names.team(case.team_id),
        "collector": names.collector(case.collector_id),
        "priority_score": case.priority_score,
        "priority_level": case.priority_level,
        "strategy": case.strategy,
        "next_action": case.next_action,
        "segment": extras[0],
        "arm": extras[1],
        "alerts": list(extras[2]),
    }
    return {name: values[name] for name in VIEW[kind]}


def _described(
    kind: Kind,
    names: _Names,
    side: _Side,
    case: CaseState,
    decision: Decision | None,
    extras: tuple[Any, Any, Any],
    answer: Any,
) -> dict[str, Any]:
    """One side of a sample entry: the case as it would be, the rows that decided and why."""
    table = side.table
    described: dict[str, Any] = _view(kind, names, case, extras)
    described["version"] = table.qualified_name if table is not None else None
    described["rows"] = [
        {"row": hit.row_id, "when": table.conditions[hit.row_id], "then": jsonable(hit.outputs)}
        for hit in (answer[0] if isinstance(answer, tuple) else [])
        if table is not None
    ]
    described["applied"] = jsonable(decision.applied) if decision is not None else {}
    described["error"] = str(answer) if isinstance(answer, Exception) else None
    return described


def _transitions(counter: Counter[tuple[Any, Any]], label: Callable[[Any], Any]) -> dict:
    ranked = counter.most_common()
    return {
        "top": [
            {"from": label(old), "to": label(new), "cases": n}
            for (old, new), n in ranked[:TRANSITIONS]
        ],
        "more": len(ranked) - min(len(ranked), TRANSITIONS),
    }


def _workload(tally: _Tally, names: _Names, roster: Staff) -> dict[str, Any]:
    """Open cases per team and collector now, under the running version and under the draft,
    against capacity (a team's is its active collectors' sum)."""
    team_capacity: Counter[int | None] = Counter()
    for collector in roster.collectors.values():
        team_capacity[collector.team_id] += collector.capacity
    team_ids = (
        set(tally.teams["current"]) | set(tally.teams["before"]) | set(tally.teams["after"])
    ) - {None}
    team_ids |= {team.id for team in roster.teams}
    teams = []
    for team_id in sorted(team_ids):
        row = names.teams.get(team_id)
        capacity = team_capacity[team_id]
        loads = {side: tally.teams[side][team_id] for side in ("current", "before", "after")}
        teams.append(
            {
                "id": team_id,
                "code": row.code if row is not None else None,
                "name": row.name if row is not None else None,
                "active": bool(row.active) if row is not None else False,
                "capacity": capacity,
                **loads,
                "over_before": loads["before"] > capacity,
                "over_after": loads["after"] > capacity,
            }
        )
    collector_ids = (
        set(tally.collectors["current"])
        | set(tally.collectors["before"])
        | set(tally.collectors["after"])
    ) - {None}
    collector_ids |= set(roster.collectors)
    collectors = []
    for collector_id in sorted(collector_ids):
        row = names.collectors.get(collector_id)
        capacity = row.capacity if row is not None else 0
        loads = {
            side: tally.collectors[side][collector_id] for side in ("current", "before", "after")
        }
        collectors.append(
            {
                "id": collector_id,
                "code": row.code if row is not None else None,
                "name": row.name if row is not None else None,
                "team": names.team(row.team_id) if row is not None else None,
                "active": bool(row.active) if row is not None else False,
                "capacity": capacity,
                **loads,
                "over_before": loads["before"] > capacity,
                "over_after": loads["after"] > capacity,
            }
        )
    return {
        "teams": teams,
        "collectors": collectors,
        "no_team": {side: tally.teams[side][None] for side in ("current", "before", "after")},
        "no_collector": {
            side: tally.collectors[side][None] for side in ("current", "before", "after")
        },
        "over_capacity": {
            "teams_before": sum(t["over_before"] for t in teams),
            "teams_after": sum(t["over_after"] for t in teams),
            "collectors_before": sum(c["over_before"] for c in collectors),
            "collectors_after": sum(c["over_after"] for c in collectors),
        },
    }


def _result(
    table: DecisionTable,
    running: LoadedTable | None,
    as_of: date,
    tally: _Tally,
    names: _Names,
    roster: Staff,
    sides: tuple[_Side, _Side],
    seconds: Counter[str],
) -> dict[str, Any]:
    labels: dict[str, Callable[[Any], Any]] = {"team": names.team, "collector": names.collector}
    n, total, low, high = tally.score_delta
    calls = sum(side.calls for side in sides)
    return {
        "draft": {
            "name": table.name,
            "kind": table.kind.value,
            "version": table.version,
            "checksum": checksum(table),
            "rows": len(table.rows),
        },
        "running": (
            {
                "published_id": running.published_id,
                "name": running.table.name,
                "version": running.table.version,
                "checksum": running.checksum,
                "rows": len(running.table.rows),
            }
            if running is not None
            else None
        ),
        "as_of": as_of.isoformat(),
        "simulated_at": utcnow().isoformat(),
        "cases": tally.cases,
        "changed": {
            name: tally.changed[name]
            for name in ("any", "rows", *CASE_FIELDS.values(), *OUTPUT_FIELDS)
        },
        "transitions": {
            name: _transitions(counter, labels.get(name, lambda value: value))
            for name, counter in sorted(tally.transitions.items())
        },
        "priority_score_delta": (
            {"cases": n, "mean": total / n, "min": low, "max": high} if n else None
        ),
        "rows_fired": {
            "before": dict(tally.rows_before.most_common()),
            "after": dict(tally.rows_after.most_common()),
        },
        "alerts_raised": {
            "before": dict(tally.alerts_before.most_common()),
            "after": dict(tally.alerts_after.most_common()),
        },
        "workload": _workload(tally, names, roster),
        "sample": [entry for entry in tally.sample if entry],
        "errors": {
            "facts_refused": tally.errors["facts_refused"],
            "unique_overlap": tally.errors["unique_overlap"],
            "fact_type": tally.errors["fact_type"],
            "examples": tally.examples,
        },
        "timings": {
            "facts_s": round(seconds["facts"], 3),
            "evaluate_s": round(seconds["evaluate"], 3),
            "outcome_s": round(seconds["outcome"], 3),
            "total_s": round(seconds["total"], 3),
            "evaluations": calls,
            "answers_reused": sum(side.reused for side in sides),
        },
    }


# --- the background job ----------------------------------------------------------------------


def _publish(job: Job | None, **meta: Any) -> None:
    if job is not None:
        job.meta.update(meta)
        job.save_meta()


def _reporter(job: Job | None, every: float = 1.0) -> Progress:
    """Progress into the job's meta, at most once a second (and always the last)."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if job is not None and (done in (0, total) or now - last[0] >= every):
            last[0] = now
            _publish(job, progress={"done": done, "total": total})

    return report


def summary_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The headline of a result: what the job returns and the audit trail records."""
    if "error" in result:
        return {"error": result["error"]}
    return {
        "cases": result["cases"],
        "changed": result["changed"],
        "errors": {k: v for k, v in result["errors"].items() if k != "examples"},
        "as_of": result["as_of"],
        "checksum": result["draft"]["checksum"],
    }


def store_result(
    engine: Engine, version_id: int, result: dict[str, Any], job_id: str | None
) -> bool:
    """Keep ``result`` with the version (False when the version is gone).

    Written with one UPDATE, not through the ORM: the audit trail gets one ``simulate`` entry
    with the headline numbers instead of the whole result (and the previous one) per run.
    Whether a kept result is still the draft's is told by ``result["draft"]["checksum"]``.
    """
    with transaction(engine) as session:
        session.info["actor"] = ACTOR
        previous = session.execute(
            select(RulesetVersion.simulation_job_id).where(RulesetVersion.id == version_id)
        ).first()
        if previous is None:
            return False
        session.execute(
            update(RulesetVersion)
            .where(RulesetVersion.id == version_id)
            .values(simulation=result, simulation_job_id=job_id)
        )
        audit.append(
            session,
            [
                audit.Change(
                    ACTOR,
                    "simulate",
                    RulesetVersion.__tablename__,
                    str(version_id),
                    {"simulation_job_id": previous[0]},
                    {"simulation_job_id": job_id, **summary_of(result)},
                )
            ],
        )
    return True


def simulation_job(version_id: int) -> dict[str, Any]:
    """The RQ job: simulate ruleset version ``version_id`` over the open portfolio, keep the
    result on the version and return its headline. A version that does not exist or whose
    document does not parse gives an error result (kept on the version if it exists)."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    engine = default_engine()
    try:
        with Session(engine) as session:
            version = session.get(RulesetVersion, version_id)
            if version is None:
                reason = f"no ruleset version with id {version_id}"
                _publish(job, stage="failed", error=reason)
                return {"version_id": version_id, "job_id": job_id, "error": reason}
            label, document = str(version), version.document
        try:
            table = from_json(document)
        except TableError as problem:
            reason = f"{label}: the document does not parse: {problem}"
            result = {"error": reason, "simulated_at": utcnow().isoformat()}
            store_result(engine, version_id, result, job_id)
            _publish(job, stage="failed", error=reason)
            return {"version_id": version_id, "job_id": job_id, "error": reason}
        _publish(job, stage="simulating", version=label)
        result = simulate(engine, table, progress=_reporter(job))
        result["draft"]["version_id"] = version_id
        result["job_id"] = job_id
        stored = store_result(engine, version_id, result, job_id)
        _publish(job, stage="finished" if stored else "failed")
        if not stored:
            return {"version_id": version_id, "job_id": job_id, "error": f"{label} was deleted"}
        return {"version_id": version_id, "job_id": job_id, **summary_of(result)}
    except Exception as exc:
        _publish(job, stage="failed", error=f"{type(exc).__name__}: {exc}")
        raise


def start_simulation(queue: Queue, version_id: int, session: Session | None = None) -> Job:
    """Queue a simulation of version ``version_id`` and note its job on the version.

    In the caller's ``session`` (the console's, which commits; the change is audited under its
    user), else in a transaction of its own. Raises ``LookupError`` for an unknown version.
    """
    if session is None:
        with transaction() as own:
            own.info["actor"] = ACTOR
            return start_simulation(queue, version_id, own)
    version = session.get(RulesetVersion, version_id)
    if version is None:
        raise LookupError(f"no ruleset version with id {version_id}")
    job = queue.enqueue(
        JOB_FUNCTION,
        version_id,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=JOB_KEPT_SECONDS,
        failure_ttl=JOB_KEPT_SECONDS,
        description=f"simulate {version} over the open portfolio",
        meta={"version_id": version_id, "stage": "queued", "progress": None},
    )
    version.simulation_job_id = job.id
    session.flush()
    return job
