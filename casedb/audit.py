"""Recording every change in the hash-chained audit trail, and verifying the chain.

Changes made through an ORM session (console, API, jobs) are recorded by a flush listener:
call :func:`install` once per process and name the actor with ``session.info["actor"]``.
Importers write Core statements in bulk and record their changes with :func:`append` at the end
of the run: one ``import`` entry for the file, one ``update`` entry per row it changed.

Appending takes a transaction-scoped lock on PostgreSQL (SQLite serialises writers anyway), so
two transactions can never chain onto the same entry; keep audited transactions short.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect, select, text
from sqlalchemy.orm import Session

from casedb.models import AuditEntry, Base, ChangeEvent, ImportBatch, ReevaluationChunk
from casedb.types import utcnow

GENESIS = "0" * 64
# Tables whose rows are not audited: the trail itself and the event plumbing (a re-evaluation
# run is audited when requested; its chunks are bookkeeping, and their changes to cases are
# audited chunk by chunk).
UNAUDITED = frozenset(
    {
        AuditEntry.__tablename__,
        ChangeEvent.__tablename__,
        ImportBatch.__tablename__,
        ReevaluationChunk.__tablename__,
    }
)
_LOCK_KEY = 20051001  # arbitrary, fixed: the PostgreSQL advisory lock of the audit chain
REDACTED = "***"

# Who is acting when a session does not say: the console names its signed-in user here.
_actor_resolvers: list[Callable[[], str | None]] = []
# Models besides ours whose rows are audited too (the console's users and roles), each with
# the columns whose values never reach the trail (password hashes).
_other_bases: dict[type, frozenset[str]] = {}


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A value as it is stored in the trail (and hashed): text for money, dates and enums."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | date | datetime):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        # A filed document: the trail keeps its digest (what proves which file it was).
        data = bytes(value)
        return f"sha256:{hashlib.sha256(data).hexdigest()} ({len(data)} bytes)"
    return value


@dataclass(frozen=True)
class Change:
    actor: str
    action: str
    table_name: str
    row_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def entry_hash(previous_hash: str, occurred_at: datetime, change: Change) -> str:
    body = json.dumps(
        {
            "previous": previous_hash,
            "at": occurred_at.isoformat(),
            "actor": change.actor,
            "action": change.action,
            "table": change.table_name,
            "row": change.row_id,
            "before": change.before,
            "after": change.after,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(session: Session, changes: Iterable[Change]) -> int:
    """Chain ``changes`` onto the trail in the session's transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    previous = (
        connection.execute(
            select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
        ).scalar()
        or GENESIS
    )
    rows = []
    for change in changes:
        occurred_at = utcnow()
        current = entry_hash(previous, occurred_at, change)
        rows.append(
            {
                "occurred_at": occurred_at,
                "actor": change.actor,
                "action": change.action,
                "table_name": change.table_name,
                "row_id": change.row_id,
                "before": change.before,
                "after": change.after,
                "previous_hash": previous,
                "entry_hash": current,
            }
        )
        previous = current
    if rows:
        connection.execute(insert(AuditEntry), rows)
    return len(rows)


@dataclass(frozen=True)
class Break:
    entry_id: int
    reason: str


def verify(session: Session, chunk: int = 5000) -> Break | None:
    """Walk the chain in id order; the first entry whose hash or link does not hold, if any."""
    previous = GENESIS
    for entry in _entries(session, chunk):
        if entry.previous_hash != previous:
            return Break(entry.id, "does not link to the entry before it (one was removed)")
        change = Change(
            entry.actor,
            entry.action,
            entry.table_name,
            entry.row_id,
            entry.before,
            entry.after,
        )
        if entry_hash(previous, entry.occurred_at, change) != entry.entry_hash:
            return Break(entry.id, "its content does not match its hash (it was edited)")
        previous = entry.entry_hash
    return None


def _entries(session: Session, chunk: int) -> Iterator[Any]:
    """Rows as stored now (Core rows: never an ORM object cached in the session)."""
    table = AuditEntry.__table__
    last_id = 0
    while True:
        batch = session.execute(
            select(table).where(table.c.id > last_id).order_by(table.c.id).limit(chunk)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id


# --- the ORM listener ----------------------------------------------------------------------


def _redacted_columns(obj: Any) -> frozenset[str]:
    for base, columns in _other_bases.items():
        if isinstance(obj, base):
            return columns
    return frozenset()


def _value(obj: Any, key: str, value: Any) -> Any:
    return REDACTED if key in _redacted_columns(obj) and value is not None else jsonable(value)


def _columns(obj: Any) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    return {c.key: _value(obj, c.key, getattr(obj, c.key)) for c in mapper.column_attrs}


def _row_id(obj: Any) -> str | None:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return None if None in key else "/".join(str(part) for part in key)


def _audited(obj: Any) -> bool:
    table = getattr(obj, "__tablename__", None)
    return isinstance(obj, (Base, *_other_bases)) and table not in UNAUDITED


def actor_of(session: Session) -> str:
    """Who is acting in ``session``: its ``info["actor"]``, else the registered resolvers' answer
    (the console's signed-in user), else ``system``."""
    if session.info.get("actor"):
        return session.info["actor"]
    for resolve in _actor_resolvers:
        if actor := resolve():
            return actor
    return "system"


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    actor = actor_of(session)
    # (action, object, row id if known before the flush, before, after)
    pending: list[tuple[str, Any, str | None, dict[str, Any] | None, dict[str, Any] | None]] = []
    for obj in session.new:
        if _audited(obj):
            pending.append(("insert", obj, None, None, None))
    for obj in session.dirty:
        # Membership collections matter for the console's users (their roles), not for cases.
        collections = not isinstance(obj, Base)
        if not _audited(obj) or not session.is_modified(obj, include_collections=collections):
            continue
        state = inspect(obj)
        before, after = {}, {}
        for attr in state.mapper.column_attrs:
            history = state.attrs[attr.key].history
            if history.has_changes():
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                before[attr.key] = _value(obj, attr.key, old)
                after[attr.key] = _value(obj, attr.key, new)
        # A membership change records the members removed (before) and added (after).
        for relation in state.mapper.relationships if collections else ():
            history = state.attrs[relation.key].history
            if relation.uselist and history.has_changes():
                before[relation.key] = sorted(str(member) for member in history.deleted)
                after[relation.key] = sorted(str(member) for member in history.added)
        if after:
            pending.append(("update", obj, _row_id(obj), before, after))
    for obj in session.deleted:
        if _audited(obj):
            pending.append(("delete", obj, _row_id(obj), _columns(obj), None))
    session.info.setdefault("_audit_pending", []).extend((actor, *p) for p in pending)


def _after_flush(session: Session, _context: Any) -> None:
    pending = session.info.pop("_audit_pending", [])
    if not pending:
        return
    changes = []
    for actor, action, obj, row_id, before, after in pending:
        if action == "insert":
            row_id, after = _row_id(obj), _columns(obj)
            if not isinstance(obj, Base):
                for relation in inspect(obj).mapper.relationships:
                    if relation.uselist:
                        after[relation.key] = sorted(str(m) for m in getattr(obj, relation.key))
        changes.append(Change(actor, action, obj.__tablename__, row_id, before, after))
    append(session, changes)


def install(session_class: type[Session] = Session) -> None:
    """Record every ORM change of ``session_class`` sessions (idempotent)."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)
        event.listen(session_class, "after_flush", _after_flush)


def resolve_actor_with(resolver: Callable[[], str | None]) -> None:
    """Name the actor of sessions that do not (``session.info["actor"]`` still wins)."""
    if resolver not in _actor_resolvers:
        _actor_resolvers.append(resolver)


def audit_also(model: type, redact: Iterable[str] = ()) -> None:
    """Audit the rows of a model outside the case database (the console's users and roles),
    never recording the ``redact`` columns."""
    _other_bases[model] = frozenset(redact)
