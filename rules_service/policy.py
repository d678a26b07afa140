"""Published decision tables: publishing a version, and the versions a service process runs.

A table version is published once and never edited: ``(name, version)`` is unique and the
checksum of its canonical JSON is stored with it, so publishing the same file again is a no-op
and publishing different content under an existing version is refused.

The service runs, per kind, the newest active published version (the highest id). It checks the
published versions on every loop (:meth:`Policy.refresh`) and compiles a new one under its
versioned engine name (``assignment__v7``); a version that does not load (bad document, checksum
mismatch, refused by the engine) is logged once and the last good version of that kind keeps
running. A version that loads but then fails inside the engine while deciding is isolated the
same way (:meth:`Policy.isolate`): this process stops running it at once, falls back to the
version it ran before, and reports it (:attr:`Policy.isolations`) so the service can alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import PublishedRuleset
from rules_service.compiler import RulesetError
from rules_service.decision_table import (
    DecisionTable,
    Kind,
    TableError,
    checksum,
    from_json,
    to_dict,
)
from rules_service.default_policy import RULESETS_DIR, load_table
from rules_service.engine import Engine
from rules_service.hits import Hit
from rules_service.reevaluation import request_reevaluation
from rules_service.versions import register_published

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    row: PublishedRuleset
    created: bool


class PublishError(ValueError):
    """A table that cannot be published (its version already exists with other content)."""


def publish(session: Session, table: DecisionTable, by: str | None = None) -> Published:
    """Publish ``table`` as an active version; the same content again changes nothing."""
    digest = checksum(table)
    existing = session.scalars(
        select(PublishedRuleset).where(
            PublishedRuleset.name == table.name, PublishedRuleset.version == table.version
        )
    ).first()
    if existing is not None:
        if existing.checksum != digest:
            raise PublishError(
                f"{table.qualified_name} is already published with other content (checksum "
                f"{existing.checksum[:12]}); versions are never edited, give it a new version"
            )
        return Published(existing, created=False)
    row = PublishedRuleset(
        name=table.name,
        kind=table.kind.value,
        version=table.version,
        checksum=digest,
        document=to_dict(table),
        published_by=by,
        active=True,
    )
    session.add(row)
    session.flush()
    register_published(session, row, by)
    return Published(row, created=True)


def publish_all(
    session: Session, tables: Iterable[DecisionTable], by: str | None = None
) -> list[Published]:
    """Publish ``tables`` and ask for every open case to be decided again by the kinds that got
    a new version (one re-evaluation run, committed with the versions)."""
    published = [publish(session, table, by) for table in tables]
    kinds = {Kind(p.row.kind) for p in published if p.created}
    if kinds:
        names = ", ".join(f"{p.row.name} v{p.row.version}" for p in published if p.created)
        request_reevaluation(session, f"published {names}", kinds, by)
    return published


def publish_files(
    session: Session, paths: Iterable[Path], by: str | None = None
) -> list[Published]:
    return publish_all(session, [load_table(path) for path in paths], by)


def publish_defaults(session: Session, by: str | None = None) -> list[Published]:
    """The tables shipped in ``rulesets/`` as published versions (idempotent)."""
    return publish_files(session, sorted(RULESETS_DIR.glob("*.json")), by)


# --- what a process runs -----------------------------------------------------------------------

# Engine ruleset names this process registered, with the checksum of what they mean: the engine
# keeps a name for the life of the process, so the same name may only ever be reused for the
# same content.
_LOADED: dict[str, str] = {}


@cache
def process_engine() -> Engine:
    """The one rules engine of this process (durable-rules: one engine, one thread)."""
    return Engine()


def _register(engine: Engine, table: DecisionTable, digest: str) -> str:
    name = table.qualified_name
    known = _LOADED.get(name)
    if known == digest:
        return name
    if known is not None:
        raise RulesetError(
            f"{name} is already running with other content (checksum {known[:12]}); "
            "restart the rules service to load it",
            table=table.name,
            version=table.version,
        )
    engine.register(table)
    _LOADED[name] = digest
    return name


@dataclass(frozen=True)
class LoadedTable:
    published_id: int
    table: DecisionTable
    checksum: str
    engine_name: str

    @property
    def kind(self) -> Kind:
        return self.table.kind


class Policy:
    """The table version each kind runs in this process, refreshed from ``published_ruleset``."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or process_engine()
        self.current: dict[Kind, LoadedTable] = {}
        # Published ids that did not load or failed at run time, with why; never tried again by
        # this process.
        self.refused: dict[int, str] = {}
        # Versions that ran before the current one, per kind (newest last): the fallback.
        self._earlier: dict[Kind, list[LoadedTable]] = {}
        # Versions isolated at run time and not yet reported by the service.
        self.isolations: list[tuple[LoadedTable, str]] = []

    def refresh(self, session: Session) -> list[str]:
        """Load newly published versions; returns what changed (for the log)."""
        heads = session.execute(
            select(PublishedRuleset.id, PublishedRuleset.kind)
            .where(PublishedRuleset.active.is_(True))
            .order_by(PublishedRuleset.id.desc())
        ).all()
        candidates: dict[str, list[int]] = {}
        for published_id, kind in heads:
            candidates.setdefault(kind, []).append(published_id)
        changes = []
        for kind in Kind:
            chosen = self._choose(session, kind, candidates.get(kind.value, []))
            before = self.current.get(kind)
            if chosen is None:
                if before is not None:
                    del self.current[kind]
                    changes.append(f"{kind.value}: no active version, no longer decided")
                continue
            if before is None or before.published_id != chosen.published_id:
                if before is not None:
                    self._earlier.setdefault(kind, []).append(before)
                self.current[kind] = chosen
                changes.append(f"{kind.value}: running {chosen.engine_name}")
        for change in changes:
            log.info("rules policy: %s", change)
        return changes

    def _choose(self, session: Session, kind: Kind, ids: list[int]) -> LoadedTable | None:
        """The newest of ``ids`` that loads; older good versions stand in for refused ones."""
        for published_id in ids:
            current = self.current.get(kind)
            if current is not None and current.published_id == published_id:
                return current
            if published_id in self.refused:
                continue
            row = session.get(PublishedRuleset, published_id)
            if row is None:
                continue
            try:
                return self._load(row, kind)
            except (TableError, RulesetError) as error:
                reason = str(error)
                self.refused[published_id] = reason
                log.error(
                    "rules policy: refused %s v%s (published id %s): %s; keeping the last good one",
                    row.name,
                    row.version,
                    published_id,
                    reason,
                )
        return None

    def _load(self, row: PublishedRuleset, kind: Kind) -> LoadedTable:
        table = from_json(row.document)
        digest = checksum(table)
        if table.kind is not kind or (table.name, table.version) != (row.name, row.version):
            raise TableError("the document does not match its published name, version and kind")
        if digest != row.checksum:
            raise TableError(f"checksum mismatch: published {row.checksum[:12]}, is {digest[:12]}")
        return LoadedTable(row.id, table, digest, _register(self.engine, table, digest))

    def isolate(self, loaded: LoadedTable, reason: str) -> LoadedTable | None:
        """Stop running a version that failed inside the engine; the version this process ran
        before it (if any) decides its kind from now on. Returns the fallback."""
        kind = loaded.kind
        self.refused[loaded.published_id] = reason
        self.isolations.append((loaded, reason))
        log.error(
            "rules policy: isolated %s (published id %s) after a run-time failure: %s",
            loaded.engine_name,
            loaded.published_id,
            reason,
        )
        if self.current.get(kind) is not loaded:
            return self.current.get(kind)
        earlier = self._earlier.get(kind, [])
        while earlier and earlier[-1].published_id in self.refused:
            earlier.pop()
        if earlier:
            self.current[kind] = earlier.pop()
            log.error(
                "rules policy: %s falls back to %s", kind.value, self.current[kind].engine_name
            )
            return self.current[kind]
        del self.current[kind]
        log.error("rules policy: no good version of %s left; not deciding it", kind.value)
        return None

    def evaluate(self, kind: Kind, facts: Mapping[str, object]) -> list[Hit]:
        return self.engine.evaluate(self.current[kind].engine_name, facts)
