"""Rebalancing a collector's cases when they can carry fewer (``collector_changed`` events).

A collector who left (inactive) or moved to another team gives up every open case of their old
team; one whose capacity went down gives up the cases beyond it. Cases whose status is
``promised`` are never moved while the promise runs: they stay, and take their place first.

Which cases the collector keeps: the mid-promise ones, then the highest ``priority_score``, then,
among equal priority, the longest-worked (lowest case id: the case table keeps no assignment
date, and cases are numbered as they are opened). So the cases given up are the lowest-priority,
newest ones. The cases given up are placed highest priority first, so that when teammates' room
runs short the important cases get it.

Each case goes to another collector of the case's team as :func:`rules_service.decide
.choose_collector` picks one: active, with the skill the case's latest assignment decision
requires, working the debtor's region, under capacity, the debtor's language preferred, the least
loaded. A case for which nobody has room stays and is reported (``no_room``); the next
rebalance, or the case's next event, may place it.

The moves go through the ORM, so the audit trail records each one under the session's actor
(the relay's ``rules-service``). No change events are written for them: the rules service
reacting to its own changes would loop. The outcome is the :class:`RebalanceResult`, and a log
line.

The rebalance works from the database's state, not from the event's payload, so it is
idempotent: applying it again, or after a crash, moves nothing that is already where it belongs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.models import OPEN_STATUSES, CaseStatus, CollectionCase, Collector, RuleDecision, Team
from rules_service.decide import choose_collector
from rules_service.decision_table import Kind

log = logging.getLogger(__name__)


@dataclass
class RebalanceResult:
    collector_id: int
    # (case id, from collector id, to collector id) of every case moved, in the order moved.
    moved: list[tuple[int, int, int]] = field(default_factory=list)
    # Cases the collector should have given up but that stay because a promise is running.
    kept_mid_promise: list[int] = field(default_factory=list)
    # Cases that should have moved but for which no qualified teammate had room.
    no_room: list[int] = field(default_factory=list)
    # Cases another process was working on (the caller retries the whole rebalance later).
    busy: list[int] = field(default_factory=list)


def _keep_order(case: CollectionCase) -> tuple[bool, int, int]:
    """Sort key: the cases a collector keeps first."""
    return (case.status != CaseStatus.PROMISED, -case.priority_score, case.id)


def _gives_up_all(collector: Collector, case: CollectionCase) -> bool:
    """Whether the collector may not keep the case whatever their capacity."""
    return not collector.active or (case.team_id is not None and case.team_id != collector.team_id)


def _surplus(collector: Collector, cases: list[CollectionCase]) -> list[CollectionCase]:
    """The cases the collector gives up, in keep order."""
    leaving = [case for case in cases if _gives_up_all(collector, case)]
    staying = sorted((c for c in cases if not _gives_up_all(collector, c)), key=_keep_order)
    return sorted(leaving + staying[max(collector.capacity, 0) :], key=_keep_order)


def _required_skills(session: Session, case_ids: list[int]) -> dict[int, str | None]:
    """The skill each case's latest assignment decision requires (``None``: none, or no
    decision yet)."""
    latest = (
        select(func.max(RuleDecision.id))
        .where(
            RuleDecision.case_id.in_(case_ids),
            RuleDecision.kind == Kind.ASSIGNMENT.value,
            RuleDecision.error.is_(None),
        )
        .group_by(RuleDecision.case_id)
    )
    skills: dict[int, str | None] = {}
    for case_id, outputs in session.execute(
        select(RuleDecision.case_id, RuleDecision.outputs).where(RuleDecision.id.in_(latest))
    ):
        skills[case_id] = outputs[0]["then"].get("required_skill") if outputs else None
    return skills


def _choose_other(
    session: Session, case: CollectionCase, teams: list[Team], skill: str | None
) -> Collector | None:
    """Another collector for the case: ``choose_collector`` as if the case had none yet (it
    would keep a current collector who still qualifies)."""
    current, current_id = case.collector, case.collector_id
    with session.no_autoflush:  # the stand-in "no collector" must never reach the database
        case.collector, case.collector_id = None, None
        chosen = choose_collector(session, case, teams, skill)
        # Back as it was: setting the same values again records no change.
        case.collector, case.collector_id = current, current_id
    return chosen if chosen is not None and chosen.id != current_id else None


def rebalance_collector(
    session: Session,
    collector_id: int,
    take_case: Callable[[int], bool] | None = None,
) -> RebalanceResult:
    """Move the cases the collector can no longer carry to qualified teammates with room.

    ``take_case(case_id)`` claims a case against concurrent writers (the relay's per-case lock)
    before it is moved; a case it refuses is left alone and reported ``busy``. Flushes; the
    caller commits.
    """
    result = RebalanceResult(collector_id)
    collector = session.get(Collector, collector_id)
    if collector is None:
        return result
    cases = list(
        session.scalars(
            select(CollectionCase).where(
                CollectionCase.collector_id == collector_id,
                CollectionCase.status.in_(OPEN_STATUSES),
            )
        )
    )
    surplus = _surplus(collector, cases)
    movable = []
    for case in surplus:
        if case.status == CaseStatus.PROMISED:
            result.kept_mid_promise.append(case.id)
        else:
            movable.append(case)
    skills = _required_skills(session, [case.id for case in movable]) if movable else {}
    # Highest priority first: when room runs short, the important cases get it.
    for case in sorted(movable, key=lambda c: (-c.priority_score, c.id)):
        if take_case is not None:
            if not take_case(case.id):
                result.busy.append(case.id)
                continue
            session.refresh(case)  # as committed by whoever had the case before
            if case.collector_id != collector_id or case.status not in OPEN_STATUSES:
                continue
            if case.status == CaseStatus.PROMISED:
                result.kept_mid_promise.append(case.id)
                continue
        team = case.team or collector.team
        chosen = _choose_other(session, case, [team], skills.get(case.id)) if team else None
        if chosen is None:
            result.no_room.append(case.id)
            continue
        case.collector_id = chosen.id
        case.collector = chosen
        if case.team_id is None:
            case.team_id = chosen.team_id
        session.flush()  # the next choice counts this case in its new collector's load
        result.moved.append((case.id, collector_id, chosen.id))
    log.info(
        "rebalanced collector %s: %d moved, %d kept mid-promise, %d without room, %d busy",
        collector_id,
        len(result.moved),
        len(result.kept_mid_promise),
        len(result.no_room),
        len(result.busy),
    )
    return result
