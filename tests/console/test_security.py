"""Logins: throttled per address, locked per account after repeated failures."""

import pytest
from sqlalchemy import event

import config
from console.app import create_app
from console.demo_logins import ensure_demo_logins
from tests.console.conftest import sign_in


@pytest.fixture
def throttled_app(cli_database, redis_connection, redis_url):
    app = create_app({"WTF_CSRF_ENABLED": False, "TESTING": True, "REDIS_URL": redis_url})
    ensure_demo_logins()
    return app


def _login(client, password):
    return client.post(
        "/login/", data={"username": "collector1", "password": password}, follow_redirects=True
    )


def test_five_wrong_passwords_lock_the_login_even_for_the_right_one(throttled_app):
    client = throttled_app.test_client()
    for _ in range(config.LOGIN_MAX_FAILURES):
        _login(client, "wrong")
    locked = _login(client, "collector123").get_data(as_text=True)
    assert "登录失败次数过多" in locked
    client.get("/lang/en")
    locked = _login(client, "collector123").get_data(as_text=True)
    assert "Too many failed logins: try again in" in locked
    assert client.get("/queue/").status_code in {302, 401, 403}


def test_the_lock_expires(throttled_app, monkeypatch, redis_connection):
    monkeypatch.setattr(config, "LOGIN_LOCKOUT_SECONDS", 60)
    client = throttled_app.test_client()
    for _ in range(config.LOGIN_MAX_FAILURES):
        _login(client, "wrong")
    assert 0 < redis_connection.ttl("login_failures:collector1") <= 60
    redis_connection.delete("login_failures:collector1")  # as the expiry would
    _login(client, "collector123")
    assert client.get("/queue/").status_code == 200


def test_a_success_clears_the_failure_count(throttled_app, redis_connection):
    client = throttled_app.test_client()
    _login(client, "wrong")
    assert redis_connection.get("login_failures:collector1") == b"1"
    _login(client, "collector123")
    assert redis_connection.get("login_failures:collector1") is None


def test_login_posts_from_one_address_are_rate_limited(throttled_app):
    client = throttled_app.test_client()
    answers = [
        client.post("/login/", data={"username": f"u{n}", "password": "x"}).status_code
        for n in range(25)
    ]
    assert 429 in answers
    assert answers.index(429) == 20


def test_pages_check_permissions_in_memory_not_per_menu_entry_in_the_database(app, assigned):
    """Every role is built in (console/roles.py), the admin's too: a page asks the database
    nothing about permissions, where it used to ask once per menu entry and action."""
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    for username in ("admin", "supervisor1"):
        client = sign_in(app, username)
        questions: list[str] = []

        def count(_conn, _cursor, statement, _parameters, _context, _many, seen=questions):
            if "ab_permission_view_role" in statement:
                seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert client.get("/cases/list/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert questions == [], f"{username}: {len(questions)} permission queries"
