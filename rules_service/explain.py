"""Text for ``rules evaluate`` (what the tables would decide now) and ``rules explain`` (why the
case has what it has: the latest stored decision of each kind, with rows, conditions, facts)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.audit import jsonable
from casedb.models import ChangeEvent, CollectionCase, RuleDecision
from casedb.timeline import conditions_text
from rules_service.decide import Decision, apply, decide
from rules_service.policy import Policy


def _value(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False)


def _decision_lines(
    kind: str,
    ruleset: str,
    version: int,
    checksum: str,
    outputs: list[dict[str, Any]],
    applied: dict[str, Any],
    error: str | None,
    facts: dict[str, Any],
) -> list[str]:
    lines = [f"{kind}: {ruleset} v{version} (checksum {checksum[:12]})"]
    if error:
        lines.append(f"  could not decide: {error}")
    elif not outputs:
        lines.append("  no row matched")
    for output in outputs:
        then = ", ".join(f"{k}={_value(v)}" for k, v in output["then"].items())
        lines.append(f"  row {output['row']}: when {conditions_text(output['when'])}")
        lines.append(f"    then {then}")
    if applied:
        lines.append("  applied: " + ", ".join(f"{k}={_value(v)}" for k, v in applied.items()))
    if facts:
        lines.append("  facts seen: " + ", ".join(f"{k}={_value(v)}" for k, v in facts.items()))
    return lines


def evaluate_text(session: Session, policy: Policy, case_id: int) -> str:
    """The facts of the case and what the running tables decide now. Writes nothing: the
    decisions are applied inside the caller's transaction only to show their effect, and the
    caller rolls it back."""
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise LookupError(f"no collection case with id {case_id}")
    facts, decisions = decide(session, policy, case_id)
    apply(session, case_id, decisions)
    lines = [f"case {case.case_no} (id {case_id}): facts"]
    for name, value in (facts or {}).items():
        lines.append(f"  {name:<32} {_value(value)}")
    lines.append("decisions (not saved):")
    for decision in decisions:
        lines += _described(decision)
    return "\n".join(lines)


def _described(decision: Decision) -> list[str]:
    return _decision_lines(
        decision.kind.value,
        decision.table.name,
        decision.table.version,
        decision.loaded.checksum,
        decision.outputs,
        decision.applied,
        decision.error,
        decision.facts,
    )


def latest_decisions(session: Session, case_id: int) -> list[RuleDecision]:
    """The newest stored decision of each kind for the case."""
    latest: dict[str, RuleDecision] = {}
    for decision in session.scalars(
        select(RuleDecision)
        .where(RuleDecision.case_id == case_id)
        .order_by(RuleDecision.id.desc())
        .limit(200)
    ):
        latest.setdefault(decision.kind, decision)
    return sorted(latest.values(), key=lambda d: d.kind)


def explain_text(session: Session, case_id: int) -> str:
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise LookupError(f"no collection case with id {case_id}")
    lines = [
        f"case {case.case_no} (id {case_id}): team {case.team or '-'}, collector "
        f"{case.collector or '-'}, priority {case.priority_score} {case.priority_level or '-'}, "
        f"strategy {case.strategy or '-'}, next action {case.next_action or '-'}"
    ]
    decisions = latest_decisions(session, case_id)
    if not decisions:
        lines.append("no decision recorded yet")
    for decision in decisions:
        event = session.get(ChangeEvent, decision.event_id) if decision.event_id else None
        cause = f"event {event.id} ({event.kind.value})" if event else "a re-evaluation"
        lines.append(f"decided {decision.decided_at.isoformat(timespec='seconds')} on {cause}")
        lines += _decision_lines(
            decision.kind,
            decision.ruleset,
            decision.version,
            decision.checksum,
            decision.outputs,
            decision.applied,
            decision.error,
            decision.facts,
        )
    return "\n".join(lines)
