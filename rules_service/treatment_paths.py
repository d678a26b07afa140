"""Treatment paths: what happens to a case, step by step, once the strategy table names its path.

A path document is JSON::

    {"name": "m2_calls", "title": {"zh": "...", "en": "..."},
     "steps": [{"id": "C1", "action": "call", "offset_days": 0, "after": "entry",
                "escalate_after_hours": 24,
                "template": {"zh": {"subject": "", "body": "..."}, "en": {...}}}, ...]}

``offset_days`` counts from the day the case entered the path (``after: "entry"``) or from the
day the previous step fell due (``after: "previous"``). Steps run in their order, so a step that
would fall due before the one above it is refused when the path is saved, as are unknown actions,
negative or absurd offsets and templates naming an unknown merge field (the error names the step
and the field). Automated actions (SMS, e-mail, letter, app push) become outbound messages and
need a template in both languages; the others are tasks for a person, with an optional script.

Versions go draft → submitted → approved (by another supervisor) → published, like decision
tables; publishing retires the version published before. ``shipped_paths`` loads the defaults
in ``rulesets/treatment_paths/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import config
from casedb.merge_fields import TemplateError, fields_of
from casedb.models import TreatmentPath, VersionStatus
from casedb.types import utcnow
from rules_service.default_policy import RULESETS_DIR

# Approving and rejecting are the same for paths as for tables (re-exported for callers).
from rules_service.versions import LifecycleError, publish_by_name
from rules_service.versions import approve as approve
from rules_service.versions import reject as reject

PATHS_DIR = RULESETS_DIR / "treatment_paths"
# Automated action → outbound channel.
AUTOMATED_ACTIONS: dict[str, str] = {
    "sms_reminder": "sms",
    "app_push": "app_push",
    "email_reminder": "email",
    "formal_letter": "letter",
}
MANUAL_ACTIONS = ("call", "legal_review", "field_visit", "agency_placement")
ACTIONS = (*AUTOMATED_ACTIONS, *MANUAL_ACTIONS)
ANCHORS = ("entry", "previous")
LANGUAGES = ("zh", "en")
# A step more than a year after its anchor is a typo, not a plan.
MAX_OFFSET_DAYS = 365
MAX_ESCALATION_HOURS = 24 * 30
DEFAULT_ESCALATION_HOURS = 24


class PathError(ValueError):
    """A path document that cannot be saved: the message names the step and field."""

    def __init__(self, message: str, step: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.field = field


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    offset_days: int
    after: str
    escalate_after_hours: int | None
    template: Mapping[str, Mapping[str, str]]

    @property
    def automated(self) -> bool:
        return self.action in AUTOMATED_ACTIONS

    @property
    def channel(self) -> str | None:
        return AUTOMATED_ACTIONS.get(self.action)

    def text(self, language: str) -> Mapping[str, str]:
        """The step's subject and body in ``language`` (Chinese when it has no such text)."""
        return self.template.get(language) or self.template.get("zh") or {}


@dataclass(frozen=True)
class PathDocument:
    name: str
    title: Mapping[str, str]
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": dict(self.title),
            "steps": [
                {
                    "id": s.id,
                    "action": s.action,
                    "offset_days": s.offset_days,
                    "after": s.after,
                    "escalate_after_hours": s.escalate_after_hours,
                    "template": {lang: dict(text) for lang, text in s.template.items()},
                }
                for s in self.steps
            ],
        }

    def checksum(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _whole_number(value: Any, step: str, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PathError(f"step {step}: {field} must be a whole number, not {value!r}", step, field)
    if not low <= value <= high:
        raise PathError(
            f"step {step}: {field} {value} is impossible; it must be from {low} to {high}",
            step,
            field,
        )
    return value


def _template(raw: Any, step: str, automated: bool, action: str) -> dict[str, dict[str, str]]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise PathError(f"step {step}: template must be an object by language", step, "template")
    unknown = set(raw) - set(LANGUAGES)
    if unknown:
        raise PathError(
            f"step {step}: template languages are zh and en, not {sorted(unknown)}",
            step,
            "template",
        )
    template: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        text = raw.get(language) or {}
        if not isinstance(text, Mapping):
            raise PathError(f"step {step}: template.{language} must be an object", step)
        subject, body = str(text.get("subject") or ""), str(text.get("body") or "")
        if automated and not body.strip():
            raise PathError(
                f"step {step}: an automated {action} needs a {language} body",
                step,
                f"template.{language}.body",
            )
        if action in ("email_reminder", "formal_letter") and not subject.strip():
            raise PathError(
                f"step {step}: an {action} needs a {language} subject",
                step,
                f"template.{language}.subject",
            )
        for part, value in (("subject", subject), ("body", body)):
            try:
                fields_of(value)
            except TemplateError as error:
                raise PathError(
                    f"step {step}, template.{language}.{part}: {error}",
                    step,
                    error.field or f"template.{language}.{part}",
                ) from None
        for part, value in (("subject", subject), ("body", body)):
            if blocked := _script_findings(value):
                raise PathError(
                    f"step {step}, template.{language}.{part}: the script audit blocks it "
                    f"({blocked})",
                    step,
                    f"template.{language}.{part}",
                )
        if subject or body:
            template[language] = {"subject": subject, "body": body}
    return template


@functools.cache
def _lawful_actions(policy: str) -> tuple[str, ...]:
    """The legal steps the shipped policy says the lender takes (read once per process)."""
    from casedb.compliance.policy import shipped_policy  # noqa: PLC0415

    script = shipped_policy(policy).rules.get("script")
    return tuple(script.params["lawful_actions"]) if script is not None else ()


def _script_findings(text: str) -> str | None:
    """What the script audit blocks in a template, under the lawful actions of the policy in
    force; templates are audited when saved, so a threatening step never reaches a debtor."""
    if not text.strip():
        return None
    from casedb.compliance.script_audit import audit_script  # noqa: PLC0415

    audit = audit_script(text, lawful_actions=_lawful_actions(config.COMPLIANCE_POLICY))
    if audit.verdict != "block":
        return None
    return "; ".join(
        f"{f.category}: “{f.text}” ({f.source})" for f in audit.findings if f.severity == "block"
    )


def parse_path(document: Mapping[str, Any] | str) -> PathDocument:
    """Check a path document and return it; raises ``PathError`` naming step and field."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise PathError(f"not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise PathError("a path is a JSON object with a name and steps")
    name = str(document.get("name") or "").strip()
    if not name or len(name) > 64 or not name.replace("_", "").isalnum() or not name.isascii():
        raise PathError(
            "the path needs a name of up to 64 letters, digits and _ (the strategy table's "
            "treatment_path output names it)",
            field="name",
        )
    title = document.get("title") or {}
    if not isinstance(title, Mapping):
        raise PathError("title must be an object by language", field="title")
    raw_steps = document.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PathError("a path needs at least one step", field="steps")
    steps: list[Step] = []
    seen: set[str] = set()
    day_of_previous = 0
    for position, raw in enumerate(raw_steps, start=1):
        if not isinstance(raw, Mapping):
            raise PathError(f"step {position} must be an object", str(position))
        step_id = str(raw.get("id") or "").strip()
        if not step_id or len(step_id) > 32:
            raise PathError(f"step {position} needs an id of up to 32 characters", str(position))
        if step_id in seen:
            raise PathError(f"step id {step_id} is used twice", step_id, "id")
        seen.add(step_id)
        action = raw.get("action")
        if action not in ACTIONS:
            raise PathError(
                f"step {step_id}: unknown action {action!r}; the actions are {', '.join(ACTIONS)}",
                step_id,
                "action",
            )
        offset = _whole_number(raw.get("offset_days"), step_id, "offset_days", 0, MAX_OFFSET_DAYS)
        after = raw.get("after", "previous")
        if after not in ANCHORS:
            raise PathError(
                f"step {step_id}: after must be entry or previous, not {after!r}", step_id, "after"
            )
        day = offset if after == "entry" else day_of_previous + offset
        if day < day_of_previous:
            raise PathError(
                f"step {step_id}: day {day} after entry falls before the step above it (day "
                f"{day_of_previous}); steps run in order",
                step_id,
                "offset_days",
            )
        day_of_previous = day
        escalation = raw.get("escalate_after_hours")
        automated = action in AUTOMATED_ACTIONS
        if escalation is not None:
            escalation = _whole_number(
                escalation, step_id, "escalate_after_hours", 1, MAX_ESCALATION_HOURS
            )
        elif not automated:
            escalation = DEFAULT_ESCALATION_HOURS
        steps.append(
            Step(
                step_id,
                action,
                offset,
                after,
                None if automated else escalation,
                _template(raw.get("template"), step_id, automated, action),
            )
        )
    return PathDocument(name, {k: str(v) for k, v in title.items()}, tuple(steps))


def shipped_paths(directory: Path = PATHS_DIR) -> list[PathDocument]:
    """The default paths, one JSON file each; errors name the file."""
    paths = []
    for file in sorted(directory.glob("*.json")):
        try:
            paths.append(parse_path(file.read_text(encoding="utf-8")))
        except PathError as error:
            raise PathError(f"{file.name}: {error}", error.step, error.field) from error
    return paths


# One life cycle for decision tables and paths: approve and reject are the tables' own.
PathLifecycleError = LifecycleError


def _next_version(session: Session, name: str) -> int:
    latest = session.scalar(
        select(func.max(TreatmentPath.version)).where(TreatmentPath.name == name)
    )
    return (latest or 0) + 1


def save_draft(
    session: Session,
    document: Mapping[str, Any] | str,
    author: str,
    draft: TreatmentPath | None = None,
) -> TreatmentPath:
    """Create a draft or change one (only a draft changes); raises ``PathError``."""
    parsed = parse_path(document)
    if draft is not None:
        if draft.status is not VersionStatus.DRAFT:
            raise PathLifecycleError(
                f"{draft} is {draft.status.value}: only a draft changes; start a new draft"
            )
        if parsed.name != draft.name:
            raise PathError(f"this draft is of {draft.name}, not {parsed.name}", field="name")
        if author != draft.author:
            # Maker-checker: whoever changed a draft must not be able to approve it, so only
            # its author changes it; anyone else starts a draft of their own from it.
            raise PathLifecycleError(
                f"{draft} is {draft.author}'s draft; start a new draft from it to change it"
            )
    else:
        draft = TreatmentPath(
            name=parsed.name, version=_next_version(session, parsed.name), author=author
        )
        session.add(draft)
    draft.document, draft.checksum = parsed.as_dict(), parsed.checksum()
    session.flush()
    return draft


def submit(session: Session, version: TreatmentPath, by: str) -> TreatmentPath:
    if version.status is not VersionStatus.DRAFT:
        raise PathLifecycleError(f"{version} is {version.status.value}, not a draft")
    parse_path(version.document)
    version.status, version.submitted_by, version.submitted_at = (
        VersionStatus.SUBMITTED,
        by,
        utcnow(),
    )
    session.flush()
    return version


def publish(session: Session, version: TreatmentPath, by: str) -> TreatmentPath:
    """Put an approved version (or a retired one again: rollback) into use; the version of the
    path in use before is retired. Cases on the path take the new steps from their next one."""
    return publish_by_name(session, version, by)


def publish_shipped(session: Session, by: str, directory: Path = PATHS_DIR) -> list[TreatmentPath]:
    """Publish the shipped paths not yet in the database (any version of the same name counts:
    an analyst's published version is never replaced by the default)."""
    known = set(session.scalars(select(TreatmentPath.name)))
    published = []
    for path in shipped_paths(directory):
        if path.name in known:
            continue
        version = TreatmentPath(
            name=path.name,
            version=1,
            author=by,
            document=path.as_dict(),
            checksum=path.checksum(),
            status=VersionStatus.PUBLISHED,
            note="shipped default",
            approved_by=by,
            approved_at=utcnow(),
            published_by=by,
            published_at=utcnow(),
        )
        session.add(version)
        published.append(version)
    session.flush()
    return published


@dataclass(frozen=True)
class PublishedPath:
    version: int
    document: PathDocument


def published_paths(session: Session) -> dict[str, PublishedPath]:
    """The paths in use, by name."""
    rows = session.execute(
        select(TreatmentPath.name, TreatmentPath.version, TreatmentPath.document).where(
            TreatmentPath.status == VersionStatus.PUBLISHED
        )
    )
    return {row.name: PublishedPath(row.version, parse_path(row.document)) for row in rows}
