"""Customers, loans, contacts and promises in the console: scoped, searchable, masked."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from casedb.contact_log import PromiseTerms, log_contact
from casedb.models import Channel, CollectionCase, Customer, Loan, Outcome, PromiseToPay
from casedb.pii import id_number_digest
from casedb.session import transaction
from tests.console.conftest import sign_in

FULL_ID = "110101199003071234"


@pytest.fixture
def promised(engine, assigned):
    """A logged call with a promise on K1."""
    with transaction(engine) as session:
        log_contact(
            session,
            session.get(CollectionCase, assigned["K1"]),
            actor="collector1",
            channel=Channel.CALL,
            outcome=Outcome.PROMISE_TO_PAY,
            started_at=datetime.now(UTC) - timedelta(hours=2),
            notes="客户承诺月底还款",
            promise=PromiseTerms(Decimal("500.00"), date.today() + timedelta(days=7)),
        )
    return assigned


@pytest.mark.parametrize(
    ("username", "visible"),
    [("admin", {"张三", "李四"}), ("analyst", {"张三", "李四"}), ("supervisor1", {"张三"})],
)
def test_customers_are_listed_in_scope_with_masked_id_numbers(app, assigned, username, visible):
    page = sign_in(app, username).get("/customers/list/").get_data(as_text=True)
    assert {name for name in ("张三", "李四") if name in page} == visible
    assert "110101********1234" in page
    assert FULL_ID not in page


def test_collectors_have_no_customer_or_loan_lists(app, assigned):
    client = sign_in(app, "collector1")
    for url in ("/customers/list/", "/loans/list/", "/contacts/list/", "/promises/list/"):
        assert client.get(url).status_code in {302, 403}


def test_customers_are_found_by_chinese_name(app, assigned):
    page = sign_in(app, "analyst").get("/customers/list/?_flt_0_name=李").get_data(as_text=True)
    assert "李四" in page and "张三" not in page


def test_an_admin_adds_a_customer_whose_id_number_is_stored_masked_and_searchable(
    app, assigned, session
):
    client = sign_in(app, "admin")
    response = client.post(
        "/customers/add",
        data={"customer_no": "C9", "name": "王五", "id_type": "id_card", "id_number": FULL_ID},
    )
    assert response.status_code == 302
    session.rollback()
    customer = session.scalar(select(Customer).where(Customer.customer_no == "C9"))
    assert customer.id_number_masked == "110101********1234"
    assert customer.id_number_digest == id_number_digest(FULL_ID)
    assert customer.source == "console"
    shown = client.get(f"/customers/show/{customer.id}").get_data(as_text=True)
    assert "王五" in shown and FULL_ID not in shown
    edit_form = client.get(f"/customers/edit/{customer.id}").get_data(as_text=True)
    assert FULL_ID not in edit_form


def test_a_supervisor_corrects_a_customer_in_scope_only(app, assigned, session):
    client = sign_in(app, "supervisor1")
    mine = session.scalar(select(Customer.id).where(Customer.customer_no == "C1"))
    other = session.scalar(select(Customer.id).where(Customer.customer_no == "C2"))
    assert client.get(f"/customers/edit/{other}").status_code in {302, 404}
    saved = client.post(f"/customers/edit/{mine}", data={"name": "张三", "city": "海淀"})
    assert saved.status_code == 302
    session.rollback()
    assert session.get(Customer, mine).city == "海淀"
    assert client.get("/customers/add").status_code in {302, 403}


def test_contacts_and_promises_are_listed_in_scope_and_read_only(app, promised, session):
    supervisor = sign_in(app, "supervisor1")
    contacts = supervisor.get("/contacts/list/").get_data(as_text=True)
    assert "承诺还款" in contacts and "电话" in contacts, "outcome ptp, channel call: in Chinese"
    promises = supervisor.get("/promises/list/").get_data(as_text=True)
    assert "500.00" in promises and "待履约" in promises
    supervisor.get("/lang/en")
    contacts = supervisor.get("/contacts/list/").get_data(as_text=True)
    assert "Promise to pay" in contacts and "承诺还款" not in contacts
    assert sign_in(app, "admin").get("/contacts/add").status_code in {302, 403}
    promise = session.scalar(select(PromiseToPay))
    moved = supervisor.post(
        f"/promises/edit/{promise.id}",
        data={"amount": "450.00", "promised_for": (date.today() + timedelta(days=9)).isoformat()},
    )
    assert moved.status_code == 302
    session.rollback()
    assert session.get(PromiseToPay, promise.id).amount == Decimal("450.00")


def test_loans_are_read_only_except_for_an_admin(app, assigned, session):
    assert sign_in(app, "supervisor1").get("/loans/add").status_code in {302, 403}
    admin = sign_in(app, "admin")
    form = admin.get("/loans/add")
    assert form.status_code == 200
    assert '<option value="cash_loan">现金贷</option>' in form.get_data(as_text=True)
    loan = {
        "loan_no": "L9",
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "8000.00",
        "outstanding_balance": "8000.00",
        "status": "active",
    }
    unknown = admin.post("/loans/add", data={**loan, "customer_no": "C404"}, follow_redirects=True)
    assert "没有客户号为 &#39;C404&#39; 的客户" in unknown.get_data(as_text=True)
    admin.get("/lang/en")
    unknown = admin.post("/loans/add", data={**loan, "customer_no": "C404"}, follow_redirects=True)
    assert "no customer numbered &#39;C404&#39;" in unknown.get_data(as_text=True)
    assert admin.post("/loans/add", data={**loan, "customer_no": "C2"}).status_code == 302
    session.rollback()
    added = session.scalar(select(Loan).where(Loan.loan_no == "L9"))
    assert (added.customer.customer_no, added.principal) == ("C2", Decimal("8000.00"))


def test_chinese_names_sort_by_pinyin(app, assigned, run_import, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no pinyin collation: names sort by code point there")
    run_import("customers", [["customer_no", "姓名"], ["C3", "王五"], ["C4", "阿明"]])
    page = (
        sign_in(app, "analyst")
        .get("/customers/list/?_oc_CustomerView=name&_od_CustomerView=asc")
        .get_data(as_text=True)
    )
    names = ["阿明", "李四", "王五", "张三"]
    assert sorted(names, key=page.index) == names
