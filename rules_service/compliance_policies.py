"""Compliance policy versions: draft → submitted → approved (by another) → published → retired.

The same maker-checker life cycle as decision tables and treatment paths: analysts change a
policy's parameters in a draft, a supervisor other than the author approves it, and publishing
puts it in force for every gate check from then on (the gate reads the published version on each
check, so no restart). A document that does not parse can be neither saved nor published.
``publish_shipped`` puts the presets of ``rulesets/compliance/policies`` in the database once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.compliance.policy import PolicyError, parse_policy, shipped_policy_documents
from casedb.models import CompliancePolicyVersion, VersionStatus
from casedb.types import utcnow
from rules_service.versions import LifecycleError, publish_by_name
from rules_service.versions import approve as approve
from rules_service.versions import reject as reject

__all__ = [
    "LifecycleError",
    "PolicyError",
    "approve",
    "publish",
    "publish_shipped",
    "reject",
    "save_draft",
    "submit",
]


def _checksum(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _next_version(session: Session, name: str) -> int:
    latest = session.scalar(
        select(func.max(CompliancePolicyVersion.version)).where(
            CompliancePolicyVersion.name == name
        )
    )
    return (latest or 0) + 1


def save_draft(
    session: Session,
    document: Mapping[str, Any],
    author: str,
    draft: CompliancePolicyVersion | None = None,
    based_on: CompliancePolicyVersion | None = None,
) -> CompliancePolicyVersion:
    """Create a draft or change one (only its author changes it); raises ``PolicyError``."""
    name = document.get("name") if isinstance(document, Mapping) else None
    if draft is not None:
        if draft.status is not VersionStatus.DRAFT:
            raise LifecycleError(
                f"{draft} is {draft.status.value}: only a draft changes; start a new draft"
            )
        if author != draft.author:
            raise LifecycleError(
                f"{draft} is {draft.author}'s draft; start a new draft from it to change it"
            )
        if name != draft.name:
            raise PolicyError(f"this draft is of {draft.name}, not {name}")
        version = draft.version
    else:
        version = _next_version(session, str(name)) if name else 1
    document = {**document, "version": version}
    parse_policy(document)
    if draft is None:
        draft = CompliancePolicyVersion(
            name=name,
            version=version,
            author=author,
            based_on_id=based_on.id if based_on is not None else None,
        )
        session.add(draft)
    draft.document, draft.checksum = document, _checksum(document)
    session.flush()
    return draft


def submit(session: Session, version: CompliancePolicyVersion, by: str) -> CompliancePolicyVersion:
    if version.status is not VersionStatus.DRAFT:
        raise LifecycleError(f"{version} is {version.status.value}, not a draft")
    parse_policy(version.document)
    version.status, version.submitted_by, version.submitted_at = (
        VersionStatus.SUBMITTED,
        by,
        utcnow(),
    )
    session.flush()
    return version


def publish(session: Session, version: CompliancePolicyVersion, by: str) -> CompliancePolicyVersion:
    """Put an approved (or, to roll back, a retired) version in force; the one in force before
    is retired."""
    parse_policy(version.document)
    return publish_by_name(session, version, by)


def publish_shipped(session: Session, by: str) -> list[CompliancePolicyVersion]:
    """Publish the shipped presets not yet in the database; an analyst's version of the same
    name is never replaced by the preset."""
    known = set(session.scalars(select(CompliancePolicyVersion.name)))
    published = []
    for name, document in shipped_policy_documents().items():
        if name in known:
            continue
        parse_policy(document)
        version = CompliancePolicyVersion(
            name=name,
            version=document.get("version", 1),
            author=by,
            document=document,
            checksum=_checksum(document),
            status=VersionStatus.PUBLISHED,
            note="shipped preset",
            approved_by=by,
            approved_at=utcnow(),
            published_by=by,
            published_at=utcnow(),
        )
        session.add(version)
        published.append(version)
    session.flush()
    return published
