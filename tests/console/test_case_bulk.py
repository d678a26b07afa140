"""Bulk actions from the case list: select cases, give the parameters and a reason, apply."""

from sqlalchemy import select

from casedb.models import CaseStatus, CollectionCase, Collector
from tests.console.conftest import sign_in


def _start(client, action, ids):
    """What the case list's action menu posts; it answers with the action's form."""
    response = client.post(
        "/cases/action_post", data={"action": action, "rowid": [str(i) for i in ids]}
    )
    assert response.status_code == 302
    return client.get(response.headers["Location"])


def test_a_supervisor_reassigns_cases_of_their_team(app, assigned, session):
    client = sign_in(app, "supervisor1")
    form = _start(client, "reassign", [assigned["K1"]])
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "催收员甲" in page
    assert "K2" not in page, "another team's case never reaches the form"
    mine = session.scalar(select(Collector.id).where(Collector.code == "CL1"))
    # CL1 already has K1; reassigning to the same collector is refused for that case.
    done = client.post(
        f"/cases/bulk/reassign?ids={assigned['K1']},{assigned['K2']}",
        data={"collector_id": mine, "reason": "复核 review"},
        follow_redirects=True,
    )
    assert "K1: already with 催收员甲" in done.get_data(as_text=True)


def test_a_bulk_status_change_reports_the_cases_the_life_cycle_refuses(app, assigned, session):
    client = sign_in(app, "admin")
    ids = f"{assigned['K1']},{assigned['K2']}"
    client.post(
        f"/cases/bulk/change_status?ids={assigned['K2']}",
        data={"status": "paid", "reason": "还清 settled in full"},
    )
    done = client.post(
        f"/cases/bulk/change_status?ids={ids}",
        data={"status": "legal", "reason": "诉讼 suit"},
        follow_redirects=True,
    )
    text = done.get_data(as_text=True)
    assert "1 changed, 1 refused" in text
    assert "a paid case cannot become legal" in text
    session.rollback()
    statuses = dict(session.execute(select(CollectionCase.case_no, CollectionCase.status)).all())
    assert statuses == {"K1": CaseStatus.LEGAL, "K2": CaseStatus.PAID}


def test_hold_without_a_reason_is_refused_and_changes_nothing(app, assigned, session):
    client = sign_in(app, "supervisor1")
    response = client.post(f"/cases/bulk/hold?ids={assigned['K1']}", data={"reason": ""})
    assert response.status_code == 400
    assert "a reason is required" in response.get_data(as_text=True)
    session.rollback()
    assert not session.get(CollectionCase, assigned["K1"]).on_hold
    held = client.post(f"/cases/bulk/hold?ids={assigned['K1']}", data={"reason": "投诉"})
    assert held.status_code == 302
    session.rollback()
    assert session.get(CollectionCase, assigned["K1"]).on_hold


def test_collectors_analysts_and_auditors_cannot_run_bulk_actions(app, assigned):
    for username in ("collector1", "analyst", "auditor"):
        client = sign_in(app, username)
        url = f"/cases/bulk/reassign?ids={assigned['K1']}"
        assert client.get(url).status_code in {302, 403}
        assert client.post(url, data={"reason": "x"}).status_code in {302, 403}
    session_check = sign_in(app, "supervisor1").get("/cases/bulk/nonsense?ids=1")
    assert session_check.status_code == 404


def test_bad_selections_are_a_400_with_the_reason(app, assigned):
    client = sign_in(app, "admin")
    assert client.get("/cases/bulk/hold?ids=abc").status_code == 400
    assert client.get("/cases/bulk/hold").status_code == 400
    unknown = client.post(
        f"/cases/bulk/reassign?ids={assigned['K1']}", data={"collector_id": "x", "reason": "r"}
    )
    assert unknown.status_code == 400
    assert "请选择催收员" in unknown.get_data(as_text=True)
