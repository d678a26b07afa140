"""Treatment paths: the shipped defaults, the refusals an analyst sees when saving a path, and the
maker-checker life cycle of path versions (draft → submitted → approved → published)."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from casedb.merge_fields import MERGE_FIELDS, fields_of, merge_values
from casedb.models import TreatmentPath, VersionStatus
from rules_service.decision_table import Kind
from rules_service.default_policy import default_policy
from rules_service.treatment_paths import (
    AUTOMATED_ACTIONS,
    DEFAULT_ESCALATION_HOURS,
    LANGUAGES,
    PATHS_DIR,
    PathError,
    PathLifecycleError,
    approve,
    parse_path,
    publish,
    publish_shipped,
    published_paths,
    reject,
    save_draft,
    shipped_paths,
    submit,
)

# --- documents ---------------------------------------------------------------------------------


def sms(step_id: str = "S1", offset: int = 0, after: str = "entry", **extra: Any) -> dict:
    return {
        "id": step_id,
        "action": "sms_reminder",
        "offset_days": offset,
        "after": after,
        "template": {
            "zh": {"body": "【{lender_name}】{customer_name}您好，请致电{hotline}。"},
            "en": {"body": "{lender_name}: Dear {customer_name}, please call {hotline}."},
        },
        **extra,
    }


def call(step_id: str = "C1", offset: int = 2, after: str = "previous", **extra: Any) -> dict:
    return {"id": step_id, "action": "call", "offset_days": offset, "after": after, **extra}


def letter(step_id: str = "L1", offset: int = 5, after: str = "previous") -> dict:
    return {
        "id": step_id,
        "action": "formal_letter",
        "offset_days": offset,
        "after": after,
        "template": {
            "zh": {
                "subject": "还款通知函（{loan_no}）",
                "body": "{customer_name}：……{lender_name}",
            },
            "en": {"subject": "Demand for payment ({loan_no})", "body": "Dear {customer_name}"},
        },
    }


def document(*steps: dict, name: str = "test_path") -> dict:
    return {
        "name": name,
        "title": {"zh": "测试路径", "en": "Test path"},
        "steps": list(steps) or [sms(), call(), letter()],
    }


# --- the shipped paths -------------------------------------------------------------------------


def strategy_paths() -> set[str]:
    """Every path a row of the shipped strategy table can send a case to."""
    table = default_policy()[Kind.STRATEGY]
    names = set()
    for row in table.rows:
        for output in ("treatment_path", "challenger_path"):
            if row.then.get(output):
                names.add(row.then[output])
    return names


def test_every_path_the_strategy_table_names_is_shipped():
    named = strategy_paths()
    assert {"m1_gentle_reminders", "m2_calls", "m3_letters", "ptp_follow_up"} <= named
    shipped = {path.name for path in shipped_paths()}
    assert named - shipped == set(), f"the strategy table names paths not shipped: {named}"


def test_every_shipped_file_parses_and_is_named_after_its_path():
    files = sorted(PATHS_DIR.glob("*.json"))
    assert files
    for file in files:
        path = parse_path(file.read_text(encoding="utf-8"))
        assert path.name == file.stem
        assert set(path.title) == set(LANGUAGES) and all(path.title.values())
    assert [p.name for p in shipped_paths()] == [f.stem for f in files]


def test_shipped_messages_speak_both_languages_and_identify_the_lender():
    for path in shipped_paths():
        assert path.steps, path.name
        for step in path.steps:
            assert set(step.template) == set(LANGUAGES), f"{path.name} {step.id}"
            for language in LANGUAGES:
                text = step.template[language]
                named = fields_of(text["subject"]) + fields_of(text["body"])
                assert set(named) <= set(MERGE_FIELDS)
                if step.automated:
                    # Whoever reads it knows who sent it and where to call.
                    assert {"lender_name", "hotline"} <= set(named), f"{path.name} {step.id}"
                else:
                    assert text["body"].strip(), f"{path.name} {step.id}: a script for the task"
                    assert step.escalate_after_hours


def test_shipped_messages_render_for_a_case():
    values = merge_values(
        {
            "customer_name": "张三",
            "case_no": "K1",
            "loan_no": "L1",
            "currency": "CNY",
            "overdue_amount": Decimal("1200.5"),
            "outstanding_balance": Decimal("8000"),
            "dpd": 45,
            "bucket": "M2",
            "promise_amount": Decimal("600"),
            "promise_date": date(2025, 3, 1),
        },
        {"LENDER_NAME": "示例消费金融", "COLLECTION_HOTLINE": "400-000-0000"},
        today=date(2025, 2, 20),
    )
    for path in shipped_paths():
        for step in path.steps:
            for language in LANGUAGES:
                text = step.text(language)
                body = values.render(text["subject"]) + "\n" + values.render(text["body"])
                assert "{" not in body and "}" not in body
                if step.automated:
                    assert "示例消费金融" in body and "400-000-0000" in body


def test_the_promise_path_reminds_of_the_promised_amount_and_date():
    path = {p.name: p for p in shipped_paths()}["ptp_follow_up"]
    reminders = [s for s in path.steps if s.action == "sms_reminder"]
    assert reminders and reminders[0].offset_days == 0
    for language in LANGUAGES:
        body = reminders[0].template[language]["body"]
        assert {"promise_amount", "promise_date"} <= set(fields_of(body))
    assert any(s.action == "call" for s in path.steps)


# --- refusals: they name the step and the field -------------------------------------------------


def refused(doc: dict | str) -> PathError:
    with pytest.raises(PathError) as error:
        parse_path(doc)
    return error.value


def test_a_valid_path_parses_with_its_days_anchors_and_channels():
    path = parse_path(json.dumps(document()))
    assert [s.id for s in path.steps] == ["S1", "C1", "L1"]
    s1, c1, l1 = path.steps
    assert (s1.automated, s1.channel, s1.escalate_after_hours) == (True, "sms", None)
    # A task for a person escalates after a day unless the path says otherwise.
    assert (c1.automated, c1.channel) == (False, None)
    assert c1.escalate_after_hours == DEFAULT_ESCALATION_HOURS
    assert l1.channel == "letter" and l1.text("en")["subject"].startswith("Demand")
    assert parse_path(path.as_dict()) == path
    assert parse_path(path.as_dict()).checksum() == path.checksum()


def test_an_unknown_merge_field_is_refused_by_name():
    doc = document()
    doc["steps"][0]["template"]["zh"]["body"] = "{custmer_name}您好"
    error = refused(doc)
    assert error.step == "S1"
    assert error.field == "custmer_name"
    assert "custmer_name" in str(error) and "S1" in str(error)


@pytest.mark.parametrize(
    ("language", "body", "found"),
    [
        ("zh", "{customer_name}您好，再不还款明天就让警察上门抓你。", "警察"),
        ("en", "Pay today or we will have you arrested, {customer_name}.", "arrested"),
        ("zh", "{customer_name}您好，请把钱转到我的私人微信。", "微信"),
    ],
)
def test_a_template_the_script_audit_blocks_cannot_be_saved(language, body, found):
    doc = document()
    doc["steps"][0]["template"][language]["body"] = body
    error = refused(doc)
    assert (error.step, error.field) == ("S1", f"template.{language}.body")
    assert "script audit" in str(error) and found in str(error)


def test_a_script_telling_collectors_what_never_to_say_passes_the_audit():
    doc = document()
    doc["steps"][1]["template"] = {
        "zh": {"body": "不得恐吓、威胁、辱骂或限制他人人身自由，不得冒用司法机关名义。"},
        "en": {
            "body": "Never threaten, never claim to speak for a court, the police or any authority."
        },
    }
    parse_path(doc)


def test_an_unknown_merge_field_in_a_call_script_or_subject_is_refused_too():
    doc = document()
    doc["steps"][1]["template"] = {"zh": {"body": "请问是{debtor}吗？"}}
    error = refused(doc)
    assert (error.step, error.field) == ("C1", "debtor")
    doc = document()
    doc["steps"][2]["template"]["en"]["subject"] = "Loan {loan_number}"
    error = refused(doc)
    assert (error.step, error.field) == ("L1", "loan_number")


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ("{customer_name", "template.zh.body"),
        ("您好 customer_name}", "template.zh.body"),
        ("{}您好", "template.zh.body"),
    ],
)
def test_broken_braces_are_refused_with_the_template_part(body, part):
    doc = document()
    doc["steps"][0]["template"]["zh"]["body"] = body
    error = refused(doc)
    assert (error.step, error.field) == ("S1", part)
    assert "S1" in str(error)


def test_doubled_braces_are_literal_text():
    doc = document()
    doc["steps"][0]["template"]["en"]["body"] = "{{not a field}} {lender_name} {hotline}"
    assert parse_path(doc).steps[0].template["en"]["body"].startswith("{{")


@pytest.mark.parametrize("offset", [-1, 1.5, "3", None, True, 366, 10_000])
def test_an_impossible_offset_is_refused(offset):
    doc = document()
    doc["steps"][1]["offset_days"] = offset
    error = refused(doc)
    assert (error.step, error.field) == ("C1", "offset_days")
    assert "C1" in str(error) and "offset_days" in str(error)


@pytest.mark.parametrize("offset", [0, 365])
def test_offsets_from_zero_to_a_year_are_accepted(offset):
    doc = document()
    doc["steps"][1]["offset_days"] = offset
    assert parse_path(doc).steps[1].offset_days == offset


def test_a_step_falling_before_the_one_above_it_is_refused():
    # S1 on day 5 after entry, C1 on day 3 after entry: out of order.
    error = refused(document(sms(offset=5), call(offset=3, after="entry")))
    assert (error.step, error.field) == ("C1", "offset_days")
    assert "before" in str(error)
    # Counting from the previous step, day 5 + 0 is the same day: fine.
    path = parse_path(document(sms(offset=5), call(offset=0), call("C2", 5, "entry")))
    assert [s.id for s in path.steps] == ["S1", "C1", "C2"]


def test_an_unknown_anchor_is_refused():
    error = refused(document(sms(), call(after="yesterday")))
    assert (error.step, error.field) == ("C1", "after")


def test_an_unknown_action_is_refused_with_the_actions_listed():
    error = refused(document(sms(), {**call(), "action": "wechat_message"}))
    assert (error.step, error.field) == ("C1", "action")
    assert "wechat_message" in str(error) and "sms_reminder" in str(error)


def test_a_duplicate_step_id_is_refused():
    error = refused(document(sms("S1"), call("S1")))
    assert (error.step, error.field) == ("S1", "id")
    assert "twice" in str(error)


@pytest.mark.parametrize("action", sorted(AUTOMATED_ACTIONS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_automated_step_needs_a_body_in_each_language(action, language):
    step = {**letter(), "action": action}
    step["template"][language]["body"] = "  "
    error = refused(document(sms(), step))
    assert (error.step, error.field) == ("L1", f"template.{language}.body")
    step["template"].pop(language)
    error = refused(document(sms(), step))
    assert (error.step, error.field) == ("L1", f"template.{language}.body")


@pytest.mark.parametrize("action", ["formal_letter", "email_reminder"])
def test_a_letter_or_email_needs_a_subject(action):
    step = {**letter(), "action": action}
    del step["template"]["en"]["subject"]
    error = refused(document(sms(), step))
    assert (error.step, error.field) == ("L1", "template.en.subject")


def test_a_call_needs_no_script_and_keeps_its_escalation():
    path = parse_path(document(sms(), call(escalate_after_hours=72)))
    assert path.steps[1].escalate_after_hours == 72
    assert path.steps[1].template == {}
    error = refused(document(sms(), call(escalate_after_hours=0)))
    assert (error.step, error.field) == ("C1", "escalate_after_hours")


def test_a_template_in_a_third_language_is_refused():
    step = sms()
    step["template"]["fr"] = {"body": "Bonjour"}
    error = refused(document(step))
    assert (error.step, error.field) == ("S1", "template")


@pytest.mark.parametrize("name", ["", "m2-calls", "催收", "x" * 65])
def test_a_path_needs_a_plain_name(name):
    assert refused(document(name=name)).field == "name"


def test_a_path_needs_steps_and_a_document_must_be_json():
    assert refused({"name": "empty", "steps": []}).field == "steps"
    assert "not JSON" in str(refused("{not json"))


# --- versions: draft → submitted → approved → published ----------------------------------------


def test_a_refused_document_saves_nothing(session):
    doc = document()
    doc["steps"][0]["template"]["zh"]["body"] = "{custmer_name}"
    with pytest.raises(PathError):
        save_draft(session, doc, author="analyst1")
    assert session.scalars(select(TreatmentPath)).all() == []


def test_drafts_number_the_versions_of_a_path(session):
    first = save_draft(session, document(), author="analyst1")
    second = save_draft(session, document(), author="analyst2")
    other = save_draft(session, document(name="other_path"), author="analyst1")
    session.commit()
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.status is VersionStatus.DRAFT and first.author == "analyst1"
    assert first.document == parse_path(document()).as_dict()


def test_the_author_or_submitter_cannot_approve_another_supervisor_can(session):
    draft = save_draft(session, document(), author="analyst1")
    submit(session, draft, by="analyst2")
    assert (draft.status, draft.submitted_by) == (VersionStatus.SUBMITTED, "analyst2")
    for maker in ("analyst1", "analyst2"):
        with pytest.raises(PathLifecycleError, match="maker-checker"):
            approve(session, draft, by=maker)
    assert draft.status is VersionStatus.SUBMITTED
    approve(session, draft, by="supervisor1")
    session.commit()
    assert (draft.status, draft.approved_by) == (VersionStatus.APPROVED, "supervisor1")
    with pytest.raises(PathLifecycleError, match="not submitted"):
        approve(session, draft, by="supervisor2")


def test_only_a_draft_changes(session):
    draft = save_draft(session, document(), author="analyst1")
    changed = document(sms(), call(offset=4))
    save_draft(session, changed, author="analyst1", draft=draft)
    assert draft.version == 1 and draft.document["steps"][1]["offset_days"] == 4
    assert draft.checksum == parse_path(changed).checksum()
    with pytest.raises(PathError) as error:
        save_draft(session, document(name="another"), author="analyst1", draft=draft)
    assert error.value.field == "name"

    submit(session, draft, by="analyst1")
    with pytest.raises(PathLifecycleError, match="only a draft changes"):
        save_draft(session, document(), author="analyst1", draft=draft)
    with pytest.raises(PathLifecycleError, match="not a draft"):
        submit(session, draft, by="analyst1")
    assert draft.document["steps"][1]["offset_days"] == 4


def test_a_rejection_says_why_and_freezes_the_version(session):
    draft = save_draft(session, document(), author="analyst1")
    with pytest.raises(PathLifecycleError, match="not submitted"):
        reject(session, draft, by="supervisor1", note="too early")
    submit(session, draft, by="analyst1")
    with pytest.raises(PathLifecycleError, match="say why"):
        reject(session, draft, by="supervisor1", note="  ")
    reject(session, draft, by="supervisor1", note=" calls start too early ")
    session.commit()
    assert (draft.status, draft.note) == (VersionStatus.REJECTED, "calls start too early")
    with pytest.raises(PathLifecycleError):
        approve(session, draft, by="supervisor2")
    with pytest.raises(PathLifecycleError):
        publish(session, draft, by="supervisor2")
    with pytest.raises(PathLifecycleError):
        save_draft(session, document(), author="analyst1", draft=draft)


def approved(session, doc: dict, author: str = "analyst1") -> TreatmentPath:
    version = save_draft(session, doc, author=author)
    submit(session, version, by=author)
    return approve(session, version, by="supervisor1")


def test_only_an_approved_version_is_published(session):
    draft = save_draft(session, document(), author="analyst1")
    with pytest.raises(PathLifecycleError, match="only an approved or retired"):
        publish(session, draft, by="supervisor1")
    submit(session, draft, by="analyst1")
    with pytest.raises(PathLifecycleError, match="only an approved or retired"):
        publish(session, draft, by="supervisor1")
    assert published_paths(session) == {}


def test_publishing_retires_the_version_in_use_and_rolling_back_restores_it(session):
    v1 = publish(session, approved(session, document()), by="supervisor1")
    session.commit()
    assert (v1.status, v1.published_by) == (VersionStatus.PUBLISHED, "supervisor1")
    assert published_paths(session)["test_path"].version == 1

    v2 = approved(session, document(sms(), call(offset=9)))
    assert published_paths(session)["test_path"].version == 1  # approved is not in use yet
    publish(session, v2, by="supervisor2")
    session.commit()
    session.expire_all()
    assert v1.status is VersionStatus.RETIRED and v1.retired_at is not None
    assert v2.status is VersionStatus.PUBLISHED
    in_use = published_paths(session)["test_path"]
    assert in_use.version == 2 and in_use.document.steps[1].offset_days == 9

    publish(session, v1, by="supervisor1")  # roll back
    session.commit()
    session.expire_all()
    assert (v1.status, v2.status) == (VersionStatus.PUBLISHED, VersionStatus.RETIRED)
    assert published_paths(session)["test_path"].version == 1
    statuses = session.scalars(
        select(TreatmentPath.status).where(TreatmentPath.name == "test_path")
    ).all()
    assert statuses.count(VersionStatus.PUBLISHED) == 1


def test_published_paths_are_the_versions_in_use_by_name(session):
    publish(session, approved(session, document(name="path_a")), by="supervisor1")
    publish(session, approved(session, document(name="path_b")), by="supervisor1")
    save_draft(session, document(name="path_c"), author="analyst1")
    approved(session, document(name="path_d"))
    session.commit()
    paths = published_paths(session)
    assert set(paths) == {"path_a", "path_b"}
    assert paths["path_a"].document == parse_path(document(name="path_a"))


# --- the shipped defaults in the database ------------------------------------------------------


def test_publish_shipped_publishes_each_shipped_path_once(session):
    shipped = {path.name: path for path in shipped_paths()}
    published = publish_shipped(session, by="setup")
    session.commit()
    assert sorted(v.name for v in published) == sorted(shipped)
    for version in published:
        assert (version.version, version.status) == (1, VersionStatus.PUBLISHED)
        assert version.checksum == shipped[version.name].checksum()
    paths = published_paths(session)
    assert set(paths) == set(shipped) >= strategy_paths()
    assert all(paths[name].document == shipped[name] for name in shipped)

    assert publish_shipped(session, by="setup") == []
    session.commit()
    assert len(session.scalars(select(TreatmentPath)).all()) == len(shipped)


def test_publish_shipped_never_replaces_an_analysts_version(session):
    publish_shipped(session, by="setup")
    session.commit()
    base = next(p for p in shipped_paths() if p.name == "m2_calls").as_dict()
    mine = copy.deepcopy(base)
    mine["steps"][0]["escalate_after_hours"] = 4
    publish(session, approved(session, mine), by="supervisor1")
    session.commit()

    assert publish_shipped(session, by="setup") == []
    session.commit()
    in_use = published_paths(session)["m2_calls"]
    assert in_use.version == 2
    assert in_use.document.steps[0].escalate_after_hours == 4


def test_publish_shipped_leaves_a_path_an_analyst_published_first(session):
    base = next(p for p in shipped_paths() if p.name == "m3_letters").as_dict()
    base["steps"] = base["steps"][:2]
    publish(session, approved(session, base), by="supervisor1")
    session.commit()
    published = publish_shipped(session, by="setup")
    session.commit()
    assert "m3_letters" not in {v.name for v in published}
    in_use = published_paths(session)
    assert len(in_use["m3_letters"].document.steps) == 2
    assert set(in_use) >= strategy_paths()


@pytest.mark.parametrize("body", ["{dpd:{custmer_name}}天", "{overdue_amount:.2f}元"])
def test_a_placeholder_with_a_format_spec_is_refused_when_saved(body):
    doc = document()
    doc["steps"][0]["template"]["zh"]["body"] = body
    with pytest.raises(PathError):
        parse_path(doc)


def test_only_its_author_changes_a_draft_so_no_editor_can_approve_their_own_change(session):
    draft = save_draft(session, document(), author="analyst1")
    with pytest.raises(PathLifecycleError, match="analyst1's draft"):
        save_draft(session, document(sms(), call(offset=1)), author="analyst2", draft=draft)
    own = save_draft(session, document(sms(), call(offset=1)), author="analyst1", draft=draft)
    assert len(own.document["steps"]) == 2
