"""The life cycle of a table version: draft, submit, approve (four eyes), publish, roll back."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import (
    AuditEntry,
    PublishedRuleset,
    ReevaluationRun,
    RulesetVersion,
    VersionStatus,
)
from rules_service.decision_table import TableError, from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.versions import (
    LifecycleError,
    approve,
    diff,
    draft_from,
    publish,
    reject,
    save_draft,
    submit,
    table_of,
)


def priority_document(raise_by: int = 0) -> dict:
    document = to_dict(default_policy()["priority"])
    for row in document["rows"]:
        row["then"]["score"] += raise_by
    return document


def a_test(expect_score: int) -> dict:
    return {
        "name": "M2 with a large overdue amount",
        "facts": {"dpd": 45, "overdue_amount": 20000, "outstanding_balance": 30000},
        "expect": {"score": expect_score, "level": "P2"},
    }


def running_priority_version(session: Session) -> int:
    """What the rules service runs: the newest active published version (``Policy.refresh``)."""
    return session.scalars(
        select(PublishedRuleset.version)
        .where(PublishedRuleset.name == "priority", PublishedRuleset.active.is_(True))
        .order_by(PublishedRuleset.id.desc())
    ).first()


@pytest.fixture
def analyst_draft(session) -> RulesetVersion:
    draft = save_draft(session, priority_document(raise_by=5), author="analyst1")
    session.commit()
    return draft


def test_a_draft_gets_the_next_version_and_its_findings(session, published, analyst_draft):
    assert analyst_draft.status is VersionStatus.DRAFT
    assert analyst_draft.version == 2  # v1 is the published default
    assert analyst_draft.author == "analyst1"
    assert isinstance(analyst_draft.findings, list)
    assert table_of(analyst_draft).version == 2


def test_a_broken_document_is_refused_with_its_row_and_cell(session, published):
    document = priority_document()
    document["rows"][2]["when"]["dpd"] = ">= ninety"
    with pytest.raises(TableError) as refused:
        save_draft(session, document, author="analyst1")
    assert document["rows"][2]["id"] in str(refused.value)
    assert "dpd" in str(refused.value)


def test_only_a_draft_changes_and_a_frozen_version_is_changed_through_a_new_draft(
    session, published, analyst_draft
):
    analyst_draft.tests = []
    submit(session, analyst_draft, by="analyst1")
    with pytest.raises(LifecycleError, match="only a draft can be changed"):
        save_draft(session, priority_document(), author="analyst1", draft=analyst_draft)
    again = draft_from(session, analyst_draft, author="analyst2")
    assert again.version == 3 and again.based_on_id == analyst_draft.id
    assert again.document["rows"] == analyst_draft.document["rows"]


def test_failing_test_cases_block_submission(session, published, analyst_draft):
    expected = [
        row["then"]["score"] for row in analyst_draft.document["rows"] if row["id"] == "P05"
    ]
    analyst_draft.tests = [a_test(expect_score=-1)]
    with pytest.raises(LifecycleError, match="test cases fail"):
        submit(session, analyst_draft, by="analyst1")
    assert analyst_draft.status is VersionStatus.DRAFT
    assert expected  # the row the test is about exists


def test_the_author_cannot_approve_and_another_supervisor_can(session, published, analyst_draft):
    submit(session, analyst_draft, by="analyst1")
    with pytest.raises(LifecycleError, match="maker-checker"):
        approve(session, analyst_draft, by="analyst1")
    approve(session, analyst_draft, by="supervisor1")
    assert (analyst_draft.status, analyst_draft.approved_by) == (
        VersionStatus.APPROVED,
        "supervisor1",
    )


def test_a_rejected_version_says_why_and_stays_frozen(session, published, analyst_draft):
    submit(session, analyst_draft, by="analyst1")
    with pytest.raises(LifecycleError, match="say why"):
        reject(session, analyst_draft, by="supervisor1", note=" ")
    reject(session, analyst_draft, by="supervisor1", note="scores too high for M1")
    assert analyst_draft.status is VersionStatus.REJECTED
    with pytest.raises(LifecycleError, match="not submitted"):
        approve(session, analyst_draft, by="supervisor2")


def test_publishing_runs_the_version_and_rolling_back_runs_the_older_one_again(
    session, published, analyst_draft
):
    submit(session, analyst_draft, by="analyst1")
    approve(session, analyst_draft, by="supervisor1")
    publish(session, analyst_draft, by="supervisor1")
    session.commit()
    assert running_priority_version(session) == 2
    first = session.scalars(
        select(RulesetVersion).where(RulesetVersion.name == "priority", RulesetVersion.version == 1)
    ).first()
    if first is not None:  # published from the file: it has its place in the life cycle
        assert first.status is VersionStatus.RETIRED
    runs = session.scalars(select(ReevaluationRun).order_by(ReevaluationRun.id)).all()
    assert any("priority v2" in run.reason for run in runs)

    # A third version, then a rollback to v2.
    third = draft_from(session, analyst_draft, author="analyst1")
    third.document = to_dict(from_json({**third.document, "version": third.version}))
    submit(session, third, by="analyst1")
    approve(session, third, by="supervisor2")
    publish(session, third, by="supervisor2")
    session.commit()
    assert running_priority_version(session) == 3
    assert analyst_draft.status is VersionStatus.RETIRED
    publish(session, analyst_draft, by="supervisor1")
    session.commit()
    assert running_priority_version(session) == 2
    assert third.status is VersionStatus.RETIRED
    active = session.scalars(
        select(PublishedRuleset.version).where(
            PublishedRuleset.name == "priority", PublishedRuleset.active.is_(True)
        )
    ).all()
    assert active == [2]
    assert any(
        "rolled back to priority v2" in r.reason for r in session.scalars(select(ReevaluationRun))
    )
    # Every step is in the audit trail: the draft's insert, then each status change.
    statuses = [
        entry.after.get("status")
        for entry in session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.table_name == "ruleset_version",
                AuditEntry.row_id == str(analyst_draft.id),
            )
            .order_by(AuditEntry.id)
        )
        if entry.after and "status" in entry.after
    ]
    assert statuses == ["draft", "submitted", "approved", "published", "retired", "published"]


def test_an_unapproved_version_cannot_be_published(session, published, analyst_draft):
    with pytest.raises(LifecycleError, match="only an approved version"):
        publish(session, analyst_draft, by="supervisor1")


def test_the_diff_of_two_versions_names_rows_and_cells():
    old = default_policy()["priority"]
    document = to_dict(old)
    document["version"] = 2
    document["rows"][0]["then"]["score"] += 1
    document["rows"][1]["when"]["dpd"] = ">= 95"
    removed = document["rows"].pop()
    new = from_json(document)
    changes = diff(old, new)
    assert changes.head == {"version": ("1", "2")}
    assert changes.rows_removed == [removed["id"]]
    first, second = old.rows[0].id, old.rows[1].id
    assert set(changes.rows_changed[first]) == {"then score"}
    assert changes.rows_changed[second]["when dpd"][1] == ">= 95"
    assert diff(old, old).empty
