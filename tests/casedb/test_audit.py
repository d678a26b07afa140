"""Every change leaves an entry in a trail that cannot be edited silently."""

from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from casedb.audit import verify
from casedb.models import AuditEntry, Team
from casedb.session import transaction
from run import cli
from tests.triggers import tamper


def _entries(session):
    session.rollback()
    return session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()


def _team_history(engine):
    with transaction(engine) as s:
        s.info["actor"] = "admin"
        s.add(Team(code="T1", name="一组", region="华东"))
    with transaction(engine) as s:
        s.info["actor"] = "supervisor1"
        s.scalar(select(Team)).name = "催收一组"
    with transaction(engine) as s:
        s.info["actor"] = "admin"
        s.delete(s.scalar(select(Team)))


def test_inserts_updates_and_deletes_are_recorded_with_who_and_before_after(engine, session):
    _team_history(engine)
    entries = _entries(session)
    assert [(e.action, e.actor) for e in entries] == [
        ("insert", "admin"),
        ("update", "supervisor1"),
        ("delete", "admin"),
    ]
    assert entries[0].after["name"] == "一组"
    assert entries[1].before == {"name": "一组"}
    assert entries[1].after["name"] == "催收一组"
    assert entries[2].before["name"] == "催收一组"
    assert entries[2].after is None
    assert len({e.row_id for e in entries}) == 1
    assert verify(session) is None


def test_imports_record_the_file_and_every_row_they_changed(run_import, portfolio, session):
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
            ["K1", "L1", "2025-01-01", "75", "1500.00"],
        ],
        actor="ops1",
    )
    entries = _entries(session)
    imports = [e for e in entries if e.action == "import"]
    assert len(imports) == 4
    assert imports[-1].after["kind"] == "cases"
    assert len(imports[-1].after["sha256"]) == 64
    update = next(e for e in entries if e.action == "update")
    assert update.actor == "ops1"
    assert update.table_name == "collection_case"
    assert update.before["dpd"] == 45
    assert update.after["dpd"] == 75
    assert update.after["overdue_principal"] == str(Decimal("1500.00"))
    assert verify(session) is None


def test_the_database_refuses_to_edit_or_delete_an_entry(engine, session):
    _team_history(engine)
    for statement in ("UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))


def test_an_edited_entry_is_found_and_named(engine, session):
    _team_history(engine)
    second = _entries(session)[1]
    tamper(engine, f"UPDATE audit_entry SET actor = 'someone' WHERE id = {second.id}")
    session.rollback()
    broken = verify(session)
    assert broken.entry_id == second.id
    assert "edited" in broken.reason


def test_a_removed_entry_is_found_at_the_next_one(engine, session, cli_database):
    _team_history(engine)
    _, second, third = _entries(session)
    assert CliRunner().invoke(cli, ["audit", "verify"]).exit_code == 0
    tamper(engine, f"DELETE FROM audit_entry WHERE id = {second.id}")
    session.rollback()
    broken = verify(session)
    assert broken.entry_id == third.id
    assert "removed" in broken.reason
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit entry {third.id}" in result.output
