"""Raising early warnings from the alert table's decisions, in the deciding transaction.

The alert table (hit policy COLLECT) names in each fired row an alert code (``alert``) and a
``severity``. :func:`raise_alerts` inserts an ``alert`` row for every code a case's alert
decision fired that the case has no unresolved (open, acknowledged or assigned) alert of yet, so
deciding a case again does not repeat a warning somebody is already dealing with, and a warning
resolved earlier that fires again is raised anew. An alert whose row no longer fires is **not**
closed by the service: it stays in the inbox until a person resolves it (a warning is evidence
that somebody should look, whatever the facts say an hour later).

Set-based: one query reads the unresolved alerts of the batch's cases, one the latest alert
decision of each case that raises something (the provenance), and one executemany inserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.bulk_insert import insert_rows
from casedb.importing.writer import key_in
from casedb.models import UNRESOLVED_ALERT_STATUSES, Alert, AlertStatus, RuleDecision
from casedb.types import utcnow
from rules_service.decision_table import Kind


def raise_alerts(
    session: Session,
    outcomes: Iterable[Any],
    decided_ids: Mapping[int, int] | None = None,
) -> int:
    """Insert the new alerts of ``outcomes`` (``bulk_decide.Outcome``); returns how many.

    ``decided_ids`` maps a case id to the ``rule_decision`` id of its alert decision; without it
    the case's latest recorded alert decision is taken (the one just inserted, or the earlier one
    that said the same when re-evaluation recorded nothing new).
    """
    fired: dict[int, list[tuple[Any, dict[str, Any]]]] = {}
    for outcome in outcomes:
        for decision in outcome.decisions:
            if decision.kind is not Kind.ALERT or decision.error:
                continue
            for output in decision.outputs:
                if output["then"].get("alert"):
                    fired.setdefault(outcome.state.id, []).append((decision, output))
    if not fired:
        return 0
    case_ids = sorted(fired)
    # By case only: the (case_id, kind, status) index answers it whatever the planner thinks
    # of the status filter (during a first re-evaluation the table grows faster than its
    # statistics, and a status filter sent it scanning every open alert).
    query = select(Alert.case_id, Alert.kind, Alert.status).where(
        key_in(session, Alert.case_id, case_ids)
    )
    unresolved = {
        (row.case_id, row.kind)
        for row in session.execute(query)
        if row.status in UNRESOLVED_ALERT_STATUSES
    }
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for case_id in case_ids:
        for decision, output in fired[case_id]:
            code = str(output["then"]["alert"])[:64]
            if (case_id, code) in unresolved:
                continue
            unresolved.add((case_id, code))  # one per code even if two rows name it
            then = output["then"]
            rows.append(
                {
                    "case_id": case_id,
                    "kind": code,
                    "severity": str(then.get("severity") or "info")[:16],
                    "status": AlertStatus.OPEN,
                    "raised_at": now,
                    "raised_by_decision_id": None,
                    "ruleset": decision.table.name,
                    "version": decision.table.version,
                    "row": output["row"],
                    "message": then.get("message_en") or then.get("message_zh"),
                }
            )
    if not rows:
        return 0
    ids = dict(decided_ids or {})
    missing = sorted({row["case_id"] for row in rows} - set(ids))
    if missing:
        newest = (
            select(RuleDecision.case_id, func.max(RuleDecision.id).label("id"))
            .where(
                key_in(session, RuleDecision.case_id, missing),
                RuleDecision.kind == Kind.ALERT.value,
            )
            .group_by(RuleDecision.case_id)
        )
        ids.update({row.case_id: row.id for row in session.execute(newest)})
    for row in rows:
        row["raised_by_decision_id"] = ids.get(row["case_id"])
    insert_rows(session, Alert.__table__, rows)  # COPY on PostgreSQL
    return len(rows)
