"""Fixtures of the console tests: a fresh app per test, the demo logins, two assigned cases."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from casedb.models import CollectionCase, Collector, Team
from casedb.session import transaction
from console.app import create_app
from console.demo_logins import DEMO_LOGINS, ensure_demo_logins

PASSWORDS = {username: password for username, password, _ in DEMO_LOGINS}


@pytest.fixture
def app(cli_database, redis_connection, redis_url):
    app = create_app({"WTF_CSRF_ENABLED": False, "TESTING": True, "REDIS_URL": redis_url})
    ensure_demo_logins()
    return app


@pytest.fixture
def assigned(engine, run_import, portfolio):
    """Case K1 on team T1 (supervisor1) with collector1; a second case K2 with collector2."""
    run_import(
        "teams",
        [["team_code", "name", "supervisor_username"], ["T1", "一组", "supervisor1"]],
    )
    run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "username"],
            ["CL1", "催收员甲", "T1", "collector1"],
            ["CL2", "催收员乙", "", "collector2"],
        ],
    )
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal", "collector_code"],
            ["K2", "L2", "2025-02-01", "20", "300", "CL2"],
        ],
    )
    with transaction(engine) as session:
        team = session.scalar(select(Team.id))
        mine = session.scalar(select(Collector.id).where(Collector.code == "CL1"))
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.case_no == "K1")
            .values(team_id=team, collector_id=mine)
        )
    with transaction(engine) as session:
        return {c.case_no: c.id for c in session.scalars(select(CollectionCase))}


def sign_in(app, username):
    """A test client signed in to the console's pages as ``username``."""
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 302
    return client


def api_token(client, username):
    """Authorization headers with a JWT for ``username`` (the API takes no browser session)."""
    response = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": PASSWORDS[username], "provider": "db"},
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def zone_where_it_is(hour: int, now=None) -> str:
    """An IANA zone (``Etc/GMT±N``) whose local hour is ``hour`` now: the compliance gate judges
    a click at the real time, so tests choose the debtor's zone to make now quiet or working."""
    now = now or datetime.now(UTC)
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/UTC"
    # The Etc zones count the other way: Etc/GMT-8 is eight hours ahead of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
