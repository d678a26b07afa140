"""The life cycle of a decision table version: draft → submitted → approved → published → retired.

Analysts write drafts; a draft is the only thing that changes. Submitting freezes it, and only
if its own test cases pass and static analysis finds nothing that would make it fail at run time
(a UNIQUE table whose rows overlap, a type conflict). A Supervisor other than its author and its
submitter approves it (maker-checker); publishing puts it into ``published_ruleset`` — what the
rules service runs — and asks for every open case to be decided again by it. Rolling back is
publishing an older version again: the versions published after it are retired and stop running.

Every function changes ORM objects in the caller's session, so every step is in the audit trail
under the session's actor; none commits. Role checks (who may approve) are the console's; the
rules that hold whoever calls (author ≠ approver, frozen once submitted) are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from casedb.models import (
    CompliancePolicyVersion,
    PublishedRuleset,
    RulesetVersion,
    TreatmentPath,
    VersionStatus,
)
from casedb.types import utcnow
from rules_service.decision_table import DecisionTable, Kind, checksum, from_json, to_dict
from rules_service.reevaluation import request_reevaluation

# Findings that would make a version fail or mislead at run time: they block submission.
BLOCKING_FINDINGS = frozenset({"overlap", "type_conflict"})


class LifecycleError(ValueError):
    """A step the version's state or the four-eyes rule does not allow, with the reason."""


def _analyse(table: DecisionTable) -> list[dict[str, Any]]:
    from rules_service.analysis import analyse  # noqa: PLC0415  (optional until it exists)

    return [finding.as_dict() for finding in analyse(table)]


def _failing_tests(table: DecisionTable, tests: list[dict[str, Any]]) -> list[str]:
    from rules_service.table_tests import run_tests  # noqa: PLC0415

    return [f"{r.name}: {r.message}" for r in run_tests(table, tests) if not r.passed]


def next_version(session: Session, name: str) -> int:
    """One more than any version of ``name`` authored or published so far."""
    authored = session.scalar(
        select(func.max(RulesetVersion.version)).where(RulesetVersion.name == name)
    )
    published = session.scalar(
        select(func.max(PublishedRuleset.version)).where(PublishedRuleset.name == name)
    )
    return max(authored or 0, published or 0) + 1


def table_of(version: RulesetVersion) -> DecisionTable:
    return from_json(version.document)


def save_draft(
    session: Session,
    document: Mapping[str, Any],
    author: str,
    tests: list[dict[str, Any]] | None = None,
    draft: RulesetVersion | None = None,
    based_on: RulesetVersion | None = None,
) -> RulesetVersion:
    """Create a draft (``draft`` None) or change one; the document gets the draft's version
    number. Raises ``TableError`` (with table, row and cell) for a document that does not
    parse, and ``LifecycleError`` for a version that is no longer a draft."""
    if draft is not None and draft.status is not VersionStatus.DRAFT:
        raise LifecycleError(
            f"{draft} is {draft.status.value}: only a draft can be changed; start a new draft "
            "from it instead"
        )
    document = dict(document)
    name = str(document.get("name", ""))
    if draft is not None:
        if name != draft.name:
            raise LifecycleError(f"a draft keeps its table's name ({draft.name}), not {name!r}")
        if author != draft.author:
            # Maker-checker: whoever changed a draft must not be able to approve it, so only
            # its author changes it; anyone else starts a draft of their own from it.
            raise LifecycleError(
                f"{draft} is {draft.author}'s draft; start a new draft from it to change it"
            )
        document["version"] = draft.version
    else:
        document["version"] = next_version(session, name) if name else 1
    table = from_json(document)
    if draft is None:
        draft = RulesetVersion(
            name=table.name,
            kind=table.kind.value,
            version=table.version,
            status=VersionStatus.DRAFT,
            author=author,
            based_on_id=based_on.id if based_on is not None else None,
        )
        session.add(draft)
    draft.document = to_dict(table)
    draft.checksum = checksum(table)
    if tests is not None:
        draft.tests = tests
    draft.findings = _analyse(table)
    session.flush()
    return draft


def draft_from(session: Session, version: RulesetVersion, author: str) -> RulesetVersion:
    """A new draft with the content and tests of ``version`` (to change a frozen version)."""
    return save_draft(
        session, version.document, author, tests=list(version.tests or []), based_on=version
    )


@dataclass
class SubmitCheck:
    failing_tests: list[str] = field(default_factory=list)
    blocking: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failing_tests and not self.blocking

    def reason(self) -> str:
        parts = []
        if self.failing_tests:
            parts.append("test cases fail: " + "; ".join(self.failing_tests))
        if self.blocking:
            parts.append("analysis: " + "; ".join(f["message"] for f in self.blocking))
        return " | ".join(parts)


def check_for_submission(version: RulesetVersion) -> SubmitCheck:
    table = table_of(version)
    return SubmitCheck(
        failing_tests=_failing_tests(table, list(version.tests or [])),
        blocking=[f for f in _analyse(table) if f["kind"] in BLOCKING_FINDINGS],
    )


def submit(session: Session, version: RulesetVersion, by: str) -> RulesetVersion:
    """Freeze a draft for approval; refused while its tests fail or analysis blocks it."""
    if version.status is not VersionStatus.DRAFT:
        raise LifecycleError(f"{version} is {version.status.value}, not a draft")
    check = check_for_submission(version)
    if not check.ok:
        raise LifecycleError(f"{version} cannot be submitted: {check.reason()}")
    version.status = VersionStatus.SUBMITTED
    version.submitted_by, version.submitted_at = by, utcnow()
    session.flush()
    return version


V = TypeVar("V", RulesetVersion, TreatmentPath, CompliancePolicyVersion)


def approve(session: Session, version: V, by: str) -> V:
    """The checker's approval: never the version's author or submitter (decision tables,
    treatment paths and compliance policies alike)."""
    if version.status is not VersionStatus.SUBMITTED:
        raise LifecycleError(f"{version} is {version.status.value}, not submitted")
    if by in (version.author, version.submitted_by):
        raise LifecycleError(
            f"maker-checker: {by} wrote or submitted {version}; another supervisor must approve"
        )
    version.status = VersionStatus.APPROVED
    version.approved_by, version.approved_at = by, utcnow()
    session.flush()
    return version


def reject(session: Session, version: V, by: str, note: str) -> V:
    """Send a submitted version back: it stays frozen; a new draft carries the fixes."""
    if version.status is not VersionStatus.SUBMITTED:
        raise LifecycleError(f"{version} is {version.status.value}, not submitted")
    if not note.strip():
        raise LifecycleError("say why the version is rejected")
    version.status = VersionStatus.REJECTED
    version.note = note.strip()
    session.flush()
    return version


N = TypeVar("N", TreatmentPath, CompliancePolicyVersion)


def publish_by_name(session: Session, version: N, by: str) -> N:
    """Put an approved version (or a retired one again: rollback) in use and retire the one of
    the same name in use before — for what is used by name: treatment paths and compliance
    policies."""
    if version.status not in (VersionStatus.APPROVED, VersionStatus.RETIRED):
        raise LifecycleError(
            f"{version} is {version.status.value}: only an approved or retired version is published"
        )
    model = type(version)
    for other in session.scalars(
        select(model).where(
            model.name == version.name,
            model.status == VersionStatus.PUBLISHED,
            model.id != version.id,
        )
    ):
        other.status, other.retired_at = VersionStatus.RETIRED, utcnow()
    version.status, version.published_by, version.published_at = (
        VersionStatus.PUBLISHED,
        by,
        utcnow(),
    )
    session.flush()
    return version


def publish(session: Session, version: RulesetVersion, by: str) -> RulesetVersion:
    """Run an approved version (or an older published one again: rollback); the versions of the
    same table published after it, or running now, are retired."""
    from rules_service.policy import publish_all  # noqa: PLC0415  (policy imports us)

    if version.status not in (VersionStatus.APPROVED, VersionStatus.RETIRED):
        raise LifecycleError(
            f"{version} is {version.status.value}: only an approved version is published, or a "
            "retired one published again"
        )
    if version.status is VersionStatus.RETIRED and version.approved_by is None:
        raise LifecycleError(f"{version} was never approved")
    table = table_of(version)
    published = publish_all(session, [table], by=by)[0]
    row = published.row
    # Whatever of this table runs now, or was published after this version, stops running.
    session.execute(
        update(PublishedRuleset)
        .where(PublishedRuleset.name == table.name, PublishedRuleset.id != row.id)
        .values(active=False)
    )
    if not row.active:
        row.active = True
    if not published.created:  # rollback: the service re-decides with the version again
        request_reevaluation(
            session, f"rolled back to {table.name} v{table.version}", [table.kind], by
        )
    for other in session.scalars(
        select(RulesetVersion).where(
            RulesetVersion.name == table.name,
            RulesetVersion.status == VersionStatus.PUBLISHED,
            RulesetVersion.id != version.id,
        )
    ):
        other.status = VersionStatus.RETIRED
        other.retired_at = utcnow()
    version.status = VersionStatus.PUBLISHED
    version.published_by, version.published_at = by, utcnow()
    session.flush()
    return version


def register_published(session: Session, row: PublishedRuleset, by: str | None) -> None:
    """A version published outside the console (``rules publish``) gets its place in the life
    cycle too, so the console lists it and can roll back to it."""
    exists = session.scalar(
        select(RulesetVersion.id).where(
            RulesetVersion.name == row.name, RulesetVersion.version == row.version
        )
    )
    if exists is not None:
        return
    for other in session.scalars(
        select(RulesetVersion).where(
            RulesetVersion.name == row.name, RulesetVersion.status == VersionStatus.PUBLISHED
        )
    ):
        other.status = VersionStatus.RETIRED
        other.retired_at = utcnow()
    who = by or "cli"
    now = utcnow()
    session.add(
        RulesetVersion(
            name=row.name,
            kind=row.kind,
            version=row.version,
            status=VersionStatus.PUBLISHED,
            document=row.document,
            checksum=row.checksum,
            tests=[],
            findings=_analyse(from_json(row.document)),
            author=who,
            submitted_by=who,
            submitted_at=now,
            approved_by=who,
            approved_at=now,
            published_by=who,
            published_at=now,
            note="published from a file (rules publish)",
        )
    )
    session.flush()


# --- comparing two versions -------------------------------------------------------------------


@dataclass
class TableDiff:
    """What changed from ``old`` to ``new``: the head, the columns and the rows by id."""

    head: dict[str, tuple[Any, Any]]
    inputs_added: list[str]
    inputs_removed: list[str]
    outputs_added: list[str]
    outputs_removed: list[str]
    rows_added: list[str]
    rows_removed: list[str]
    # Row id -> {"when"/"then" column: (old text, new text)}, plus "position" when it moved.
    rows_changed: dict[str, dict[str, tuple[Any, Any]]]

    @property
    def empty(self) -> bool:
        return not (
            self.head
            or self.inputs_added
            or self.inputs_removed
            or self.outputs_added
            or self.outputs_removed
            or self.rows_added
            or self.rows_removed
            or self.rows_changed
        )


def _row_cells(table: DecisionTable) -> dict[str, dict[str, Any]]:
    rows = {}
    for position, row in enumerate(table.rows, start=1):
        cells: dict[str, Any] = {"position": position}
        for fact, cell in zip(table.inputs, row.when, strict=True):
            cells[f"when {fact.name}"] = cell.text
        for name, value in row.then.items():
            cells[f"then {name}"] = value
        rows[row.id] = cells
    return rows


def diff(old: DecisionTable, new: DecisionTable) -> TableDiff:
    head = {
        key: (getattr(old, key), getattr(new, key))
        for key in ("name", "kind", "hit_policy", "version")
        if getattr(old, key) != getattr(new, key)
    }
    old_in, new_in = [f.name for f in old.inputs], [f.name for f in new.inputs]
    old_out, new_out = [o.name for o in old.outputs], [o.name for o in new.outputs]
    old_rows, new_rows = _row_cells(old), _row_cells(new)
    changed = {}
    for row_id in new_rows.keys() & old_rows.keys():
        a, b = old_rows[row_id], new_rows[row_id]
        cells = {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        if cells:
            changed[row_id] = dict(sorted(cells.items()))
    return TableDiff(
        head={k: (str(a), str(b)) for k, (a, b) in head.items()},
        inputs_added=[n for n in new_in if n not in old_in],
        inputs_removed=[n for n in old_in if n not in new_in],
        outputs_added=[n for n in new_out if n not in old_out],
        outputs_removed=[n for n in old_out if n not in new_out],
        rows_added=[r for r in new_rows if r not in old_rows],
        rows_removed=[r for r in old_rows if r not in new_rows],
        rows_changed=dict(sorted(changed.items(), key=lambda item: new_rows[item[0]]["position"])),
    )


def kind_of(version: RulesetVersion) -> Kind:
    return Kind(version.kind)
