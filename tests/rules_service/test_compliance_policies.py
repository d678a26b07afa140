"""Compliance policies change like the other rules: a draft by an analyst, approved by someone
else, published — and the gate follows the published version from its next check."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from casedb.compliance.contact_gate import ContactRequest, active_policy, check_contact
from casedb.compliance.policy import PolicyError, shipped_policy_documents
from casedb.models import CollectionCase, CompliancePolicyVersion, VersionStatus
from rules_service.compliance_policies import (
    LifecycleError,
    approve,
    publish,
    publish_shipped,
    reject,
    save_draft,
    submit,
)

LATE = datetime(2025, 3, 4, 21, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def stricter_cn() -> dict:
    document = shipped_policy_documents()["CN"]
    document["rules"]["quiet_hours"]["from"] = "21:00"
    return document


def test_the_presets_are_published_once_and_an_analysts_version_is_never_replaced(session):
    assert {p.name for p in publish_shipped(session, "setup")} == {"CN", "US-RegF"}
    assert publish_shipped(session, "setup") == []
    assert active_policy(session, "CN").version == 1


def test_a_stricter_quiet_hour_takes_effect_once_approved_by_another_and_published(
    session, portfolio
):
    publish_shipped(session, "setup")
    case = session.scalar(select(CollectionCase))
    assert check_contact(session, case, ContactRequest("call", at=LATE), actor="c").allowed
    draft = save_draft(session, stricter_cn(), "analyst1")
    assert draft.version == 2
    submit(session, draft, "analyst1")
    with pytest.raises(LifecycleError, match="maker-checker"):
        approve(session, draft, "analyst1")
    approve(session, draft, "supervisor1")
    publish(session, draft, "supervisor1")
    verdict = check_contact(session, case, ContactRequest("call", at=LATE), actor="c")
    assert verdict.verdict == "blocked"
    assert (verdict.policy, verdict.policy_version) == ("CN", 2)
    first = session.scalar(
        select(CompliancePolicyVersion).where(
            CompliancePolicyVersion.name == "CN", CompliancePolicyVersion.version == 1
        )
    )
    assert first.status is VersionStatus.RETIRED


def test_a_policy_that_does_not_parse_cannot_be_saved(session):
    document = stricter_cn()
    document["rules"]["quiet_hours"]["from"] = "9pm"
    with pytest.raises(PolicyError, match="rule 'quiet_hours', parameter 'from'"):
        save_draft(session, document, "analyst1")


def test_only_the_author_changes_a_draft_and_a_rejection_needs_a_reason(session):
    draft = save_draft(session, stricter_cn(), "analyst1")
    with pytest.raises(LifecycleError, match="analyst1's draft"):
        save_draft(session, stricter_cn(), "analyst2", draft=draft)
    submit(session, draft, "analyst1")
    with pytest.raises(LifecycleError, match="say why"):
        reject(session, draft, "supervisor1", " ")
    reject(session, draft, "supervisor1", "21:00 is stricter than the law asks; keep 22:00")
    assert draft.status is VersionStatus.REJECTED
