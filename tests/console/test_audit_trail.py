"""The audit trail in the console: every change under its user, browsed, exported, verified."""

import csv
import io

from sqlalchemy import select

from casedb.models import AuditEntry, Collector
from tests.console.conftest import api_token, sign_in
from tests.triggers import tamper


def _entries(session, table):
    session.rollback()
    return session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == table).order_by(AuditEntry.id)
    ).all()


def test_a_change_made_in_the_console_is_recorded_under_the_signed_in_user(app, assigned, session):
    collector = session.scalar(select(Collector).where(Collector.code == "CL1"))
    client = sign_in(app, "supervisor1")
    saved = client.post(
        f"/collectors/edit/{collector.id}",
        data={
            "name": "催收员甲",
            "team": str(collector.team_id),
            "skills": "legal， hardship",
            "capacity": "150",
            "active": "y",
        },
    )
    assert saved.status_code == 302
    entry = _entries(session, "collector")[-1]
    assert (entry.actor, entry.action) == ("supervisor1", "update")
    assert entry.before["capacity"] == 200 and entry.after["capacity"] == 150
    assert entry.after["skills"] == ["legal", "hardship"]


def test_user_administration_is_audited_without_password_hashes(app, assigned, session):
    with app.app_context():
        analyst_role = app.appbuilder.sm.find_role("Analyst").id
    client = sign_in(app, "admin")
    created = client.post(
        "/users/add",
        data={
            "first_name": "新",
            "last_name": "员工",
            "username": "newbie",
            "email": "newbie@example.cn",
            "active": "y",
            "password": "S3cret-pass",
            "conf_password": "S3cret-pass",
            "roles": [str(analyst_role)],
        },
    )
    assert created.status_code == 302
    entry = _entries(session, "ab_user")[-1]
    assert (entry.actor, entry.action) == ("admin", "insert")
    assert entry.after["username"] == "newbie"
    assert entry.after["password"] == "***"
    assert entry.after["roles"], "the roles given are recorded with the user"
    assert "S3cret" not in str(entry.after)


def test_auditors_filter_the_trail_and_export_what_they_see(app, assigned, session):
    collector = session.scalar(select(Collector).where(Collector.code == "CL1"))
    sign_in(app, "admin").post(
        f"/collectors/edit/{collector.id}",
        data={"name": "催收员甲（组长）", "team": str(collector.team_id), "capacity": "90"},
    )
    client = sign_in(app, "auditor")
    page = client.get("/audit/list/?_flt_0_table_name=collector").get_data(as_text=True)
    assert "collector" in page
    # Closing the streamed response ends its transaction, as a WSGI server does.
    with client.get("/audit/export?_flt_0_table_name=collector") as export:
        assert export.status_code == 200
        assert export.headers["Content-Disposition"] == "attachment; filename=audit_trail.csv"
        text = export.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows and {row["table_name"] for row in rows} == {"collector"}
    assert any("催收员甲（组长）" in row["after"] for row in rows)
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)


def test_auditors_change_nothing(app, assigned, session):
    entry_id = session.scalar(select(AuditEntry.id))
    client = sign_in(app, "auditor")
    for url in (f"/audit/edit/{entry_id}", f"/audit/delete/{entry_id}", "/audit/add"):
        assert client.get(url).status_code in {302, 403, 404}
    headers = api_token(client, "auditor")
    assert client.get("/api/v1/audit_entry/", headers=headers).status_code == 200
    assert client.delete(f"/api/v1/audit_entry/{entry_id}", headers=headers).status_code == 405
    assert client.post(f"/workbench/{assigned['K1']}/contact", data={}).status_code in {
        302,
        403,
    }
    assert _entries(session, "audit_entry") == []
    assert session.get(AuditEntry, entry_id) is not None


def test_verifying_the_chain_in_the_console_names_a_tampered_entry(app, assigned, engine, session):
    client = sign_in(app, "auditor")
    intact = client.get("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert "审计链完整" in intact
    second = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()[1]
    tamper(engine, f"UPDATE audit_entry SET actor = 'someone' WHERE id = {second}")
    broken = client.get("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert f"审计链被破坏，第 {second} 条记录：its content does not match its hash" in broken
    client.get("/lang/en")
    broken = client.get("/audit/verify", follow_redirects=True).get_data(as_text=True)
    assert f"broken at entry {second}: its content does not match its hash" in broken


def test_only_auditors_and_admins_open_the_trail(app, assigned):
    for username in ("analyst", "supervisor1", "collector1"):
        assert sign_in(app, username).get("/audit/list/").status_code in {302, 403}
