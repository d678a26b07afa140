"""The console starts on the case database and shows the portfolio to a logged-in user."""

import re

import pytest

from console.app import create_app
from console.demo_logins import ensure_demo_logins


@pytest.fixture
def client(cli_database):
    app = create_app({"WTF_CSRF_ENABLED": False, "TESTING": True})
    ensure_demo_logins()
    with app.test_client() as client:
        yield client


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/portfolio/")
    assert response.status_code in (302, 401)


def test_the_portfolio_page_shows_counts_by_bucket(client, run_import, portfolio):
    response = client.post("/login/", data={"username": "admin", "password": "admin123"})
    assert response.status_code == 302
    page = client.get("/portfolio/").get_data(as_text=True)
    assert "组合概览" in page
    assert re.search(r"<td>M2</td><td>1</td>", page), "case K1 has 45 DPD"


def test_a_wrong_password_does_not_log_in(client):
    client.post("/login/", data={"username": "admin", "password": "nope"})
    assert client.get("/portfolio/").status_code in (302, 401)


def test_the_console_speaks_chinese_by_default_and_remembers_english(client):
    assert "登录" in client.get("/login/").get_data(as_text=True)
    client.get("/lang/en")
    assert "Sign In" in client.get("/login/").get_data(as_text=True)
    assert "Sign In" in client.get("/login/").get_data(as_text=True), "remembered"
    client.get("/lang/zh")
    assert "登录" in client.get("/login/").get_data(as_text=True)
