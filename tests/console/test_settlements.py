"""Settlements in the console: collectors propose on their cases, within their limit agreed at
once; above it the supervisor's inbox approves or rejects (never the proposer); the pages and the
JSON API keep to the user's scope and refuse bad input with a reason (4xx, never 500)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

import config
from casedb.delinquency import set_business_date
from casedb.models import AuditEntry, CaseStatus, CollectionCase, Settlement, SettlementStatus
from casedb.session import transaction
from console.app import create_app
from console.demo_logins import ensure_demo_logins
from tests.console.conftest import PASSWORDS, api_token, sign_in

TODAY = date(2025, 3, 1)


@pytest.fixture
def cases(engine, assigned, monkeypatch):
    """K1 (team T1: supervisor1, collector1) and K2 (collector2, no team), each owing 1,000.00,
    on business date 2025-03-01."""
    monkeypatch.setattr(config, "BUSINESS_DATE", "")
    with transaction(engine) as session:
        session.execute(
            update(CollectionCase).values(
                overdue_principal=Decimal("1000.00"),
                outstanding_balance=Decimal("1000.00"),
                status=CaseStatus.IN_COLLECTION,
            )
        )
        set_business_date(session, TODAY)
    return assigned


def settlements(engine, case_id: int) -> list[Settlement]:
    with transaction(engine) as session:
        found = list(
            session.scalars(
                select(Settlement).where(Settlement.case_id == case_id).order_by(Settlement.id)
            )
        )
        session.expunge_all()
        return found


def listed(client, case_id: int) -> list[tuple[str, str]]:
    page = client.get(f"/settlements/case/{case_id}")
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.findall(
        r'data-settlement="\d+" data-kind="([^"]+)" data-status="([^"]+)"',
        page.get_data(as_text=True),
    )


def error_of(response) -> str:
    found = re.search(r'id="settlement-error">([^<]*)<', response.get_data(as_text=True))
    return found.group(1) if found else ""


def in_english(app, username: str):
    """A signed-in client reading the console in English (the reasons asserted below)."""
    client = sign_in(app, username)
    client.get("/lang/en")
    return client


def propose(client, case_id: int, **form):
    return client.post(f"/settlements/case/{case_id}/propose", data=form)


def test_a_collector_agrees_a_settlement_within_their_limit_at_once(app, engine, cases):
    collector = sign_in(app, "collector1")
    page = collector.get(f"/settlements/case/{cases['K1']}").get_data(as_text=True)
    assert 'id="settlement-propose"' in page and 'data-owed="1000.00"' in page
    done = propose(collector, cases["K1"], kind="settlement", agreed_amount="900.00", note="一次性")
    assert done.status_code == 302
    assert listed(collector, cases["K1"]) == [("settlement", "active")]
    [found] = settlements(engine, cases["K1"])
    assert (found.agreed_amount, found.discount_percent, found.approved_by) == (
        Decimal("900.00"),
        Decimal("10.00"),
        "collector1",
    )
    with transaction(engine) as session:
        actors = set(
            session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.table_name == "settlement", AuditEntry.row_id == str(found.id)
                )
            )
        )
        assert actors == {"collector1"}
        assert session.get(CollectionCase, cases["K1"]).status is CaseStatus.PROMISED
    page = collector.get(f"/settlements/case/{cases['K1']}").get_data(as_text=True)
    assert 'id="settlement-propose"' not in page, "one open settlement per case"


def test_a_payment_plan_is_proposed_as_lines_of_a_date_and_an_amount(app, engine, cases):
    collector = sign_in(app, "collector1")
    done = propose(
        collector,
        cases["K1"],
        kind="payment_plan",
        instalments="2025-03-15 400\n2025-04-15, 300.00\n\n2025-05-15\t300",
    )
    assert done.status_code == 302
    [found] = settlements(engine, cases["K1"])
    assert found.status is SettlementStatus.ACTIVE
    assert [i["due_on"] for i in found.instalments] == ["2025-03-15", "2025-04-15", "2025-05-15"]


def test_above_the_limit_the_supervisor_approves_never_the_proposer(app, engine, cases):
    collector = sign_in(app, "collector1")
    assert propose(collector, cases["K1"], agreed_amount="750").status_code == 302
    [found] = settlements(engine, cases["K1"])
    assert found.status is SettlementStatus.PROPOSED
    # Collectors have no inbox and approve nothing.
    assert collector.get("/settlements/pending").status_code == 403
    assert collector.post(f"/settlements/{found.id}/approve").status_code == 403

    supervisor = sign_in(app, "supervisor1")
    inbox = supervisor.get("/settlements/pending").get_data(as_text=True)
    assert re.findall(r'data-settlement="(\d+)" data-case="([^"]+)"', inbox) == [
        (str(found.id), "K1")
    ]
    assert f"/settlements/{found.id}/approve" in inbox
    assert supervisor.post(f"/settlements/{found.id}/approve").status_code == 302
    [found] = settlements(engine, cases["K1"])
    assert (found.status, found.approved_by) == (SettlementStatus.ACTIVE, "supervisor1")
    again = supervisor.post(f"/settlements/{found.id}/approve")
    assert again.status_code == 409 and "only a proposed settlement" in error_of(again)


def test_a_supervisors_own_proposal_waits_for_another_supervisor(app, engine, cases):
    supervisor = sign_in(app, "supervisor1")
    # 45% is beyond anyone: refused with the reason.
    refused = propose(supervisor, cases["K1"], agreed_amount="550")
    assert refused.status_code == 400 and "more than anyone may grant" in error_of(refused)
    assert settlements(engine, cases["K1"]) == []
    # A plan for 700 of 1,000 from the supervisor is within their 40%: active at once.
    propose(supervisor, cases["K1"], kind="payment_plan", instalments="2025-04-01 700")
    [found] = settlements(engine, cases["K1"])
    assert (found.status, found.approved_by) == (SettlementStatus.ACTIVE, "supervisor1")


def test_a_rejection_needs_a_reason(app, engine, cases):
    propose(sign_in(app, "collector1"), cases["K1"], agreed_amount="800")
    [found] = settlements(engine, cases["K1"])
    supervisor = in_english(app, "supervisor1")
    empty = supervisor.post(f"/settlements/{found.id}/reject", data={"note": " "})
    assert empty.status_code == 400 and error_of(empty) == "Say why"
    done = supervisor.post(f"/settlements/{found.id}/reject", data={"note": "折扣过大"})
    assert done.status_code == 302
    [found] = settlements(engine, cases["K1"])
    assert found.status is SettlementStatus.REJECTED and "折扣过大" in found.decided_note
    assert listed(supervisor, cases["K1"]) == [("settlement", "rejected")]


def test_the_proposer_cancels_with_a_reason(app, engine, cases):
    collector = sign_in(app, "collector1")
    propose(collector, cases["K1"], agreed_amount="950")
    [found] = settlements(engine, cases["K1"])
    assert collector.post(f"/settlements/{found.id}/cancel", data={}).status_code == 400
    assert (
        collector.post(f"/settlements/{found.id}/cancel", data={"note": "反悔"}).status_code == 302
    )
    assert listed(collector, cases["K1"]) == [("settlement", "cancelled")]


def test_each_role_keeps_to_its_scope(app, engine, cases):
    propose(sign_in(app, "collector1"), cases["K1"], agreed_amount="700")
    [found] = settlements(engine, cases["K1"])
    other = sign_in(app, "collector2")
    assert other.get(f"/settlements/case/{cases['K1']}").status_code == 404
    assert propose(other, cases["K1"], agreed_amount="990").status_code == 404
    assert other.post(f"/settlements/{found.id}/cancel", data={"note": "x"}).status_code == 404
    assert listed(other, cases["K2"]) == []
    supervisor = sign_in(app, "supervisor1")
    assert supervisor.get(f"/settlements/case/{cases['K2']}").status_code == 404, "not their team"
    assert supervisor.get("/settlements/case/999999").status_code == 404
    assert supervisor.post("/settlements/999999/approve").status_code == 404
    # Oversight reads; the analyst and the auditor propose and decide nothing.
    for username in ("analyst", "auditor"):
        reader = sign_in(app, username)
        assert listed(reader, cases["K1"]) == [("settlement", "proposed")]
        assert propose(reader, cases["K1"], agreed_amount="990").status_code == 403
        assert reader.post(f"/settlements/{found.id}/approve").status_code == 403
    # The admin sees every case but agrees no settlements: that is for collectors and supervisors.
    admin = in_english(app, "admin")
    assert "K1" in admin.get("/settlements/pending").get_data(as_text=True)
    refused = admin.post(f"/settlements/{found.id}/approve")
    assert refused.status_code == 403
    assert "Only collectors and supervisors agree settlements" in error_of(refused)
    assert settlements(engine, cases["K1"])[0].status is SettlementStatus.PROPOSED


@pytest.mark.parametrize(
    ("form", "status", "reason"),
    [
        ({"agreed_amount": "abc"}, 400, "Agreed amount: give an amount such as 900.00"),
        ({"agreed_amount": "-1"}, 400, "Agreed amount: give an amount such as 900.00"),
        ({"agreed_amount": "900.001"}, 400, "Agreed amount: at most two decimals"),
        ({"agreed_amount": "1e400"}, 400, "Agreed amount: give an amount such as 900.00"),
        ({"agreed_amount": "900", "pay_by": "31/03/2025"}, 400, "Pay by: give a date"),
        ({"agreed_amount": "900", "pay_by": "2025-02-01"}, 400, "before the date of the proposal"),
        ({"agreed_amount": "1000.01"}, 400, "more than is owed (1000.00)"),
        ({"kind": "loan"}, 400, "Kind: choose a settlement or a payment plan"),
        ({"kind": "payment_plan", "instalments": ""}, 400, "Instalments: give at least one"),
        (
            {"kind": "payment_plan", "instalments": "2025-04-01"},
            400,
            "Instalment 1: give a date and an amount",
        ),
        (
            {"kind": "payment_plan", "instalments": "2025-04-01 500\n2025-03-01 500"},
            400,
            "instalment 2 is due on 2025-03-01, not after instalment 1",
        ),
        (
            {"kind": "payment_plan", "instalments": "\n".join(["2025-04-01 10"] * 25)},
            400,
            "Instalments: at most 24",
        ),
        ({"agreed_amount": "900", "note": "x" * 2001}, 400, "Note: at most 2000 characters"),
    ],
)
def test_a_bad_proposal_is_answered_with_its_reason(app, engine, cases, form, status, reason):
    answer = propose(in_english(app, "collector1"), cases["K1"], **form)
    assert answer.status_code == status
    assert reason in error_of(answer)
    assert 'id="settlement-propose"' in answer.get_data(as_text=True), "the form, to correct"
    assert settlements(engine, cases["K1"]) == []


def test_a_second_settlement_or_one_on_a_closed_case_is_a_conflict(app, engine, cases):
    collector = sign_in(app, "collector1")
    propose(collector, cases["K1"], agreed_amount="950")
    second = propose(collector, cases["K1"], agreed_amount="990")
    assert second.status_code == 409 and "already has settlement" in error_of(second)
    with transaction(engine) as session:
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.id == cases["K2"])
            .values(status=CaseStatus.CLOSED, closed_on=TODAY)
        )
    closed = propose(sign_in(app, "collector2"), cases["K2"], agreed_amount="990")
    assert closed.status_code == 409 and "a closed case takes no settlement" in error_of(closed)


def test_the_pages_speak_english_after_switching(app, cases):
    supervisor = in_english(app, "supervisor1")
    assert "Settlements awaiting approval" in supervisor.get("/settlements/pending").get_data(
        as_text=True
    )
    page = supervisor.get(f"/settlements/case/{cases['K1']}").get_data(as_text=True)
    assert "Settlements and payment plans" in page and "Amount owed: 1000.00" in page


def test_a_form_without_a_csrf_token_is_refused(cli_database, cases, redis_url):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url})
    ensure_demo_logins()
    client = app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post(
        "/login/",
        data={"username": "collector1", "password": PASSWORDS["collector1"], "csrf_token": token},
    )
    page = client.get(f"/settlements/case/{cases['K1']}").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    forged = propose(client, cases["K1"], agreed_amount="900")
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)


# --- the JSON API -------------------------------------------------------------------------------


def test_the_api_proposes_lists_and_decides_in_json(app, engine, cases):
    client = app.test_client()
    collector = api_token(client, "collector1")
    url = f"/api/v1/settlement/case/{cases['K1']}"
    plan = {
        "kind": "payment_plan",
        "instalments": [
            {"due_on": "2025-03-15", "amount": "400.00"},
            {"due_on": "2025-04-15", "amount": "400.00"},
        ],
        "note": "分两期",
    }
    created = client.post(url, json=plan, headers=collector)
    assert created.status_code == 201, created.get_json()
    proposed = created.get_json()["settlement"]
    assert (proposed["status"], proposed["discount_percent"], proposed["agreed_amount"]) == (
        "proposed",
        "20.00",
        "800.00",
    )
    listed = client.get(url, headers=collector).get_json()
    assert listed["case"] == {
        "id": cases["K1"],
        "case_no": "K1",
        "status": "in_collection",
        "open": True,
        "owed_amount": "1000.00",
    }
    assert listed["authority"] == {"role": "Collector", "limit_percent": 10}
    assert [s["id"] for s in listed["settlements"]] == [proposed["id"]]

    own = client.post(f"/api/v1/settlement/{proposed['id']}/approve", headers=collector)
    assert own.status_code == 403, "collectors decide nothing"

    supervisor = api_token(client, "supervisor1")
    [waiting] = client.get("/api/v1/settlement/pending", headers=supervisor).get_json()["result"]
    assert (waiting["id"], waiting["case_no"], waiting["may_decide"]) == (
        proposed["id"],
        "K1",
        True,
    )
    approved = client.post(f"/api/v1/settlement/{proposed['id']}/approve", headers=supervisor)
    assert approved.status_code == 200
    assert approved.get_json()["settlement"]["approved_by"] == "supervisor1"
    assert client.get("/api/v1/settlement/pending", headers=supervisor).get_json()["result"] == []


def test_the_api_answers_bad_input_and_other_scopes_with_4xx_and_a_message(app, engine, cases):
    client = app.test_client()
    collector = api_token(client, "collector1")
    url = f"/api/v1/settlement/case/{cases['K1']}?_l_=en"  # the reasons in English
    assert client.get(url).status_code == 401, "a token is needed"
    for body, reason in [
        ({"kind": "settlement", "agreed_amount": 900.5}, "Agreed amount: give an amount"),
        ({"kind": "settlement", "agreed_amount": True}, "Agreed amount: give an amount"),
        ({"kind": "settlement"}, "Agreed amount: give an amount"),
        ({"kind": "payment_plan", "instalments": "x"}, "Instalment 1: give a date and an amount"),
        ({"kind": "payment_plan", "instalments": [{"due_on": 5, "amount": "1"}]}, "give a date"),
        ({"kind": "payment_plan", "instalments": [["2025-04-01"]]}, "Instalment 1: give a date"),
        ({"kind": "payment_plan", "instalments": {}}, "Instalments: give at least one"),
        ({"agreed_amount": "900", "note": 5}, "Note: write it as text"),
        ({"kind": ["settlement"]}, "Kind: choose a settlement or a payment plan"),
        ({"agreed_amount": "900", "pay_by": 20250401}, "Pay by: give a date as YYYY-MM-DD"),
        ({"agreed_amount": "700"}, None),  # proposed: a supervisor decides
    ]:
        answer = client.post(url, json=body, headers=collector)
        if reason is None:
            assert answer.status_code == 201
            continue
        assert answer.status_code == 400, (body, answer.get_json())
        assert reason in answer.get_json()["message"], body
    not_json = client.post(
        url, data="agreed_amount=900", headers={**collector, "Content-Type": "text/plain"}
    )
    assert not_json.status_code == 400 and not_json.get_json()["message"] == "Send a JSON object"
    conflict = client.post(url, json={"agreed_amount": "990"}, headers=collector)
    assert (
        conflict.status_code == 409 and "already has settlement" in conflict.get_json()["message"]
    )

    [found] = settlements(engine, cases["K1"])
    other = api_token(client, "collector2")
    missing = client.get(url, headers=other)
    assert missing.status_code == 404
    assert missing.get_json()["message"] == "No such case in your scope"
    gone = client.post(
        f"/api/v1/settlement/{found.id}/cancel?_l_=en", json={"note": "x"}, headers=other
    )
    assert gone.status_code == 404
    assert gone.get_json()["message"] == "No such settlement in your scope"

    supervisor = api_token(client, "supervisor1")
    no_reason = client.post(f"/api/v1/settlement/{found.id}/reject?_l_=en", headers=supervisor)
    assert no_reason.status_code == 400 and no_reason.get_json()["message"] == "Say why"
    rejected = client.post(
        f"/api/v1/settlement/{found.id}/reject", json={"note": "不同意"}, headers=supervisor
    )
    assert rejected.status_code == 200
    assert rejected.get_json()["settlement"]["status"] == "rejected"
    twice = client.post(f"/api/v1/settlement/{found.id}/approve", headers=supervisor)
    assert twice.status_code == 409 and "only a proposed" in twice.get_json()["message"]
    admin = api_token(client, "admin")
    assert client.post(url, json={"agreed_amount": "990"}, headers=admin).status_code == 403
