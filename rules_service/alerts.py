"""Raising early warnings from the alert table's decisions, in the deciding transaction.

The alert table (hit policy COLLECT) names in each fired row an alert code (``alert``) and a
``severity``. :func:`raise_alerts` inserts an ``alert`` row for every code a case's alert
decision fired that the case has no unresolved (open, acknowledged or assigned) alert of yet, so
deciding a case again does not repeat a warning somebody is already dealing with, and a warning
resolved earlier that fires again is raised anew. An alert whose row no longer fires is **not**
closed by the service: it stays in the inbox until a person resolves it (a warning is evidence
that somebody should look, whatever the facts say an hour later).

Set-based: one query reads the unresolved alerts of the batch's cases that may have any (a case
never decided by an alert table has none), and one COPY inserts. The caller passes the ids of
the alert decisions (the provenance), which it has at hand; a query for them, like a query over
every case of a first re-evaluation, would run on statistics that lag behind a table growing by
millions of rows and scan it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from casedb.bulk_insert import insert_rows
from casedb.models import UNRESOLVED_ALERT_STATUSES, Alert, AlertStatus
from casedb.types import utcnow
from rules_service.decision_table import Kind

# One index probe per case whatever the statistics say: a re-evaluation grows the table by
# millions of rows faster than they are gathered (autovacuum may be late, or off), and a plan
# made on stale statistics hashed the cases and scanned every alert (0.5 s per 2,000 cases).
# OFFSET 0 keeps the lateral subquery from being flattened into that join.
_UNRESOLVED_BY_CASE = text(
    "SELECT c.id AS case_id, a.kind, a.status FROM unnest(CAST(:ids AS integer[])) AS c(id)"
    " JOIN LATERAL (SELECT kind, status FROM alert WHERE alert.case_id = c.id OFFSET 0) AS a"
    " ON true"
)


def _unresolved(session: Session, case_ids: list[int]) -> set[tuple[int, str]]:
    """(case, alert code) of the cases' alerts still being dealt with."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_UNRESOLVED_BY_CASE, {"ids": case_ids})
    else:
        rows = session.execute(
            select(Alert.case_id, Alert.kind, Alert.status).where(Alert.case_id.in_(case_ids))
        )
    return {(row.case_id, row.kind) for row in rows if row.status in UNRESOLVED_ALERT_STATUSES}


# Per table version and rows that fired: the alerts they name (the same for every case).
_NAMED: dict[tuple[str, str, tuple[str, ...]], list[tuple[str, str, str, str | None]]] = {}
_MAX_NAMED = 10_000


def _alerts_named(decision: Any) -> list[tuple[str, str, str, str | None]]:
    """(code, severity, row, message) of each row the decision fired that names an alert."""
    key = (decision.loaded.engine_name, decision.loaded.checksum, tuple(decision.rows))
    named = _NAMED.get(key)
    if named is None:
        named = [
            (
                str(then["alert"])[:64],
                str(then.get("severity") or "info")[:16],
                output["row"],
                then.get("message_en") or then.get("message_zh"),
            )
            for output in decision.outputs
            if (then := output["then"]).get("alert")
        ]
        if len(_NAMED) >= _MAX_NAMED:
            _NAMED.clear()
        _NAMED[key] = named
    return named


def raise_alerts(
    session: Session,
    outcomes: Iterable[Any],
    alert_decisions: Mapping[int, int],
    may_have_alerts: Collection[int] | None = None,
) -> int:
    """Insert the new alerts of ``outcomes`` (``bulk_decide.Outcome``); returns how many.

    ``alert_decisions`` maps a case id to the ``rule_decision`` id of its current alert
    decision (just inserted, or the earlier one that said the same when re-evaluation recorded
    nothing new). ``may_have_alerts`` narrows the lookup of unresolved alerts to those cases
    (``None``: every case that fired).
    """
    fired: dict[int, Any] = {}  # case id -> its alert decision that fired a row
    for outcome in outcomes:
        for decision in outcome.decisions:
            if decision.kind is Kind.ALERT and not decision.error and decision.outputs:
                fired[outcome.state.id] = decision
    if not fired:
        return 0
    case_ids = sorted(fired)
    looked_up = case_ids if may_have_alerts is None else sorted(set(fired) & set(may_have_alerts))
    # By case only: the (case_id, kind, status) index answers it whatever the planner thinks
    # of the status filter.
    unresolved = _unresolved(session, looked_up) if looked_up else set()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for case_id in case_ids:
        decision = fired[case_id]
        for code, severity, row, message in _alerts_named(decision):
            if (case_id, code) in unresolved:
                continue
            unresolved.add((case_id, code))  # one per code even if two rows name it
            rows.append(
                {
                    "case_id": case_id,
                    "kind": code,
                    "severity": severity,
                    "status": AlertStatus.OPEN,
                    "raised_at": now,
                    "raised_by_decision_id": alert_decisions.get(case_id),
                    "ruleset": decision.table.name,
                    "version": decision.table.version,
                    "row": row,
                    "message": message,
                }
            )
    if not rows:
        return 0
    insert_rows(session, Alert.__table__, rows)  # COPY on PostgreSQL
    return len(rows)
