"""Deciding for one case: evaluate the running tables on its facts, apply the outcome, record why.

:func:`decide` is pure evaluation (no writes): one :class:`Decision` per kind with the table
version, the rows that fired with their conditions and outputs, and the facts the table reads.
:func:`apply` changes the case accordingly through the ORM (so the audit trail records the
change, with the session's actor) and notes on each decision what it changed, or why not:

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from casedb.audit import jsonable
from casedb.models import OPEN_STATUSES, CaseStatus, CollectionCase, Collector, Team
from rules_service.case_facts import case_facts
from rules_service.compiler import RulesetError
from rules_service.decision_table import DecisionTable, Kind
from rules_service.facts import FactError, FactValue
from rules_service.hits import UniqueHitError
from rules_service.policy import LoadedTable, Policy

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


def _row_conditions(table: DecisionTable, row_id: str) -> dict[str, str]:
    row = next(r for r in table.rows if r.id == row_id)
    return {
        fact.name: cell.text
        for fact, cell in zip(table.inputs, row.when, strict=True)
        if not cell.is_any
    }


def _seen(table: DecisionTable, facts: dict[str, FactValue | None]) -> dict[str, Any]:
    return {name: jsonable(facts.get(name)) for name in table.fact_names}


def decide(
    session: Session, policy: Policy, case_id: int, as_of: date | None = None
) -> tuple[dict[str, FactValue | None] | None, list[Decision]]:
    """The facts of the case and one decision per running table (no writes).

    A fact the catalogue refuses, or a UNIQUE table matching two rows, becomes a decision with
    ``error`` set and no rows: the case keeps what it had and the event is still consumed.
    Raises ``LookupError`` for an unknown case.
    """
    try:
        facts: dict[str, FactValue | None] | None = case_facts(session, case_id, as_of)
    except FactError as error:
        facts, fact_error = None, str(error)
    decisions = []
    for kind, loaded in sorted(policy.current.items()):
        table = loaded.table
        if facts is None:
            decisions.append(Decision(kind, loaded, [], [], {}, error=fact_error))
            continue
        seen = _seen(table, facts)
        try:
            hits = policy.engine.evaluate(loaded.engine_name, facts)
        except (FactError, UniqueHitError, RulesetError) as error:
            decisions.append(Decision(kind, loaded, [], [], seen, error=str(error)))
            continue
        outputs = [
            {
                "row": hit.row_id,
                "when": _row_conditions(table, hit.row_id),
                "then": jsonable(dict(hit.outputs)),
            }
            for hit in hits
        ]
        decisions.append(Decision(kind, loaded, [hit.row_id for hit in hits], outputs, seen))
    return facts, decisions


# --- applying ---------------------------------------------------------------------------------


def resolve_teams(session: Session, value: str) -> list[Team]:
    """The active teams a table's ``team`` output names: by code or name, else by alias."""
    teams = session.scalars(
        select(Team)
        .where(
            Team.active.is_(True),
            or_(func.lower(Team.code) == value.lower(), func.lower(Team.name) == value.lower()),
        )
        .order_by(Team.id)
    ).all()
    if not teams and value in TEAM_ALIASES:
        teams = session.scalars(
            select(Team)
            .where(Team.active.is_(True), Team.code.in_(TEAM_ALIASES[value]))
            .order_by(Team.id)
        ).all()
    return list(teams)


def _qualifies(collector: Collector, team_ids: set[int], skill: str | None) -> bool:
    return (
        collector.active
        and collector.team_id in team_ids
        and (skill is None or skill in (collector.skills or []))
    )


def choose_collector(
    session: Session, case: CollectionCase, teams: list[Team], skill: str | None
) -> Collector | None:
    """The case's current collector if qualified, else the least-loaded qualified one with room.

    Qualified: active, in one of ``teams``, with ``skill`` if one is required, and working the
    debtor's region (an empty region list means any). Speaking the debtor's language is preferred.
    """
    team_ids = {team.id for team in teams}
    current = case.collector
    if current is not None and _qualifies(current, team_ids, skill):
        return current
    region = case.customer.region
    language = case.customer.language
    candidates = [
        c
        for c in session.scalars(
            select(Collector).where(Collector.team_id.in_(team_ids), Collector.active.is_(True))
        )
        if _qualifies(c, team_ids, skill) and (not c.regions or region in c.regions)
    ]
    if not candidates:
        return None
    loads = dict(
        session.execute(
            select(CollectionCase.collector_id, func.count())
            .where(
                CollectionCase.collector_id.in_([c.id for c in candidates]),
                CollectionCase.status.in_(OPEN_STATUSES),
            )
            .group_by(CollectionCase.collector_id)
        ).all()
    )
    with_room = [c for c in candidates if loads.get(c.id, 0) < c.capacity]
    if not with_room:
        return None
    return min(
        with_room,
        key=lambda c: (
            bool(language and c.languages and language not in c.languages),
            loads.get(c.id, 0),
            c.id,
        ),
    )


def _set(case: CollectionCase, attribute: str, value: Any) -> None:
    if getattr(case, attribute) != value:  # unchanged values make no audit entry
        setattr(case, attribute, value)


def _apply_assignment(session: Session, case: CollectionCase, then: dict[str, Any]) -> dict:
    team_value = then.get("team")
    if team_value is None:
        return {"unchanged": "the row assigns no team"}
    if case.status == CaseStatus.PROMISED:
        return {"unchanged": "the case is mid-promise"}
    teams = resolve_teams(session, team_value)
    if not teams:
        return {"unchanged": f"no active team {team_value!r}"}
    collector = choose_collector(session, case, teams, then.get("required_skill"))
    team = collector.team if collector is not None and collector.team else teams[0]
    _set(case, "team_id", team.id)
    if collector is not None:
        _set(case, "collector_id", collector.id)
    elif case.collector is not None and case.collector.team_id != team.id:
        _set(case, "collector_id", None)
    applied: dict[str, Any] = {
        "team": str(team),
        "collector": str(collector) if collector is not None else None,
    }
    if collector is None:
        applied["note"] = "no qualified collector with room"
    return applied


def apply(session: Session, case_id: int, decisions: list[Decision]) -> None:
    """Change the case as the decisions say (through the ORM, so audited); fills ``applied``."""
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise LookupError(f"no collection case with id {case_id}")
    for decision in decisions:
        if decision.error or not decision.outputs:
            continue
        then = decision.outputs[0]["then"]
        if decision.kind is Kind.ASSIGNMENT:
            decision.applied = _apply_assignment(session, case, then)
        elif decision.kind is Kind.PRIORITY:
            _set(case, "priority_score", int(then["score"]))
            _set(case, "priority_level", then["level"])
            decision.applied = {
                "priority_score": int(then["score"]),
                "priority_level": then["level"],
            }
        elif decision.kind is Kind.STRATEGY:
            _set(case, "strategy", then["treatment_path"])
            _set(case, "next_action", then["next_action"])
            decision.applied = {
                "strategy": then["treatment_path"],
                "next_action": then["next_action"],
            }
    session.flush()
