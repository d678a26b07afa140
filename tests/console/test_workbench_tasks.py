"""The case page and the queue show a case's path: its tasks with their scripts, the messages
sent and letters filed; a collector marks a task done; the legal hand-off and a write-off that a
supervisor, not its recommender, decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from casedb.models import (
    CaseStatus,
    CaseTask,
    CollectionCase,
    MessageStatus,
    OutboundMessage,
    TaskStatus,
)
from casedb.session import transaction
from tests.console.conftest import sign_in


def add_path_work(engine, case_id: int) -> dict[str, int]:
    due = datetime.now(UTC) - timedelta(hours=2)
    with transaction(engine) as session:
        call = CaseTask(
            case_id=case_id,
            path="m2_calls",
            path_version=1,
            step="C1",
            action="call",
            due_at=due,
            note="核实身份后说明逾期金额1,200.50元。",
            escalate_after_hours=24,
        )
        sms = CaseTask(
            case_id=case_id,
            path="m2_calls",
            path_version=1,
            step="S1",
            action="sms_reminder",
            automated=True,
            due_at=due,
            status=TaskStatus.DONE,
        )
        session.add_all([call, sms])
        session.flush()
        letter = OutboundMessage(
            case_id=case_id,
            task_id=sms.id,
            channel="sms",
            recipient="13800138000",
            body="张三您好,请尽快还款。",
            status=MessageStatus.SENT,
        )
        filed = OutboundMessage(
            case_id=case_id,
            channel="letter",
            recipient="北京市东城区某街1号",
            subject="催收函",
            body="请于十五日内还款。",
            status=MessageStatus.SENT,
            document=b"PK a docx",
            document_name="letter-K1-1-20250301.docx",
        )
        session.add_all([letter, filed])
        session.flush()
        return {"call": call.id, "letter": filed.id}


def test_the_case_page_shows_tasks_scripts_and_masked_messages(app, engine, assigned):
    ids = add_path_work(engine, assigned["K1"])
    collector = sign_in(app, "collector1")
    page = collector.get(f"/workbench/{assigned['K1']}").get_data(as_text=True)
    assert f'data-task="{ids["call"]}" data-status="open"' in page
    assert "核实身份后说明逾期金额1,200.50元。" in page
    assert "138****8000" in page and "13800138000" not in page
    document = collector.get(f"/workbench/{assigned['K1']}/message/{ids['letter']}/document")
    assert document.status_code == 200 and document.data == b"PK a docx"
    assert "attachment" in document.headers["Content-Disposition"]
    queue = collector.get("/queue/").get_data(as_text=True)
    assert 'class="task text-danger overdue"' in queue
    other = sign_in(app, "collector2")  # not their case
    assert (
        other.get(f"/workbench/{assigned['K1']}/message/{ids['letter']}/document").status_code
        == 404
    )


def test_a_collector_marks_a_task_done_with_a_note_once(app, engine, assigned):
    ids = add_path_work(engine, assigned["K1"])
    collector = sign_in(app, "collector1")
    url = f"/workbench/{assigned['K1']}/task/{ids['call']}/done"
    assert collector.post(url, data={"note": "已接通,客户承诺月底还款"}).status_code == 302
    with transaction(engine) as session:
        task = session.get(CaseTask, ids["call"])
        assert (task.status, task.done_by) == (TaskStatus.DONE, "collector1")
        assert task.note.endswith("客户承诺月底还款")
    again = collector.post(url, data={})
    assert again.status_code == 400
    assert "only an open task can be done" in again.get_data(as_text=True)
    assert sign_in(app, "collector2").post(url).status_code == 404


def in_collection(engine, case_id: int) -> None:
    with transaction(engine) as session:
        session.get(CollectionCase, case_id).status = CaseStatus.IN_COLLECTION


def test_hand_off_to_legal_and_a_write_off_decided_by_the_supervisor(app, engine, assigned):
    case_id = assigned["K1"]
    collector = sign_in(app, "collector1")
    new_case = collector.post(f"/workbench/{case_id}/write-off", data={"reason": "太早"})
    assert new_case.status_code == 400  # the life cycle: a new case cannot be written off
    assert "a new case cannot become written_off" in new_case.get_data(as_text=True)
    in_collection(engine, case_id)
    refused = collector.post(f"/workbench/{case_id}/write-off", data={"reason": ""})
    assert refused.status_code == 400
    assert (
        collector.post(
            f"/workbench/{case_id}/write-off", data={"reason": "债务人已身故"}
        ).status_code
        == 302
    )
    # A collector cannot decide; the supervisor of the case's team can.
    assert collector.post(f"/workbench/{case_id}/write-off/approve").status_code in (302, 403)
    supervisor = sign_in(app, "supervisor1")
    page = supervisor.get(f"/workbench/{case_id}").get_data(as_text=True)
    assert 'id="approve-write-off"' in page and "债务人已身故" in page
    inbox = supervisor.get("/alerts/").get_data(as_text=True)
    assert 'data-kind="write_off_recommended"' in inbox
    assert supervisor.post(f"/workbench/{case_id}/write-off/approve").status_code == 302
    with transaction(engine) as session:
        assert session.get(CollectionCase, case_id).status is CaseStatus.WRITTEN_OFF
    # K2: handed off to legal by its collector.
    other = sign_in(app, "collector2")
    assert (
        other.post(f"/workbench/{assigned['K2']}/legal", data={"reason": "起诉"}).status_code == 302
    )
    with transaction(engine) as session:
        assert session.get(CollectionCase, assigned["K2"]).status is CaseStatus.LEGAL
    assert other.post(f"/workbench/{assigned['K2']}/write-off/maybe").status_code == 404


def test_a_supervisor_cannot_approve_their_own_recommendation(app, engine, assigned):
    supervisor = sign_in(app, "supervisor1")
    case_id = assigned["K1"]
    in_collection(engine, case_id)
    supervisor.post(f"/workbench/{case_id}/write-off", data={"reason": "无财产可执行"})
    response = supervisor.post(f"/workbench/{case_id}/write-off/approve")
    assert response.status_code == 400
    assert "maker-checker" in response.get_data(as_text=True)
    with transaction(engine) as session:
        assert (
            session.scalar(select(CollectionCase.status).where(CollectionCase.id == case_id))
            is not CaseStatus.WRITTEN_OFF
        )
