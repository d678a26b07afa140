"""Compliance in the console: the gate's API, the gate in front of the workbench's dial, notes
through the script audit, and the auditors' tools (the log and its CSV, the legal knowledge base,
policy versions under maker-checker, replay and history export). Each test has a fresh app and
an emptied database; a 4xx with a reason answers bad input, never a 500."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

import console.compliance
from casedb.compliance.replay import replay_document
from casedb.contact_log import log_contact
from casedb.models import (
    AuditEntry,
    Channel,
    CollectionCase,
    ComplianceCheck,
    CompliancePolicyVersion,
    ContactPoint,
    Customer,
    Outcome,
)
from casedb.session import transaction
from rules_service.compliance_policies import publish_shipped
from tests.console.conftest import api_token, sign_in, zone_where_it_is

SHANGHAI_NIGHT = "2025-03-03T22:30:00+08:00"


@pytest.fixture
def cases(engine, assigned, run_import, session):
    """K1 (collector1, team T1 of supervisor1) with mobile P1; K2 (collector2) with P2."""
    run_import(
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value", "consent"],
            ["P1", "C1", "mobile", "13812345678", "granted"],
            ["P2", "C2", "mobile", "13900001111", "granted"],
        ],
    )
    points = {p.contact_point_no: p.id for p in session.scalars(select(ContactPoint))}
    return {**assigned, **points}


def set_timezone(engine, customer_no: str, zone: str) -> None:
    with transaction(engine) as session:
        session.execute(
            update(Customer).where(Customer.customer_no == customer_no).values(timezone=zone)
        )


def checks(engine) -> list[ComplianceCheck]:
    with transaction(engine) as session:
        found = list(session.scalars(select(ComplianceCheck).order_by(ComplianceCheck.id)))
        session.expunge_all()
        return found


def ask(client, headers, **body):
    return client.post("/api/v1/compliance/check", json=body, headers=headers)


def log_call(engine, case_no: str, point_id: int, at: datetime, outcome=Outcome.NO_ANSWER):
    with transaction(engine) as session:
        case = session.scalar(select(CollectionCase).where(CollectionCase.case_no == case_no))
        log_contact(
            session,
            case,
            actor="collector1",
            channel=Channel.CALL,
            outcome=outcome,
            started_at=at,
            contact_point_id=point_id,
        )


def in_english(app, username: str):
    client = sign_in(app, username)
    client.get("/lang/en")
    return client


# --- the check API ------------------------------------------------------------------------------


def test_the_check_api_allows_blocks_with_the_earliest_time_and_asks_for_review(app, engine, cases):
    client = app.test_client()
    headers = api_token(client, "collector1")

    allowed = ask(
        client,
        headers,
        case_no="K1",
        channel="call",
        party="debtor",
        contact_point_id=cases["P1"],
        at="2025-03-03T10:00:00+08:00",
    )
    assert allowed.status_code == 200, allowed.get_json()
    assert allowed.get_json()["verdict"] == "allowed"
    assert allowed.get_json()["policy"] == "CN"

    blocked = ask(client, headers, case_no="K1", channel="call", at=SHANGHAI_NIGHT)
    assert blocked.status_code == 200
    answer = blocked.get_json()
    assert answer["verdict"] == "blocked"
    [quiet] = [rule for rule in answer["rules"] if rule["id"] == "quiet_hours"]
    assert quiet["verdict"] == "blocked" and "cn.gbt2025.time" in quiet["source"]
    assert "22:30" in quiet["message"] and quiet["message_zh"]
    assert answer["earliest_allowed_at"] == "2025-03-04T08:00:00+08:00"
    assert isinstance(answer["check_id"], int)

    # An unanswered call two minutes before: the CN policy asks for review of a quick redial.
    log_call(engine, "K1", cases["P1"], datetime(2025, 3, 3, 1, 58, tzinfo=UTC))
    review = ask(
        client,
        headers,
        case_no="K1",
        channel="call",
        contact_point_id=cases["P1"],
        at="2025-03-03T10:00:00+08:00",
    )
    assert review.get_json()["verdict"] == "review", review.get_json()
    assert [r["id"] for r in review.get_json()["rules"]] == ["rapid_redial"]

    logged = checks(engine)
    assert [(c.verdict, c.origin, c.actor) for c in logged] == [
        ("allowed", "api", "collector1"),
        ("blocked", "api", "collector1"),
        ("review", "api", "collector1"),
    ]
    assert logged[0].target == "138****5678"
    assert logged[1].blocking_rule == "quiet_hours"
    assert logged[1].id == answer["check_id"]


def test_the_check_api_keeps_to_the_callers_scope_and_refuses_bad_input(app, engine, cases):
    client = app.test_client()
    collector = api_token(client, "collector1")
    # Another collector's case and a case that does not exist: not found.
    other = ask(client, collector, case_no="K2", channel="call")
    assert other.status_code == 404 and other.get_json()["message"]
    assert ask(client, collector, case_no="NOPE", channel="call").status_code == 404
    # collector2 may ask about their own case; supervisor1 about their team's, not K2.
    assert (
        ask(client, api_token(client, "collector2"), case_no="K2", channel="sms").status_code == 200
    )
    supervisor = api_token(client, "supervisor1")
    assert ask(client, supervisor, case_no="K1", channel="sms").status_code == 200
    assert ask(client, supervisor, case_no="K2", channel="sms").status_code == 404
    # Auditors and analysts read the log; they do not ask the gate.
    for username in ("auditor", "analyst"):
        refused = ask(client, api_token(client, username), case_no="K1", channel="call")
        assert refused.status_code == 403
    bad = [
        ({"case_no": "K1", "channel": "fax"}, "channel"),
        ({"case_no": "K1", "channel": "call", "party": "neighbour"}, "party"),
        ({"case_no": "K1", "channel": "call", "at": "tonight"}, "at"),
        ({"case_no": "K1", "channel": "call", "at": "2025-03-03T22:30:00"}, "at"),
        ({"channel": "call"}, "case_no"),
        ({"case_no": "K1", "channel": "call", "contact_point_id": cases["P2"]}, "contact_point_id"),
        ({"case_no": "K1", "channel": "call", "contact_point_id": "x"}, "contact_point_id"),
        ({"case_no": "K1", "channel": "visit", "collectors": -1}, "collectors"),
        ({"case_no": "K1", "channel": "sms", "text": 5}, "text"),
        ({"case_no": "K1", "channel": "call", "at": "9999-12-31T23:30:00+00:00"}, "at"),
    ]
    for body, field in bad:
        response = ask(client, collector, **body)
        assert response.status_code == 400, (body, response.get_json())
        assert field in response.get_json()["message"], (body, response.get_json())
    not_json = client.post("/api/v1/compliance/check", data="case_no=K1", headers=collector)
    assert not_json.status_code == 400
    assert [c.case_id for c in checks(engine)] == [cases["K2"], cases["K1"]]


def test_a_text_to_send_is_judged_by_the_script_audit_too(app, engine, cases):
    client = app.test_client()
    answer = ask(
        client,
        api_token(client, "collector1"),
        case_no="K1",
        channel="sms",
        text="再不还钱就去你单位闹",
        at="2025-03-03T10:00:00+08:00",
    ).get_json()
    assert answer["verdict"] == "blocked"
    [script] = answer["rules"]
    assert script["id"] == "script" and "cn.cba2026.prohibited" in script["source"]
    assert checks(engine)[0].blocking_rule == "script"


def test_the_api_is_in_the_openapi_spec(app, cases):
    client = app.test_client()
    spec = client.get("/api/v1/_openapi", headers=api_token(client, "collector1")).get_json()
    assert {"/api/v1/compliance/check", "/api/v1/compliance/script-audit"} <= set(spec["paths"])


def test_the_script_audit_api(app, cases):
    client = app.test_client()
    for username in ("collector1", "analyst", "supervisor1", "auditor"):
        headers = api_token(client, username)
        fine = client.post(
            "/api/v1/compliance/script-audit",
            json={"text": "您好，您的账单已逾期，请尽快还款。"},
            headers=headers,
        )
        assert fine.status_code == 200, fine.get_json()
        assert fine.get_json()["verdict"] == "pass"
    threat = client.post(
        "/api/v1/compliance/script-audit",
        json={"text": "再不还钱就去你单位闹，让你全家都知道你欠钱！"},
        headers=headers,
    )
    assert threat.status_code == 200
    assert threat.get_json()["verdict"] == "block"
    assert threat.get_json()["findings"]
    for body in (
        {},
        {"text": ""},
        {"text": "x", "lawful_actions": "lawsuit"},
        {"text": "x", "to_third_party": "yes"},
    ):
        assert (
            client.post("/api/v1/compliance/script-audit", json=body, headers=headers).status_code
            == 400
        )


# --- the gate in the workbench --------------------------------------------------------------------


def test_a_dial_at_a_blocked_moment_reveals_no_number_and_says_why(app, engine, cases):
    set_timezone(engine, "C1", zone_where_it_is(23))
    client = in_english(app, "collector1")
    refused = client.post(f"/workbench/{cases['K1']}/dial/{cases['P1']}")
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "13812345678" not in page and 'href="tel:' not in page
    assert 'id="gate-answer" data-verdict="blocked"' in page
    assert re.search(r'class="gate-reason" data-rule="quiet_hours" data-verdict="blocked"', page)
    assert "no collection contact in the quiet hours" in page
    assert 'data-source="cn.gbt2025.time"' in page
    earliest = re.search(r'id="gate-earliest" data-earliest="([^"]+)"', page).group(1)
    assert datetime.fromisoformat(earliest).strftime("%H:%M") == "08:00"
    [check] = checks(engine)
    assert (check.origin, check.actor, check.verdict, check.blocking_rule, check.channel) == (
        "click",
        "collector1",
        "blocked",
        "quiet_hours",
        "call",
    )
    assert check.target == "138****5678" and check.earliest_allowed_at is not None
    with transaction(engine) as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "reveal")).all() == []
    # In Chinese the reasons are the gate's Chinese messages.
    chinese = sign_in(app, "collector1").post(f"/workbench/{cases['K1']}/dial/{cases['P1']}")
    assert "禁止催收时段" in chinese.get_data(as_text=True)


def test_a_dial_to_review_warns_and_shows_the_number(app, engine, cases):
    set_timezone(engine, "C1", zone_where_it_is(12))
    log_call(engine, "K1", cases["P1"], datetime.now(UTC) - timedelta(minutes=1))
    client = in_english(app, "collector1")
    dialled = client.post(f"/workbench/{cases['K1']}/dial/{cases['P1']}")
    assert dialled.status_code == 200
    page = dialled.get_data(as_text=True)
    assert 'href="tel:13812345678"' in page
    assert 'id="gate-answer" data-verdict="review"' in page and 'data-rule="rapid_redial"' in page
    assert [c.verdict for c in checks(engine)] == ["review"]


def test_a_dial_at_a_working_hour_reveals_the_number_and_logs_the_check(app, engine, cases):
    set_timezone(engine, "C1", zone_where_it_is(12))
    dialled = sign_in(app, "collector1").post(f"/workbench/{cases['K1']}/dial/{cases['P1']}")
    assert dialled.status_code == 200
    page = dialled.get_data(as_text=True)
    assert 'href="tel:13812345678"' in page and 'id="gate-answer"' not in page
    assert [(c.verdict, c.origin) for c in checks(engine)] == [("allowed", "click")]
    # A number of another customer is refused before the gate is asked.
    other = sign_in(app, "collector1").post(f"/workbench/{cases['K1']}/dial/{cases['P2']}")
    assert other.status_code == 400 and "13900001111" not in other.get_data(as_text=True)
    assert len(checks(engine)) == 1


def test_notes_the_script_audit_blocks_are_saved_logged_and_warned_about(app, engine, cases):
    client = in_english(app, "collector1")
    saved = client.post(
        f"/workbench/{cases['K1']}/contact",
        data={
            "channel": "call",
            "party": "debtor",
            "outcome": "refused_to_pay",
            "contact_point_id": str(cases["P1"]),
            "started_at": "2025-03-01T10:30",
            "notes": "告诉他再不还钱就去他单位闹，让他全家都知道",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200
    page = saved.get_data(as_text=True)
    assert "its notes fail the script audit" in page
    with transaction(engine) as session:
        assert session.scalar(select(CollectionCase.status).where(CollectionCase.id == cases["K1"]))
    [check] = checks(engine)
    assert (check.origin, check.verdict, check.blocking_rule) == ("note", "blocked", "script")
    assert check.reasons and all(r["id"] == "script" for r in check.reasons)
    # Clean notes pass without a check row.
    client.post(
        f"/workbench/{cases['K1']}/contact",
        data={
            "channel": "call",
            "outcome": "no_answer",
            "started_at": "2025-03-01T11:30",
            "notes": "无人接听",
        },
    )
    assert len(checks(engine)) == 1


# --- the compliance log ---------------------------------------------------------------------------


def test_the_compliance_log_filters_and_exports_what_it_shows(app, engine, cases):
    client = app.test_client()
    collector1 = api_token(client, "collector1")
    ask(
        client,
        collector1,
        case_no="K1",
        channel="call",
        contact_point_id=cases["P1"],
        at="2025-03-03T10:00:00+08:00",
    )
    ask(
        client,
        collector1,
        case_no="K1",
        channel="call",
        contact_point_id=cases["P1"],
        at=SHANGHAI_NIGHT,
    )
    ask(client, api_token(client, "collector2"), case_no="K2", channel="sms", at=SHANGHAI_NIGHT)

    def listed(user_client, query=""):
        response = user_client.get(f"/compliance/log/{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return re.findall(
            r'data-verdict="(\w+)" data-rule="(\w*)" data-case="(\w*)" data-origin="(\w+)"',
            response.get_data(as_text=True),
        )

    auditor = in_english(app, "auditor")
    assert len(listed(auditor)) == 3
    assert listed(auditor, "?verdict=blocked") == [
        ("blocked", "quiet_hours", "K2", "api"),
        ("blocked", "quiet_hours", "K1", "api"),
    ]
    assert listed(auditor, "?rule=quiet_hours&case=K1") == [("blocked", "quiet_hours", "K1", "api")]
    assert listed(auditor, "?channel=sms") == [("blocked", "quiet_hours", "K2", "api")]
    assert listed(auditor, "?actor=collector2&origin=api") == [
        ("blocked", "quiet_hours", "K2", "api")
    ]
    assert listed(auditor, "?origin=click") == []
    today = datetime.now(UTC).date()
    assert len(listed(auditor, f"?since={today}&until={today}")) == 3
    assert listed(auditor, f"?until={today - timedelta(days=1)}") == []
    # A supervisor sees their team's cases' checks only (K2 has no team).
    assert {row[2] for row in listed(sign_in(app, "supervisor1"))} == {"K1"}
    # Collectors do not read the log.
    assert sign_in(app, "collector1").get("/compliance/log/").status_code == 403
    for bad in (
        "?verdict=maybe",
        "?since=yesterday",
        "?rule=Quiet Hours",
        "?page=0",
        f"?since={today}&until={today - timedelta(days=2)}",
    ):
        assert auditor.get(f"/compliance/log/{bad}").status_code == 400, bad

    exported = auditor.get("/compliance/log/export?verdict=blocked")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["case_no"], r["verdict"], r["blocking_rule"]) for r in rows] == [
        ("K1", "blocked", "quiet_hours"),
        ("K2", "blocked", "quiet_hours"),
    ]
    assert rows[0]["target"] == "138****5678"
    assert "13812345678" not in exported.get_data(as_text=True)
    assert rows[0]["reasons"].startswith("quiet_hours [blocked] no collection contact")
    assert "cn.gbt2025.time" in rows[0]["reasons"]
    assert rows[0]["earliest_allowed_at"].startswith("2025-03-04T00:00:00")  # 08:00 in UTC
    chinese = sign_in(app, "auditor").get("/compliance/log/export?case=K1&verdict=blocked")
    assert "禁止催收时段" in chinese.get_data(as_text=True)


# --- the legal knowledge base ---------------------------------------------------------------------

SOURCES = {
    "sources": [
        {
            "id": "cn.gbt2025.time",
            "jurisdiction": "CN",
            "instrument_zh": "催收服务规范（国家标准）",
            "instrument_en": "Collection services national standard",
            "citation": "GB/T 2025 §5.3",
            "quote": "每日 22:00 至次日 08:00 不得进行催收。",
            "summary_zh": "夜间不得催收",
            "summary_en": "No collection at night",
            "url": "https://example.org/gbt2025",
            "verified": True,
            "note": "",
        },
        {
            "id": "us.fdcpa.1692c.a",
            "jurisdiction": "US",
            "instrument_zh": "公平债务催收法",
            "instrument_en": "Fair Debt Collection Practices Act",
            "citation": "15 U.S.C. 1692c(a)",
            "quote": "before 8 o'clock antemeridian and after 9 o'clock postmeridian",
            "summary_zh": "不得在不便时间联系",
            "summary_en": "No contact at inconvenient times",
            "url": "javascript:alert(1)",
            "verified": False,
            "note": "to check",
        },
    ]
}


@pytest.fixture
def sources_file(tmp_path, monkeypatch):
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(SOURCES, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(console.compliance, "SOURCES_FILE", path)
    return path


def test_the_knowledge_base_lists_and_shows_sources_in_chinese_and_english(
    app, cases, sources_file
):
    client = sign_in(app, "auditor")
    index = client.get("/compliance/sources/").get_data(as_text=True)
    assert "催收服务规范（国家标准）" in index and "夜间不得催收" in index
    assert "Collection services national standard" not in index
    assert re.search(
        r'data-source="cn.gbt2025.time">.*?data-policy="CN" data-rule="quiet_hours"', index, re.S
    )
    # Rules cite ids the file does not hold: the page names them.
    assert 'id="sources-not-found"' in index and "cn.cba2026.unanswered" in index
    detail = client.get("/compliance/sources/cn.gbt2025.time").get_data(as_text=True)
    assert "每日 22:00 至次日 08:00 不得进行催收。" in detail and "GB/T 2025 §5.3" in detail
    assert 'href="https://example.org/gbt2025"' in detail
    assert 'data-policy="CN" data-rule="quiet_hours"' in detail
    us = client.get("/compliance/sources/us.fdcpa.1692c.a").get_data(as_text=True)
    assert 'data-policy="US-RegF" data-rule="inconvenient_time"' in us
    assert 'href="javascript:' not in us  # only http(s) links
    client.get("/lang/en")
    index = client.get("/compliance/sources/?jurisdiction=US").get_data(as_text=True)
    assert (
        "Fair Debt Collection Practices Act" in index
        and "No contact at inconvenient times" in index
    )
    assert "cn.gbt2025.time</code>" not in index
    detail = client.get("/compliance/sources/cn.gbt2025.time").get_data(as_text=True)
    assert "No collection at night" in detail
    assert client.get("/compliance/sources/no.such.source").status_code == 404
    # Collectors read it too: a blocked dial cites its sources.
    for username in ("analyst", "supervisor1", "collector1"):
        assert sign_in(app, username).get("/compliance/sources/").status_code == 200


def test_the_shipped_knowledge_base_holds_every_source_the_policies_cite(app, cases):
    client = sign_in(app, "auditor")
    index = client.get("/compliance/sources/")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert 'id="sources-not-found"' not in page and 'id="sources-error"' not in page
    detail = client.get("/compliance/sources/cn.gbt2025.time").get_data(as_text=True)
    assert 'data-policy="CN" data-rule="quiet_hours"' in detail
    assert re.search(r'class="source-url" href="https?://', detail)


def test_a_missing_or_broken_knowledge_base_is_said_not_a_500(app, cases, tmp_path, monkeypatch):
    monkeypatch.setattr(console.compliance, "SOURCES_FILE", tmp_path / "none.json")
    client = sign_in(app, "auditor")
    page = client.get("/compliance/sources/")
    assert page.status_code == 200 and 'id="sources-missing"' in page.get_data(as_text=True)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(console.compliance, "SOURCES_FILE", broken)
    page = client.get("/compliance/sources/")
    assert page.status_code == 200 and 'id="sources-error"' in page.get_data(as_text=True)


# --- policies -----------------------------------------------------------------------------------


def policy_form(document: dict, **changes: str) -> dict:
    """What the editor posts for ``document`` (every rule it has, as the browser sends it),
    with ``changes`` to fields (``rule-quiet_hours-param-from="21:00"``)."""
    from casedb.compliance.policy import RULE_PARAMETERS, TIMED_CHANNELS  # noqa: PLC0415

    form: dict = {
        "title_zh": document.get("title_zh", ""),
        "title_en": document.get("title_en", ""),
        "counting": document.get("counting", "debtor"),
    }
    for rule_id, raw in document["rules"].items():
        prefix = f"rule-{rule_id}-"
        if raw.get("enabled", True):
            form[prefix + "enabled"] = "on"
        for name, (kind, default) in RULE_PARAMETERS[rule_id].items():
            value = raw.get(name, default)
            if kind == "channels":
                form[prefix + "param-" + name] = list(value or TIMED_CHANNELS)
            elif isinstance(value, list):
                form[prefix + "param-" + name] = ", ".join(value)
            else:
                form[prefix + "param-" + name] = str(value)
        form[prefix + "source"] = ", ".join(raw["source"])
        form[prefix + "verdict"] = raw.get("verdict", "blocked")
    form.update(changes)
    return form


def versions(engine, name: str = "CN") -> list[tuple[int, str, str]]:
    with transaction(engine) as session:
        return [
            (v.version, v.status.value, v.author)
            for v in session.scalars(
                select(CompliancePolicyVersion)
                .where(CompliancePolicyVersion.name == name)
                .order_by(CompliancePolicyVersion.version)
            )
        ]


def test_a_policy_draft_is_approved_by_another_published_and_used_by_the_gate(app, engine, cases):
    with transaction(engine) as session:
        publish_shipped(session, by="system")
        v1 = session.scalar(
            select(CompliancePolicyVersion.id).where(CompliancePolicyVersion.name == "CN")
        )
    analyst = in_english(app, "analyst")
    index = analyst.get("/compliance/policies/").get_data(as_text=True)
    assert re.search(r'data-policy="CN" data-version="1" data-status="published"', index)
    assert 'data-policy="US-RegF" data-version="1"' in index
    shown = analyst.get(f"/compliance/policies/version/{v1}").get_data(as_text=True)
    assert (
        'data-param="from" data-value="22:00"' in shown and 'data-source="cn.gbt2025.time"' in shown
    )
    assert 'id="policy-form"' not in shown  # a published version is read, not edited

    created = analyst.post("/compliance/policies/draft", data={"from_id": str(v1)})
    assert created.status_code == 302
    assert versions(engine) == [(1, "published", "system"), (2, "draft", "analyst")]
    with transaction(engine) as session:
        draft = session.scalar(
            select(CompliancePolicyVersion).where(
                CompliancePolicyVersion.version == 2, CompliancePolicyVersion.name == "CN"
            )
        )
        draft_id, document = draft.id, draft.document
    editor = analyst.get(f"/compliance/policies/version/{draft_id}").get_data(as_text=True)
    assert 'id="policy-form"' in editor and 'name="rule-quiet_hours-param-from"' in editor

    # A value the policy cannot take is refused with the rule and parameter named.
    bad = analyst.post(
        f"/compliance/policies/version/{draft_id}/save",
        data=policy_form(document, **{"rule-daily_connected_calls-param-max": "-1"}),
    )
    assert bad.status_code == 400
    assert "rule &#39;daily_connected_calls&#39;, parameter &#39;max&#39;" in bad.get_data(
        as_text=True
    )

    saved = analyst.post(
        f"/compliance/policies/version/{draft_id}/save",
        data=policy_form(
            document,
            **{
                "rule-quiet_hours-param-from": "21:00",
                "override_region": ["北京", ""],
                "override_rule": ["daily_connected_calls", ""],
                "override_param": ["max", ""],
                "override_value": ["2", ""],
            },
        ),
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with transaction(engine) as session:
        document = session.get(CompliancePolicyVersion, draft_id).document
    assert document["rules"]["quiet_hours"]["from"] == "21:00"
    assert document["rules"]["quiet_hours"]["source"][0] == "cn.gbt2025.time"
    assert document["region_overrides"] == {"北京": {"daily_connected_calls": {"max": 2}}}

    assert analyst.post(f"/compliance/policies/version/{draft_id}/submit").status_code == 302
    assert analyst.post(f"/compliance/policies/version/{draft_id}/approve").status_code == 403
    supervisor = sign_in(app, "supervisor1")
    assert supervisor.post(f"/compliance/policies/version/{draft_id}/approve").status_code == 302
    assert supervisor.post(f"/compliance/policies/version/{draft_id}/publish").status_code == 302
    assert versions(engine) == [(1, "retired", "system"), (2, "published", "analyst")]

    # 21:30 in Shanghai: allowed under v1, blocked under v2 from the next check on.
    answer = ask(
        app.test_client(),
        api_token(app.test_client(), "collector1"),
        case_no="K1",
        channel="call",
        at="2025-03-03T21:30:00+08:00",
    ).get_json()
    assert (answer["verdict"], answer["policy_version"]) == ("blocked", 2)
    assert answer["rules"][0]["id"] == "quiet_hours"


def test_maker_checker_refusals_show_the_librarys_message(app, engine, cases):
    admin = in_english(app, "admin")
    assert admin.post("/compliance/policies/draft", data={"preset": "US-RegF"}).status_code == 302
    with transaction(engine) as session:
        draft_id = session.scalar(select(CompliancePolicyVersion.id))
    assert admin.post(f"/compliance/policies/version/{draft_id}/submit").status_code == 302
    own = admin.post(f"/compliance/policies/version/{draft_id}/approve")
    assert own.status_code == 400
    assert "maker-checker" in own.get_data(as_text=True)
    # Someone else's draft is not theirs to change; a rejection needs a reason.
    analyst = sign_in(app, "analyst")
    assert (
        analyst.post(
            f"/compliance/policies/version/{draft_id}/save", data={"counting": "debtor"}
        ).status_code
        == 400
    )
    empty = sign_in(app, "supervisor1").post(
        f"/compliance/policies/version/{draft_id}/reject", data={"note": ""}
    )
    assert empty.status_code == 400 and "say why" in empty.get_data(as_text=True)
    assert versions(engine, "US-RegF") == [(1, "submitted", "admin")]
    # Auditors read policies and change nothing.
    auditor = sign_in(app, "auditor")
    assert auditor.get(f"/compliance/policies/version/{draft_id}").status_code == 200
    assert auditor.get("/compliance/policies/preset/CN").status_code == 200
    assert auditor.post("/compliance/policies/draft", data={"preset": "CN"}).status_code == 403
    assert auditor.post(f"/compliance/policies/version/{draft_id}/publish").status_code == 403


# --- replay and history export --------------------------------------------------------------------

REPLAY = {
    "policy": "CN",
    "debtors": [{"id": "D1", "locations": ["Asia/Shanghai"]}],
    "events": [
        {
            "id": "c1",
            "type": "contact",
            "debtor": "D1",
            "at": "2025-03-03T10:00:00+08:00",
            "channel": "call",
            "outcome": "no_answer",
            "to": "p1",
        },
        {
            "id": "c2",
            "type": "contact",
            "debtor": "D1",
            "at": "2025-03-03T23:10:00+08:00",
            "channel": "call",
            "to": "p1",
        },
    ],
}


def upload(client, content: bytes, name: str = "history.json"):
    return client.post(
        "/compliance/replay/run",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_a_replay_upload_shows_each_verdict_and_offers_the_result(app, cases):
    auditor = sign_in(app, "auditor")
    done = upload(auditor, json.dumps(REPLAY).encode())
    assert done.status_code == 200, done.get_data(as_text=True)
    page = done.get_data(as_text=True)
    assert re.findall(r'data-contact="(\w+)" data-verdict="(\w+)"', page) == [
        ("c1", "allowed"),
        ("c2", "blocked"),
    ]
    assert 'id="replay-summary" data-total="2"' in page
    link = re.search(r'id="replay-download" href="([^"]+)"', page).group(1)
    downloaded = auditor.get(link)
    assert downloaded.status_code == 200
    assert json.loads(downloaded.get_data()) == replay_document(REPLAY)
    # Only who ran it downloads it.
    assert sign_in(app, "analyst").get(link).status_code == 404


def test_a_bad_replay_file_is_refused_with_the_reason(app, cases):
    auditor = in_english(app, "auditor")
    broken = dict(REPLAY, events=[{**REPLAY["events"][0], "channel": "fax"}])
    refused = upload(auditor, json.dumps(broken).encode())
    assert refused.status_code == 400
    assert "event &#39;c1&#39;, field &#39;channel&#39;" in refused.get_data(as_text=True)
    edge = {**REPLAY, "events": [{**REPLAY["events"][1], "at": "9999-12-31T23:30:00+00:00"}]}
    for content in (
        json.dumps(edge).encode(),
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b"{}",
        json.dumps(dict(REPLAY, policy="XX")).encode(),
        b"",
    ):
        response = upload(auditor, content)
        assert response.status_code == 400, content
        assert 'id="replay-error"' in response.get_data(as_text=True)
    assert auditor.post("/compliance/replay/run", data={}).status_code == 400
    app.config["COMPLIANCE_REPLAY_MAX_BYTES"] = 100
    assert upload(auditor, json.dumps(REPLAY).encode()).status_code == 413
    assert sign_in(app, "collector1").get("/compliance/replay/").status_code == 403


def test_a_case_history_export_round_trips_through_replay(app, engine, cases):
    set_timezone(engine, "C1", "Asia/Shanghai")
    start = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    for minutes, outcome in (
        (0, Outcome.NO_ANSWER),
        (2, Outcome.NO_ANSWER),
        (30, Outcome.RIGHT_PARTY_CONTACT),
    ):
        log_call(engine, "K1", cases["P1"], start + timedelta(minutes=minutes), outcome)
    auditor = sign_in(app, "auditor")
    workbench = auditor.get(f"/workbench/{cases['K1']}").get_data(as_text=True)
    link = (
        re.search(r'id="history-export-link" href="([^"]+)"', workbench)
        .group(1)
        .replace("&amp;", "&")
    )
    exported = auditor.get(link)
    assert exported.status_code == 200, exported.get_data(as_text=True)
    assert "attachment" in exported.headers["Content-Disposition"]
    document = json.loads(exported.get_data())
    assert [d["id"] for d in document["debtors"]] == ["C1"]
    assert "13812345678" not in exported.get_data(as_text=True)
    results = replay_document(document)
    assert [r["verdict"] for r in results] == ["allowed", "review", "allowed"]
    # The portfolio: every case for the auditor, the team's for the supervisor.
    everything = json.loads(auditor.get("/compliance/replay/history?policy=US-RegF").get_data())
    assert everything["policy"] == "US-RegF"
    assert {d["id"] for d in everything["debtors"]} == {"C1", "C2"}
    team = json.loads(sign_in(app, "supervisor1").get("/compliance/replay/history").get_data())
    assert {d["id"] for d in team["debtors"]} == {"C1"}
    assert len(team["events"]) == 3
    assert auditor.get("/compliance/replay/history?policy=XX").status_code == 400
    assert auditor.get("/compliance/replay/history?case=NOPE").status_code == 404
    collector = sign_in(app, "collector1")
    assert collector.get("/compliance/replay/history?case=K1").status_code == 403
    assert 'id="history-export-link"' not in collector.get(f"/workbench/{cases['K1']}").get_data(
        as_text=True
    )


def test_the_compliance_menu_is_there_for_the_auditors_tools(app, cases):
    page = sign_in(app, "auditor").get("/compliance/log/").get_data(as_text=True)
    for url in (
        "/compliance/log/",
        "/compliance/sources/",
        "/compliance/policies/",
        "/compliance/replay/",
    ):
        assert f'href="{url}"' in page, url
    collector = sign_in(app, "collector1").get(f"/workbench/{cases['K1']}").get_data(as_text=True)
    assert 'href="/compliance/log/"' not in collector
