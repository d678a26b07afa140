"""Deciding for cases: evaluate the running tables on their facts, apply the outcome, record why.

:func:`evaluate` is pure evaluation: one :class:`Decision` per kind with the table version, the
rows that fired with their conditions and outputs, and the facts the table reads (:func:`decide`
reads the facts of one case first). :func:`outcome` turns the decisions into the changes to one
case given the :class:`Staff` (teams, collectors, their loads) and notes on each decision what it
changed, or why not; :func:`apply` makes those changes to one case through the ORM (so the audit
trail records them), and re-evaluation (``rules_service.reevaluation``) makes them to thousands
at once. What they decide:

- assignment: the team named by the row (by team code or name, else :data:`TEAM_ALIASES`), and a
  collector of that team chosen by the row's ``selection``. A case already with an active
  collector of the decided team who has the required skill stays with them (no churn on every
  event); otherwise the least-loaded qualified collector under capacity (``least_loaded`` and
  ``round_robin`` both take the least loaded, which spreads new cases evenly). A case whose status
  is ``promised`` is not moved while the promise runs.
- priority: ``priority_score`` and ``priority_level``.
- strategy: ``strategy`` (the treatment path) and ``next_action``; the segment and the
  champion/challenger arm stay in the decision (the case has no column for them).
- alert: nothing on the case; the decision rows are the alerts.

A table version that fails inside the engine (not a case's bad data: the version itself) is
isolated by the policy and the last good version of its kind decides instead
(:meth:`Policy.isolate`).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.audit import jsonable
from casedb.models import OPEN_STATUSES, CaseStatus, CollectionCase, Collector, Team
from rules_service.case_facts import case_facts
from rules_service.compiler import RulesetError
from rules_service.decision_table import DecisionTable, Kind
from rules_service.facts import FactError, FactValue
from rules_service.hits import UniqueHitError
from rules_service.policy import LoadedTable, Policy

log = logging.getLogger(__name__)

# What the shipped tables call a team, mapped onto the demo's team codes when no team has that
# code or name itself. Production names its teams after the tables' outputs (or edits this).
TEAM_ALIASES: dict[str, tuple[str, ...]] = {
    "early": ("DEMO-T-EARLY",),
    "calls": ("DEMO-T-CALL1", "DEMO-T-CALL2"),
    "late_stage": ("DEMO-T-CALL1", "DEMO-T-CALL2"),
    "high_balance": ("DEMO-T-HIGH",),
    "legal": ("DEMO-T-LEGAL",),
    "legal_review": ("DEMO-T-LEGAL",),
}


@dataclass
class Decision:
    kind: Kind
    loaded: LoadedTable
    rows: list[str]
    outputs: list[dict[str, Any]]
    facts: dict[str, Any]
    error: str | None = None
    applied: dict[str, Any] = field(default_factory=dict)
    # A strategy row's champion/challenger split as it fell for this case (see split_arm).
    split: dict[str, Any] | None = None

    @property
    def table(self) -> DecisionTable:
        return self.loaded.table

    def record(self, case_id: int, event_id: int | None) -> dict[str, Any]:
        """The ``rule_decision`` row of this decision, triggered by ``event_id``."""
        return {
            "case_id": case_id,
            "event_id": event_id,
            "ruleset": self.table.name,
            "version": self.table.version,
            "checksum": self.loaded.checksum,
            "kind": self.kind.value,
            "rows": self.rows,
            "outputs": self.outputs,
            "facts": self.facts,
            "applied": self.applied,
            "error": self.error,
        }


def _seen(table: DecisionTable, facts: Mapping[str, FactValue | None]) -> dict[str, Any]:
    """The facts the table reads, as stored (dates as ISO text)."""
    return {name: jsonable(facts.get(name)) for name in table.fact_names}


def evaluate(
    policy: Policy,
    facts: Mapping[str, FactValue | None] | FactError,
    kinds: Iterable[Kind] | None = None,
) -> list[Decision]:
    """One decision per running table of ``kinds`` (all by default) on one case's facts.

    A fact the catalogue refuses, or a UNIQUE table matching two rows, becomes a decision with
    ``error`` set and no rows: the case keeps what it had. A version the engine fails on is
    isolated and the case is decided by the last good version of that kind instead.
    """
    wanted = set(kinds) if kinds is not None else None
    decisions = []
    for kind in sorted(policy.current):
        if wanted is not None and kind not in wanted:
            continue
        while (loaded := policy.current.get(kind)) is not None:
            decision = _evaluate_table(policy, kind, loaded, facts)
            if decision is not None:
                decisions.append(decision)
                break
    return decisions


def _evaluate_table(
    policy: Policy,
    kind: Kind,
    loaded: LoadedTable,
    facts: Mapping[str, FactValue | None] | FactError,
) -> Decision | None:
    """The table's decision, or ``None`` when the version failed in the engine (isolated)."""
    table = loaded.table
    if isinstance(facts, FactError):
        return Decision(kind, loaded, [], [], {}, error=str(facts))
    seen = _seen(table, facts)
    try:
        hits = policy.engine.evaluate_by_class(loaded.engine_name, facts)
    except (FactError, UniqueHitError) as error:
        return Decision(kind, loaded, [], [], seen, error=str(error))
    except RulesetError as error:
        policy.isolate(loaded, str(error))
        return None
    rows = [hit.row_id for hit in hits]
    outputs = _outputs_of(loaded, hits)
    decision = Decision(kind, loaded, rows, outputs, seen)
    if kind is Kind.STRATEGY and outputs:
        decision.split = split_arm(outputs[0]["then"], facts.get("ab_bucket"))
    return decision


# Per table version and rows that fired, the outputs recorded with the decision: the same for
# every case those rows decide, so built once (shared, never changed afterwards).
_OUTPUTS: dict[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
_MAX_OUTPUTS = 10_000


def _outputs_of(loaded: LoadedTable, hits: list[Any]) -> list[dict[str, Any]]:
    key = (loaded.engine_name, loaded.checksum, tuple(hit.row_id for hit in hits))
    outputs = _OUTPUTS.get(key)
    if outputs is None:
        conditions = loaded.table.conditions
        outputs = [
            {"row": hit.row_id, "when": conditions[hit.row_id], "then": jsonable(dict(hit.outputs))}
            for hit in hits
        ]
        if len(_OUTPUTS) >= _MAX_OUTPUTS:
            _OUTPUTS.clear()
        _OUTPUTS[key] = outputs
    return outputs


def split_arm(then: Mapping[str, Any], bucket: Any) -> dict[str, Any] | None:
    """Which side of a strategy row's champion/challenger split a case falls on.

    The case's ``ab_bucket`` (0-99, a hash of its case number) decides, so the split is random
    across cases but the same for a case every time it is decided; a case with no bucket stays
    with the champion.
    """
    share = then.get("challenger_percent")
    if share is None or then.get("challenger_path") is None:
        return None
    challenger = isinstance(bucket, int) and bucket < share
    return {
        "arm": "challenger" if challenger else then.get("arm"),
        "treatment_path": then["challenger_path"] if challenger else then["treatment_path"],
        "ab_bucket": bucket,
        "challenger_percent": share,
    }


def decide(
    session: Session, policy: Policy, case_id: int, as_of: date | None = None
) -> tuple[dict[str, FactValue | None] | None, list[Decision]]:
    """The facts of the case and one decision per running table (no writes).

    Raises ``LookupError`` for an unknown case.
    """
    try:
        facts: dict[str, FactValue | None] | FactError = case_facts(session, case_id, as_of)
    except FactError as error:
        facts = error
    return (None if isinstance(facts, FactError) else facts), evaluate(policy, facts)


# --- applying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamInfo:
    id: int
    code: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


@dataclass(frozen=True)
class CollectorInfo:
    id: int
    code: str
    name: str
    team_id: int | None
    skills: tuple[str, ...]
    regions: tuple[str, ...]
    languages: tuple[str, ...]
    capacity: int

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


# Who may take a case of some teams, skill, region and language: (prefers another language,
# id, collector), best first; worked out once per roster.
Candidates = list[tuple[bool, int, CollectorInfo]]


@dataclass(frozen=True)
class Roster:
    """The active teams and collectors."""

    teams: list[TeamInfo]
    collectors: dict[int, CollectorInfo]
    by_team: dict[int | None, list[CollectorInfo]]
    teams_by_id: dict[int, TeamInfo] = field(init=False)
    candidates: dict[tuple, Candidates] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "teams_by_id", {team.id: team for team in self.teams})

    @classmethod
    def read(cls, session: Session) -> Roster:
        teams = [
            TeamInfo(t.id, t.code, t.name)
            for t in session.execute(
                select(Team.id, Team.code, Team.name).where(Team.active.is_(True)).order_by(Team.id)
            )
        ]
        collectors = {
            c.id: CollectorInfo(
                c.id,
                c.code,
                c.name,
                c.team_id,
                tuple(c.skills or ()),
                tuple(c.regions or ()),
                tuple(c.languages or ()),
                c.capacity,
            )
            for c in session.execute(
                select(
                    Collector.id,
                    Collector.code,
                    Collector.name,
                    Collector.team_id,
                    Collector.skills,
                    Collector.regions,
                    Collector.languages,
                    Collector.capacity,
                ).where(Collector.active.is_(True))
            )
        }
        by_team: dict[int | None, list[CollectorInfo]] = {}
        for collector in collectors.values():
            by_team.setdefault(collector.team_id, []).append(collector)
        return cls(teams, collectors, by_team)


class RosterCache:
    """The roster a process read last, read again only when a team or collector changed.

    Reading a thousand collectors with their skills, regions and languages costs far more than
    deciding a case; whether any changed is one aggregate (row count and newest ``updated_at``
    of both tables), so the relay checks that per case and reads the roster only after a change.
    """

    def __init__(self) -> None:
        self._fingerprint: tuple[Any, ...] | None = None
        self._roster: Roster | None = None

    def get(self, session: Session) -> Roster:
        fingerprint = tuple(
            session.execute(
                select(
                    select(func.count()).select_from(Team).scalar_subquery(),
                    select(func.max(Team.updated_at)).scalar_subquery(),
                    select(func.count()).select_from(Collector).scalar_subquery(),
                    select(func.max(Collector.updated_at)).scalar_subquery(),
                )
            ).one()
        )
        if self._roster is None or fingerprint != self._fingerprint:
            self._roster = Roster.read(session)
            self._fingerprint = fingerprint
        return self._roster


class Staff:
    """The active teams and collectors as one transaction sees them, with each collector's load
    (open cases) read when first needed and kept current as cases are assigned.

    Built once per case (the relay) or once per chunk of thousands of cases (re-evaluation), so
    choosing collectors costs a few queries per chunk, not per case. A re-evaluating process
    shares the loads of its :class:`LoadBook` (``share_loads``), read for every collector at
    once every few seconds and kept current with the moves the process makes in between.
    """

    def __init__(
        self,
        session: Session,
        loads: dict[int, int] | None = None,
        roster: RosterCache | None = None,
    ) -> None:
        self.session = session
        current = (roster or RosterCache()).get(session)
        self.teams, self.collectors, self.by_team = (
            current.teams,
            current.collectors,
            current.by_team,
        )
        self.teams_by_id = current.teams_by_id
        self._candidates = current.candidates
        self._loads: dict[int, int] = loads if loads is not None else {}
        # Per candidate group (a key of ``_candidates``): (prefers another language, load,
        # collector id) of those with room, a heap; and the heaps each collector is in.
        self._queues: dict[tuple, list[tuple[bool, int, int]]] = {}
        self._queued_in: dict[int, list[tuple[list[tuple[bool, int, int]], bool]]] = {}
        self._resolved: dict[str, list[TeamInfo]] = {}

    def team(self, team_id: int | None) -> TeamInfo | None:
        return self.teams_by_id.get(team_id)  # type: ignore[arg-type]

    def resolve_teams(self, value: str) -> list[TeamInfo]:
        """The active teams a table's ``team`` output names: by code or name, else by alias."""
        if value not in self._resolved:
            wanted = value.lower()
            teams = [t for t in self.teams if wanted in (t.code.lower(), t.name.lower())]
            if not teams and value in TEAM_ALIASES:
                teams = [t for t in self.teams if t.code in TEAM_ALIASES[value]]
            self._resolved[value] = teams
        return self._resolved[value]

    def loads(self, collector_ids: Iterable[int]) -> dict[int, int]:
        missing = [c for c in collector_ids if c not in self._loads]
        if missing:
            self._loads.update(dict.fromkeys(missing, 0))
            self._loads.update(
                self.session.execute(
                    select(CollectionCase.collector_id, func.count())
                    .where(
                        CollectionCase.collector_id.in_(missing),
                        CollectionCase.status.in_(OPEN_STATUSES),
                    )
                    .group_by(CollectionCase.collector_id)
                ).all()
            )
        return self._loads

    def qualifies(
        self, collector_id: int | None, team_ids: Collection[int], skill: str | None
    ) -> CollectorInfo | None:
        collector = self.collectors.get(collector_id) if collector_id is not None else None
        if (
            collector is not None
            and collector.team_id in team_ids
            and (skill is None or skill in collector.skills)
        ):
            return collector
        return None

    def choose(
        self,
        current_id: int | None,
        teams: list[TeamInfo],
        skill: str | None,
        region: str | None,
        language: str | None,
    ) -> CollectorInfo | None:
        """The current collector if qualified, else the least-loaded qualified one with room.

        Qualified: active, in one of ``teams``, with ``skill`` if one is required, and working
        the debtor's region (an empty region list means any). Speaking the debtor's language is
        preferred.
        """
        team_ids = frozenset(team.id for team in teams)
        current = self.qualifies(current_id, team_ids, skill)
        if current is not None:
            return current
        key = (team_ids, skill, region, language)
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = sorted(
                (
                    (bool(language and c.languages and language not in c.languages), c.id, c)
                    for team_id in team_ids
                    for c in self.by_team.get(team_id, ())
                    if (skill is None or skill in c.skills)
                    and (not c.regions or region in c.regions)
                ),
                key=lambda candidate: candidate[:2],
            )
            self._candidates[key] = candidates
        if not candidates:
            return None
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queue(key, candidates)
        loads = self._loads
        while queue:
            other_language, load, collector_id = queue[0]
            now = loads[collector_id]
            collector = self.collectors[collector_id]
            if now == load and load < collector.capacity:
                return collector
            if now < collector.capacity:  # queued with an older load: queue it again
                heapq.heapreplace(queue, (other_language, now, collector_id))
            else:
                heapq.heappop(queue)  # full; queued again if a case leaves them (moved)
        return None

    def _queue(self, key: tuple, candidates: Candidates) -> list[tuple[bool, int, int]]:
        """The candidates with room, least loaded first, as a heap kept current lazily: an
        entry whose load changed since it was queued is put back with the current load when
        it comes to the top (loads only grow between, except through :meth:`moved`, which
        queues the collector again)."""
        loads = self.loads(collector_id for _, collector_id, _ in candidates)
        queue = [
            (other_language, loads[collector_id], collector_id)
            for other_language, collector_id, collector in candidates
            if loads[collector_id] < collector.capacity
        ]
        heapq.heapify(queue)
        self._queues[key] = queue
        for other_language, collector_id, _ in candidates:
            self._queued_in.setdefault(collector_id, []).append((queue, other_language))
        return queue

    def share_loads(self, loads: dict[int, int]) -> None:
        """Use (and keep current) loads known beyond this transaction (a ``LoadBook``'s)."""
        self._loads = loads
        self._queues.clear()
        self._queued_in.clear()

    def moved(self, case_from: int | None, case_to: int | None) -> None:
        """One open case moved between collectors: keep the known loads current."""
        if case_from in self._loads:
            self._loads[case_from] -= 1
            for queue, other_language in self._queued_in.get(case_from, ()):
                heapq.heappush(queue, (other_language, self._loads[case_from], case_from))
        if case_to in self._loads:
            self._loads[case_to] += 1


class LoadBook:
    """Every collector's load (open cases) for the chunks one process re-decides: read for all
    collectors by one aggregate query, re-read every ``max_age`` seconds so that other
    processes' moves are seen again, and kept current with this process's moves in between.

    One pass over the open cases costs about what a chunk does; reading the loads collector by
    collector instead costs more with every case the run updates (each update clears the
    visibility bits an index-only count relies on), and slowed a million-case run down by half.
    """

    def __init__(self, max_age: float = 15.0) -> None:
        self.max_age = max_age
        self._loads: dict[int, int] = {}
        self._read_at: float | None = None

    def current(self, session: Session, collector_ids: Iterable[int]) -> dict[int, int]:
        """The loads of every collector (0 for ``collector_ids`` with no open case)."""
        now = time.monotonic()
        if self._read_at is None or now - self._read_at > self.max_age:
            self._loads = dict(
                session.execute(
                    select(CollectionCase.collector_id, func.count())
                    .where(
                        CollectionCase.collector_id.is_not(None),
                        CollectionCase.status.in_(OPEN_STATUSES),
                    )
                    .group_by(CollectionCase.collector_id)
                ).all()
            )
            self._read_at = now
        for collector_id in collector_ids:
            self._loads.setdefault(collector_id, 0)
        return self._loads


@dataclass
class CaseState:
    """What the decisions may change on a case, and what they read to do it."""

    id: int
    status: CaseStatus
    team_id: int | None
    collector_id: int | None
    priority_score: int
    priority_level: str | None
    strategy: str | None
    next_action: str | None
    region: str | None = None
    language: str | None = None

    CHANGEABLE = (
        "team_id",
        "collector_id",
        "priority_score",
        "priority_level",
        "strategy",
        "next_action",
    )


def _assignment(staff: Staff, case: CaseState, then: dict[str, Any]) -> dict[str, Any]:
    team_value = then.get("team")
    if team_value is None:
        return {"unchanged": "the row assigns no team"}
    if case.status == CaseStatus.PROMISED:
        return {"unchanged": "the case is mid-promise"}
    teams = staff.resolve_teams(team_value)
    if not teams:
        return {"unchanged": f"no active team {team_value!r}"}
    collector = staff.choose(
        case.collector_id, teams, then.get("required_skill"), case.region, case.language
    )
    team = (staff.team(collector.team_id) if collector is not None else None) or teams[0]
    case.team_id = team.id
    before = case.collector_id
    if collector is not None:
        case.collector_id = collector.id
    elif before is not None:
        current = staff.collectors.get(before)
        if current is None or current.team_id != team.id:
            case.collector_id = None
    if case.collector_id != before:
        staff.moved(before, case.collector_id)
    applied: dict[str, Any] = {
        "team": str(team),
        "collector": str(collector) if collector is not None else None,
    }
    if collector is None:
        applied["note"] = "no qualified collector with room"
    return applied


def outcome(staff: Staff, case: CaseState, decisions: list[Decision]) -> dict[str, tuple]:
    """Change ``case`` as the decisions say; fills each decision's ``applied`` and returns the
    changed fields as ``{field: (before, after)}``."""
    before = {name: getattr(case, name) for name in CaseState.CHANGEABLE}
    for decision in decisions:
        if decision.error or not decision.outputs:
            continue
        then = decision.outputs[0]["then"]
        if decision.kind is Kind.ASSIGNMENT:
            decision.applied = _assignment(staff, case, then)
        elif decision.kind is Kind.PRIORITY:
            case.priority_score = int(then["score"])
            case.priority_level = then["level"]
            decision.applied = {
                "priority_score": case.priority_score,
                "priority_level": case.priority_level,
            }
        elif decision.kind is Kind.STRATEGY:
            split = decision.split
            case.strategy = split["treatment_path"] if split else then["treatment_path"]
            case.next_action = then["next_action"]
            decision.applied = {
                "strategy": case.strategy,
                "next_action": case.next_action,
                "arm": split["arm"] if split else then.get("arm"),
            }
            if split:
                decision.applied["split"] = split
    return {
        name: (value, getattr(case, name))
        for name, value in before.items()
        if getattr(case, name) != value
    }


def apply(
    session: Session,
    case_id: int,
    decisions: list[Decision],
    roster: RosterCache | None = None,
) -> dict[str, tuple]:
    """Change one case as the decisions say, through the ORM (so audited); returns the changes."""
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise LookupError(f"no collection case with id {case_id}")
    state = CaseState(
        case.id,
        case.status,
        case.team_id,
        case.collector_id,
        case.priority_score,
        case.priority_level,
        case.strategy,
        case.next_action,
        case.customer.region,
        case.customer.language,
    )
    changes = outcome(Staff(session, roster=roster), state, decisions)
    for name, (_, value) in changes.items():  # unchanged values make no audit entry
        setattr(case, name, value)
    session.flush()
    return changes


# Kept for callers that work with ORM objects (rebalancing).


def resolve_teams(session: Session, value: str) -> list[Team]:
    """The active teams a table's ``team`` output names: by code or name, else by alias."""
    ids = [t.id for t in Staff(session).resolve_teams(value)]
    return [session.get(Team, team_id) for team_id in ids]  # type: ignore[misc]


def choose_collector(
    session: Session, case: CollectionCase, teams: list[Team], skill: str | None
) -> Collector | None:
    """The case's current collector if qualified, else the least-loaded qualified one with room
    (see :meth:`Staff.choose`)."""
    staff = Staff(session)
    chosen = staff.choose(
        case.collector_id,
        [TeamInfo(t.id, t.code, t.name) for t in teams],
        skill,
        case.customer.region,
        case.customer.language,
    )
    return session.get(Collector, chosen.id) if chosen is not None else None
