"""Who sees which cases: data scope by role, masked ID numbers, read-only case views."""

import re

import pytest
from sqlalchemy import select, update

from casedb.models import AuditEntry, CollectionCase, ContactAttempt, ContactPoint, Customer
from console.app import create_app
from console.demo_logins import ensure_demo_logins
from tests.console.conftest import PASSWORDS, api_token, sign_in, zone_where_it_is


@pytest.mark.parametrize(
    ("username", "visible"),
    [
        ("admin", {"K1", "K2"}),
        ("analyst", {"K1", "K2"}),
        ("auditor", {"K1", "K2"}),
        ("supervisor1", {"K1"}),
        ("collector1", {"K1"}),
        ("collector2", {"K2"}),
    ],
)
def test_each_role_lists_only_the_cases_in_its_scope(app, assigned, username, visible):
    page = sign_in(app, username).get("/cases/list/").get_data(as_text=True)
    shown = {case_no for case_no in ("K1", "K2") if f">{case_no}<" in page}
    assert shown == visible


def test_another_collectors_case_is_not_found(app, assigned):
    client = sign_in(app, "collector1")
    assert client.get(f"/cases/show/{assigned['K1']}").status_code == 200
    assert client.get(f"/cases/show/{assigned['K2']}").status_code == 404


def test_id_numbers_are_masked_in_lists_and_case_pages(app, assigned):
    client = sign_in(app, "admin")
    for url in ("/cases/list/", f"/cases/show/{assigned['K1']}"):
        page = client.get(url).get_data(as_text=True)
        assert "110101********1234" in page
        assert "110101199003071234" not in page


@pytest.mark.parametrize("username", ["auditor", "collector1", "analyst"])
def test_case_views_are_read_only(app, assigned, username):
    client = sign_in(app, username)
    assert client.get("/cases/add").status_code in (403, 404, 405)
    assert client.post(f"/cases/delete/{assigned['K1']}").status_code in (403, 404, 405)
    assert client.get(f"/cases/edit/{assigned['K1']}").status_code in (403, 404, 405)


def test_collectors_do_not_see_the_portfolio_overview(app, assigned):
    assert sign_in(app, "collector1").get("/portfolio/").status_code == 403
    assert sign_in(app, "supervisor1").get("/portfolio/").status_code == 200


def test_a_collector_works_the_queue_with_get_next(app, assigned):
    client = sign_in(app, "collector1")
    page = client.get("/queue/").get_data(as_text=True)
    assert ">K1<" in page
    assert ">K2<" not in page
    response = client.get("/queue/next")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/workbench/{assigned['K1']}")


def test_get_next_says_so_when_nothing_is_free(app, assigned):
    client = sign_in(app, "collector2")
    client.get("/queue/next")  # collector2 takes K2's customer C2
    client.get("/logout/")
    other = sign_in(app, "admin")
    response = other.get("/queue/next", follow_redirects=True)
    assert "队列中没有可处理的案件" in response.get_data(as_text=True)


def test_a_collector_logs_a_call_with_a_promise_and_sees_it_on_the_timeline(app, assigned, session):
    client = sign_in(app, "collector1")
    response = client.post(
        f"/workbench/{assigned['K1']}/contact",
        data={
            "channel": "call",
            "party": "debtor",
            "outcome": "ptp",
            "started_at": "2025-03-01T10:30",
            "duration_seconds": "185",
            "notes": "客户表示月底发工资后还款",
            "promise_amount": "600.00",
            "promise_date": "2025-03-31",
        },
    )
    assert response.status_code == 302
    page = client.get(f"/workbench/{assigned['K1']}").get_data(as_text=True)
    assert "客户表示月底发工资后还款" in page
    assert "600.00 by 2025-03-31" in page
    assert 'data-status="promised"' in page
    # In the debtor's time, by the collector's name, and each fact once.
    assert "2025-03-01 10:30" in page
    assert "催收员甲" in page
    assert "contact_logged" not in page and "promise_made" not in page
    session.rollback()
    case = session.get(CollectionCase, assigned["K1"])
    assert case.status.value == "promised"


def test_a_bad_contact_is_refused_with_the_reason_and_saves_nothing(app, assigned, session):
    client = sign_in(app, "collector1")
    response = client.post(
        f"/workbench/{assigned['K1']}/contact",
        data={"channel": "call", "outcome": "ptp", "started_at": "2025-03-01T10:30"},
    )
    assert response.status_code == 400
    assert "needs the promised amount and date" in response.get_data(as_text=True)
    session.rollback()
    assert session.get(CollectionCase, assigned["K1"]).status.value == "new"


def test_the_workbench_follows_the_data_scope_and_auditors_only_read(app, assigned):
    assert sign_in(app, "collector2").get(f"/workbench/{assigned['K1']}").status_code == 404
    auditor = sign_in(app, "auditor")
    page = auditor.get(f"/workbench/{assigned['K1']}")
    assert page.status_code == 200
    assert 'id="contact-form"' not in page.get_data(as_text=True)
    refused = auditor.post(f"/workbench/{assigned['K1']}/contact", data={"channel": "call"})
    assert refused.status_code == 403
    assert 'id="error-page"' in refused.get_data(as_text=True), "refused inside the console"


def test_the_workbench_shows_the_loan_schedule_payments_and_credit(
    app, assigned, run_import, session
):
    run_import(
        "installments",
        [
            ["loan_no", "seq", "due_on", "principal_due", "interest_due"],
            ["L1", "1", "2024-12-15", "1000.00", "150.00"],
        ],
    )
    run_import(
        "payments",
        [["txn_no", "loan_no", "amount", "paid_at"], ["TX1", "L1", "321.00", "2025-01-20"]],
    )
    run_import(
        "bureau_reports",
        [
            ["snapshot_no", "customer_no", "provider", "reported_on", "score"],
            ["CS1", "C1", "百行征信", "2025-01-31", "612"],
        ],
    )
    page = sign_in(app, "collector1").get(f"/workbench/{assigned['K1']}").get_data(as_text=True)
    assert "2024-12-15" in page and "1000.00" in page
    assert "321.00" in page
    assert "百行征信" in page and "612" in page


@pytest.fixture
def phone(run_import, session, assigned):
    run_import(
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value", "opted_out"],
            ["P1", "C1", "mobile", "13812345678", ""],
            ["P2", "C1", "mobile", "13900001111", "true"],
        ],
    )
    # The compliance gate judges a dial at the real time: it is midday where C1 lives.
    session.execute(
        update(Customer).where(Customer.customer_no == "C1").values(timezone=zone_where_it_is(12))
    )
    session.commit()
    return {p.contact_point_no: p.id for p in session.scalars(select(ContactPoint))}


def test_a_collector_sees_the_full_number_only_by_dialling_it(app, assigned, phone, session):
    client = sign_in(app, "collector1")
    page = client.get(f"/workbench/{assigned['K1']}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page
    assert "opted out of contact on this number" in page
    dialled = client.post(f"/workbench/{assigned['K1']}/dial/{phone['P1']}")
    assert dialled.status_code == 200
    assert 'href="tel:13812345678"' in dialled.get_data(as_text=True)
    assert dialled.headers["Cache-Control"] == "no-store"
    refused = client.post(f"/workbench/{assigned['K1']}/dial/{phone['P2']}")
    assert refused.status_code == 400
    assert "13900001111" not in refused.get_data(as_text=True)
    session.rollback()
    reveals = session.scalars(select(AuditEntry).where(AuditEntry.action == "reveal")).all()
    assert [(e.actor, e.row_id) for e in reveals] == [("collector1", str(phone["P1"]))]


def test_only_collectors_dial_and_only_their_own_cases(app, assigned, phone):
    for username in ("auditor", "analyst", "supervisor1"):
        client = sign_in(app, username)
        page = client.get(f"/workbench/{assigned['K1']}").get_data(as_text=True)
        assert "dial-form" not in page
        assert client.post(f"/workbench/{assigned['K1']}/dial/{phone['P1']}").status_code == 403
    other = sign_in(app, "collector2").post(f"/workbench/{assigned['K1']}/dial/{phone['P1']}")
    assert other.status_code == 404


def test_a_contact_names_the_number_that_was_called(app, assigned, phone, session):
    client = sign_in(app, "collector1")
    saved = client.post(
        f"/workbench/{assigned['K1']}/contact",
        data={
            "channel": "call",
            "party": "debtor",
            "outcome": "no_answer",
            "started_at": "2025-03-01T09:00",
            "contact_point_id": str(phone["P1"]),
        },
    )
    assert saved.status_code == 302
    session.rollback()
    assert session.scalar(select(ContactAttempt.contact_point_id)) == phone["P1"]


def test_forms_without_a_csrf_token_are_refused(cli_database, assigned, redis_url):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url})
    ensure_demo_logins()
    client = app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post(
        "/login/",
        data={"username": "collector1", "password": PASSWORDS["collector1"], "csrf_token": token},
    )
    assert client.get(f"/workbench/{assigned['K1']}").status_code == 200
    forged = client.post(
        f"/workbench/{assigned['K1']}/contact",
        data={"channel": "call", "outcome": "no_answer", "started_at": "2025-03-01T10:30"},
    )
    assert forged.status_code == 400
    assert "CSRF" in forged.get_data(as_text=True)


def test_the_api_answers_with_the_same_scope_and_masking(app, assigned):
    client = app.test_client()
    assert client.get("/api/v1/case/").status_code == 401
    browser = sign_in(app, "collector1")
    assert browser.get("/api/v1/case/").status_code == 401, "a browser session is not a token"
    mine = client.get("/api/v1/case/", headers=api_token(client, "collector1")).get_json()
    assert [row["case_no"] for row in mine["result"]] == ["K1"]
    assert mine["result"][0]["customer"]["id_number_masked"] == "110101********1234"
    assert "110101199003071234" not in str(mine)
    everyone = client.get("/api/v1/case/", headers=api_token(client, "auditor")).get_json()
    assert sorted(row["case_no"] for row in everyone["result"]) == ["K1", "K2"]
    other = client.get(f"/api/v1/case/{assigned['K2']}", headers=api_token(client, "collector1"))
    assert other.status_code == 404


def test_the_api_refuses_writes_and_bad_queries_with_4xx(app, assigned):
    client = app.test_client()
    headers = api_token(client, "admin")
    assert client.post("/api/v1/case/", json={"case_no": "X"}, headers=headers).status_code == 405
    assert client.delete(f"/api/v1/case/{assigned['K1']}", headers=headers).status_code == 405
    bad = client.get("/api/v1/case/?q=(not-rison", headers=headers)
    assert 400 <= bad.status_code < 500


def test_the_case_list_filters_a_bucket_by_equality_first(app, assigned):
    """Codes are matched exactly by the first filter offered (an index lookup, not ILIKE)."""
    page = sign_in(app, "admin").get("/cases/list/?_flt_0_bucket=M2").get_data(as_text=True)
    assert ">K1<" in page and ">K2<" not in page
    prefix = sign_in(app, "admin").get("/cases/list/?_flt_0_bucket=M").get_data(as_text=True)
    assert ">K1<" not in prefix, "M is no bucket: equality, not 'starts with'"
