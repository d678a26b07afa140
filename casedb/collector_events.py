"""Telling the rules service when a collector can carry fewer cases than before.

A collector whose capacity goes down, who becomes inactive (leaves) or who moves to another team
may now hold cases they should not: the rules service rebalances them on a ``collector_changed``
event. The event is written by a flush listener, in the same transaction as the change, so that
every ORM writer (console form, REST API, scripts) tells it without knowing about it; the
importer, which writes collectors with Core statements, emits the same event itself
(``casedb.importing.kinds.collector_events``). Changes that only give a collector more room
(capacity up, reactivated) emit nothing: new cases find the room on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from casedb.audit import actor_of
from casedb.models import Collector, EventKind
from casedb.outbox import emit

# The collector columns whose change may leave them holding cases they should not.
WATCHED = ("capacity", "active", "team_id")


def collector_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payload's ``changes`` ({column: {"old", "new"}}) when ``old`` → ``new`` takes room
    away (capacity down, deactivated, other team), else ``None``. Columns absent from either
    mapping are taken as unchanged."""
    changes = {
        column: {"old": old[column], "new": new[column]}
        for column in WATCHED
        if column in old and column in new and old[column] != new[column]
    }
    capacity = changes.get("capacity")
    active = changes.get("active")
    takes_room = (
        (capacity is not None and (capacity["new"] or 0) < (capacity["old"] or 0))
        or (active is not None and not active["new"])
        or "team_id" in changes
    )
    return changes if takes_room else None


def _team_id_history(collector: Collector) -> tuple[Any, Any] | None:
    """(old, new) team id, whether the column or the ``team`` relationship was set (a form sets
    the relationship; the column only follows it during the flush)."""
    state = inspect(collector)
    relation = state.attrs.team.history
    if relation.has_changes():
        old = relation.deleted[0] if relation.deleted else None
        new = relation.added[0] if relation.added else None
        return (old.id if old is not None else None, new.id if new is not None else None)
    column = state.attrs.team_id.history
    if column.has_changes():
        return (
            column.deleted[0] if column.deleted else None,
            column.added[0] if column.added else None,
        )
    return None


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.dirty):
        if not isinstance(obj, Collector) or not session.is_modified(obj):
            continue
        state = inspect(obj)
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for column in ("capacity", "active"):
            history = state.attrs[column].history
            if history.has_changes():
                old[column] = history.deleted[0] if history.deleted else None
                new[column] = history.added[0] if history.added else None
        if (team := _team_id_history(obj)) is not None:
            old["team_id"], new["team_id"] = team
        changes = collector_changes(old, new)
        if changes:
            emit(
                session,
                EventKind.COLLECTOR_CHANGED,
                payload={"collector_id": obj.id, "changes": changes},
                actor=actor_of(session),
            )


def _wants_old_value(_target: Any, _value: Any, _old: Any, _initiator: Any) -> None:
    """Nothing to do: being registered with ``active_history`` is the point (see install)."""


def install(session_class: type[Session] = Session) -> None:
    """Emit ``collector_changed`` from every flush of ``session_class`` sessions (idempotent)."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)
    # Setting a column that was not loaded (expired after a commit) records no old value, and a
    # capacity change could not tell up from down: have every set load the old value first.
    for attribute in (Collector.capacity, Collector.active, Collector.team_id, Collector.team):
        if not event.contains(attribute, "set", _wants_old_value):
            event.listen(attribute, "set", _wants_old_value, active_history=True)
