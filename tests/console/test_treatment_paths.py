"""Treatment paths in the console: analysts edit steps in a form, supervisors approve and
publish; a refused save names the step and field and keeps what was typed."""

from __future__ import annotations

import re

from sqlalchemy import select

from casedb.models import AuditEntry, TreatmentPath, VersionStatus
from casedb.session import transaction
from tests.console.conftest import sign_in


def step_form(**overrides) -> dict:
    form = {
        "name": "m9_test_path",
        "title_zh": "测试路径",
        "title_en": "Test path",
        "step_id": ["S1", "C1", ""],
        "step_action": ["sms_reminder", "call", ""],
        "step_offset_days": ["0", "3", ""],
        "step_after": ["entry", "previous", "previous"],
        "step_escalate_after_hours": ["", "24", ""],
        "step_zh_subject": ["", "", ""],
        "step_zh_body": ["{customer_name}您好,请尽快还款{overdue_amount}元。", "核实身份。", ""],
        "step_en_subject": ["", "", ""],
        "step_en_body": ["Dear {customer_name}, please pay {overdue_amount}.", "", ""],
    }
    form.update(overrides)
    return form


def versions(engine) -> list[tuple[str, int, str, str]]:
    with transaction(engine) as session:
        return [
            (v.name, v.version, v.status.value, v.author)
            for v in session.scalars(select(TreatmentPath).order_by(TreatmentPath.id))
        ]


def test_an_analyst_writes_a_path_in_the_form_and_a_supervisor_publishes_it(app, engine):
    analyst = sign_in(app, "analyst")
    response = analyst.post("/paths/new", data=step_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    [(name, version, status, author)] = versions(engine)
    assert (name, version, status, author) == ("m9_test_path", 1, "draft", "analyst")
    with transaction(engine) as session:
        path = session.scalars(select(TreatmentPath)).one()
        assert [s["id"] for s in path.document["steps"]] == ["S1", "C1"]  # the blank row dropped
        assert path.document["steps"][1]["escalate_after_hours"] == 24
        path_id = path.id
    page = analyst.get(f"/paths/version/{path_id}").get_data(as_text=True)
    assert "{customer_name}您好" in page and 'id="submit-path"' in page
    assert analyst.post(f"/paths/version/{path_id}/submit").status_code == 302
    # The analyst may not approve; a supervisor may, and publishes.
    assert analyst.post(f"/paths/version/{path_id}/approve").status_code in (302, 403)
    assert versions(engine)[0][2] == "submitted"
    supervisor = sign_in(app, "supervisor1")
    assert supervisor.post(f"/paths/version/{path_id}/approve").status_code == 302
    assert supervisor.post(f"/paths/version/{path_id}/publish").status_code == 302
    assert versions(engine)[0][2] == "published"
    listing = supervisor.get("/paths/").get_data(as_text=True)
    assert re.search(r'data-path="m9_test_path" data-version="1" data-status="published"', listing)
    with transaction(engine) as session:
        trail = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.table_name == "treatment_path")
        ).all()
        assert {"analyst", "supervisor1"} <= set(trail)


def test_a_refused_save_names_the_step_and_field_and_keeps_the_form(app, engine):
    analyst = sign_in(app, "analyst")
    bad = step_form(step_zh_body=["{custmer_name}您好", "核实身份。", ""])
    response = analyst.post("/paths/new", data=bad)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'data-step="S1" data-field="custmer_name"' in page
    assert "{custmer_name}您好" in page  # what was typed is still there
    assert versions(engine) == []
    late = step_form(step_offset_days=["0", "-2", ""])
    page = analyst.post("/paths/new", data=late).get_data(as_text=True)
    assert 'data-field="offset_days"' in page and "-2" in page


def test_the_maker_cannot_check_and_frozen_versions_do_not_change(app, engine):
    analyst = sign_in(app, "analyst")
    analyst.post("/paths/new", data=step_form())
    with transaction(engine) as session:
        path = session.scalars(select(TreatmentPath)).one()
        path.submitted_by, path.status = "supervisor1", VersionStatus.SUBMITTED
        path_id = path.id
    supervisor = sign_in(app, "supervisor1")
    response = supervisor.post(f"/paths/version/{path_id}/approve")
    assert response.status_code == 400
    assert "maker-checker" in response.get_data(as_text=True)
    response = analyst.post(f"/paths/version/{path_id}/save", data=step_form())
    assert response.status_code == 400
    assert versions(engine)[0][2] == "submitted"


def test_collectors_do_not_see_paths_and_auditors_only_read(app, engine):
    collector = sign_in(app, "collector1")
    assert collector.get("/paths/").status_code in (302, 403)
    auditor = sign_in(app, "auditor")
    assert auditor.get("/paths/").status_code == 200
    assert auditor.post("/paths/new", data=step_form()).status_code in (302, 403)
    assert versions(engine) == []
