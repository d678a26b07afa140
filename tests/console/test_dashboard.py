"""The dashboard: each role sees its own scope, filters narrow it, charts are SVG/PNG drawn on the
server (cached by data version), and the page loads nothing from the internet."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from casedb.delinquency import set_business_date
from casedb.models import (
    CaseStatus,
    CollectionCase,
    Collector,
    Customer,
    Loan,
    RepaymentTransaction,
    Team,
)
from reports import charts
from reports.snapshots import write_snapshot
from tests.console.conftest import sign_in

TODAY = date(2025, 3, 10)
YESTERDAY = date(2025, 3, 9)


@pytest.fixture
def portfolio_book(engine):
    """Team T1 (supervisor1): collector1 with K1 (M2) on a cash loan in 北京. Team T2 (someone
    else's): collector2 with K2 (M1) in 上海 and K3 (paid) on cards. Two loans without a case.
    Collected today: 100 on K1, 20 on K2, 3 on K3. Yesterday is a stored snapshot."""
    with Session(engine) as session, session.begin():
        t1 = Team(code="T1", name="一组", supervisor_username="supervisor1")
        t2 = Team(code="T2", name="二组", supervisor_username="supervisor9")
        session.add_all([t1, t2])
        session.flush()
        c1 = Collector(code="CL1", name="催收员甲", team_id=t1.id, username="collector1")
        c2 = Collector(code="CL2", name="催收员乙", team_id=t2.id, username="collector2")
        session.add_all([c1, c2])
        session.flush()
        cases = [
            ("K1", "北京", "cash_loan", t1.id, c1.id, 40, "M2", CaseStatus.IN_COLLECTION),
            ("K2", "上海", "credit_card", t2.id, c2.id, 10, "M1", CaseStatus.IN_COLLECTION),
            ("K3", "上海", "credit_card", t2.id, c2.id, 0, "M0", CaseStatus.PAID),
            (None, "北京", "credit_card", None, None, 0, "M0", None),
            (None, "广东", "cash_loan", None, None, 0, "M0", None),
        ]
        ids = {}
        for number, (case_no, region, product, team, collector, dpd, bucket, status) in enumerate(
            cases, start=1
        ):
            customer = Customer(customer_no=f"C{number}", name=f"客户{number}", region=region)
            session.add(customer)
            session.flush()
            loan = Loan(
                loan_no=f"L{number}",
                customer_id=customer.id,
                product=product,
                principal=Decimal(10000),
                outstanding_balance=Decimal(1000),
            )
            session.add(loan)
            session.flush()
            ids[f"L{number}"] = loan.id
            if case_no:
                session.add(
                    CollectionCase(
                        case_no=case_no,
                        customer_id=customer.id,
                        loan_id=loan.id,
                        opened_on=date(2025, 2, 1),
                        closed_on=date(2025, 3, 1) if status is CaseStatus.PAID else None,
                        status=status,
                        dpd=dpd,
                        bucket=bucket,
                        team_id=team,
                        collector_id=collector,
                        overdue_principal=Decimal(500),
                        overdue_at_entry=Decimal(500),
                        outstanding_balance=Decimal(2000),
                    )
                )
        set_business_date(session, YESTERDAY)
        ids |= {"T1": t1.id, "T2": t2.id}
    with engine.begin() as connection:
        write_snapshot(connection, YESTERDAY, by="test", source="tick")
    with Session(engine) as session, session.begin():
        for number, (loan, amount) in enumerate([("L1", 100), ("L2", 20), ("L3", 3)]):
            session.add(
                RepaymentTransaction(
                    txn_no=f"T{number}",
                    loan_id=ids[loan],
                    amount=Decimal(amount),
                    paid_at=datetime(2025, 3, 10, 2, tzinfo=UTC),
                )
            )
        set_business_date(session, TODAY)
    charts.CHARTS.clear()
    charts.METRICS.clear()
    return ids


def tile(page: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}" data-value="([^"]*)"', page)
    assert found, f"no tile {name}"
    return found.group(1)


def league(page: str) -> list[str]:
    return re.findall(r'<tr data-collector="\d+">\s*<td>\d+</td><td>([^<]+)</td>', page)


def dashboard(client, query: str = "") -> str:
    response = client.get(f"/dashboard/?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "collected", "overdue", "collectors"),
    [
        # Everything: 123 collected; 2 of 5 accounts overdue; both collectors.
        ("admin", "123.0", "0.4", ["催收员甲", "催收员乙"]),
        ("analyst", "123.0", "0.4", ["催收员甲", "催收员乙"]),
        ("auditor", "123.0", "0.4", ["催收员甲", "催收员乙"]),
        # supervisor1's team T1: K1 only.
        ("supervisor1", "100.0", "1.0", ["催收员甲"]),
        # A collector: their own cases.
        ("collector1", "100.0", "1.0", ["催收员甲"]),
        ("collector2", "23.0", "0.5", ["催收员乙"]),
    ],
)
def test_each_role_sees_its_own_scope(
    app, portfolio_book, username, collected, overdue, collectors
):
    page = dashboard(sign_in(app, username))
    assert tile(page, "collected") == collected
    assert tile(page, "overdue-rate") == overdue
    assert league(page) == collectors
    for name in ("recovery-rate", "average-cycle", "promise-kept-rate", "rpc-rate"):
        tile(page, name)


def test_the_landing_page_is_the_dashboard(app, portfolio_book):
    client = sign_in(app, "collector1")
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dashboard/")
    assert app.test_client().get("/").status_code == 200  # not signed in: the public index


def test_filters_narrow_the_numbers(app, portfolio_book):
    client = sign_in(app, "admin")
    cards = dashboard(client, "product=credit_card")
    assert tile(cards, "collected") == "23.0"
    assert tile(cards, "overdue-rate") == str(1 / 3)  # K2 of L2, L3, L4
    shanghai = dashboard(client, "region=上海")
    assert tile(shanghai, "collected") == "23.0"
    team = dashboard(client, f"team={portfolio_book['T1']}")
    assert tile(team, "collected") == "100.0"
    assert league(team) == ["催收员甲"]
    # Yesterday only: the stored snapshot, where nothing was collected yet.
    yesterday = dashboard(client, "start=2025-03-09&end=2025-03-09")
    assert tile(yesterday, "collected") == "0.0"
    assert tile(yesterday, "overdue-rate") == "0.4"
    future = dashboard(client, "start=2030-01-01&end=2030-01-31")
    assert tile(future, "overdue-rate") == ""
    assert 'id="scope" data-start="2030-01-01"' in future


@pytest.mark.parametrize(
    ("username", "query"),
    [
        ("admin", "start=2025-13-01"),
        ("admin", "start=2025-03-10&end=2025-03-01"),
        ("admin", "product=spaceship"),
        ("supervisor1", "team={T2}"),  # not their team
        ("collector1", "team={T1}"),  # collectors choose no team
    ],
)
def test_bad_or_foreign_filters_are_refused(app, portfolio_book, username, query):
    client = sign_in(app, username)
    response = client.get("/dashboard/?" + query.format(**portfolio_book))
    assert response.status_code == 400
    assert 'id="dashboard-error"' in response.get_data(as_text=True)
    chart = client.get("/dashboard/chart/aging.svg?" + query.format(**portfolio_book))
    assert chart.status_code == 400


def test_the_supervisor_filters_within_their_teams(app, portfolio_book):
    page = dashboard(sign_in(app, "supervisor1"), f"team={portfolio_book['T1']}")
    assert tile(page, "collected") == "100.0"
    assert "二组" not in page.split('id="dashboard-filters"')[1].split("</form>")[0]


@pytest.mark.parametrize(
    "name", ["team_recovery", "overdue_trend", "aging", "roll_rates", "league"]
)
def test_a_chart_is_an_svg_drawn_on_the_server(app, portfolio_book, name):
    client = sign_in(app, "admin")
    response = client.get(f"/dashboard/chart/{name}.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    body = response.get_data(as_text=True)
    assert "<svg" in body
    assert not re.search(r'(href|src)="https?://', body)


def test_a_chart_as_png_is_cached_and_revalidated_by_etag(app, portfolio_book, engine):
    client = sign_in(app, "supervisor1")
    first = client.get("/dashboard/chart/overdue_trend.png")
    assert first.status_code == 200
    assert first.mimetype == "image/png"
    assert first.data.startswith(b"\x89PNG")
    etag = first.headers["ETag"]
    misses = charts.CHARTS.misses
    again = client.get("/dashboard/chart/overdue_trend.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert charts.CHARTS.misses == misses  # served from the cache
    # A new payment moves the data version: the chart is drawn again, with a new ETag.
    with Session(engine) as session, session.begin():
        session.add(
            RepaymentTransaction(
                txn_no="T-new",
                loan_id=portfolio_book["L1"],
                amount=Decimal(7),
                paid_at=datetime(2025, 3, 10, 3, tzinfo=UTC),
            )
        )
    changed = client.get("/dashboard/chart/overdue_trend.png", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert tile(dashboard(client), "collected") == "107.0"


def test_unknown_charts_and_formats_are_not_found(app, portfolio_book):
    client = sign_in(app, "admin")
    assert client.get("/dashboard/chart/pie.svg").status_code == 404
    assert client.get("/dashboard/chart/aging.gif").status_code == 404


def test_the_page_loads_nothing_from_the_internet(app, portfolio_book):
    page = dashboard(sign_in(app, "admin"))
    external = [
        url
        for url in re.findall(r'(?:src|href|action)\s*=\s*["\']([^"\']+)', page)
        if re.match(r"^(https?:)?//", url)
    ]
    assert external == []
    assert "@import" not in page
    images = re.findall(r'<img class="chart" id="chart-(\w+)"[^>]*src="([^"]+)"', page, re.S)
    assert {name for name, _ in images} == set(charts.chart_names())
    assert all(src.startswith("/dashboard/chart/") for _, src in images)


def test_signed_out_users_are_sent_to_log_in(app, portfolio_book):
    client = app.test_client()
    assert client.get("/dashboard/").status_code in {302, 401}
    assert client.get("/dashboard/chart/aging.svg").status_code in {302, 401}
