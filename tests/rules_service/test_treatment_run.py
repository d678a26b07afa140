"""The daily treatment run: a case's path steps become tasks and messages on their day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

import config
from casedb.models import (
    Alert,
    CaseStatus,
    CaseTask,
    CollectionCase,
    ContactKind,
    ContactPoint,
    Customer,
    MessageStatus,
    OutboundMessage,
    TaskStatus,
    TreatmentProgress,
)
from rules_service.daily_tick import TICK_QUEUE, TREATMENT_CRON_NAME, schedule
from rules_service.treatment_paths import approve, publish, save_draft, submit
from rules_service.treatment_run import RUN_LOCK_KEY, business_now, due_at, run_treatment
from tests.rules_service.test_service import many_cases

DAY0 = date(2026, 3, 2)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def path_document(name: str = "m2_calls") -> dict:
    return {
        "name": name,
        "title": {"zh": "电话催收", "en": "Calls"},
        "steps": [
            {
                "id": "S1",
                "action": "sms_reminder",
                "offset_days": 0,
                "after": "entry",
                "template": {
                    "zh": {"body": "{customer_name}您好,案件{case_no}逾期{overdue_amount}元。"},
                    "en": {"body": "Dear {customer_name}, case {case_no} owes {overdue_amount}."},
                },
            },
            {
                "id": "C1",
                "action": "call",
                "offset_days": 2,
                "after": "previous",
                "escalate_after_hours": 24,
                "template": {"zh": {"body": "核实身份后说明逾期金额{overdue_amount}。"}},
            },
            {
                "id": "L1",
                "action": "formal_letter",
                "offset_days": 10,
                "after": "entry",
                "template": {
                    "zh": {"subject": "催收函 {case_no}", "body": "请于{today}后尽快还款。"},
                    "en": {"subject": "Demand {case_no}", "body": "Please pay."},
                },
            },
        ],
    }


def publish_path(engine, document: dict) -> None:
    with Session(engine) as session, session.begin():
        version = save_draft(session, document, author="analyst")
        submit(session, version, by="analyst")
        approve(session, version, by="supervisor")
        publish(session, version, by="supervisor")


def put_on(engine, path: str | None, case_nos: tuple[str, ...] = ("MK0",)) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(CollectionCase).where(CollectionCase.case_no.in_(case_nos)).values(strategy=path)
        )


def tasks(engine, case_no: str = "MK0") -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return [
            (row.step, row.action, row.status.value)
            for row in session.scalars(
                select(CaseTask)
                .join(CollectionCase, CollectionCase.id == CaseTask.case_id)
                .where(CollectionCase.case_no == case_no)
                .order_by(CaseTask.id)
            )
        ]


def test_entering_a_path_creates_the_first_step_and_its_message_once(engine, run_import):
    many_cases(run_import, 2)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    result = run_treatment(engine, DAY0, at(DAY0))
    assert (result.entered, result.tasks, result.messages) == (1, 1, 1)
    assert tasks(engine) == [("S1", "sms_reminder", "done")]  # the system did it: queued
    with Session(engine) as session:
        message = session.scalars(select(OutboundMessage)).one()
        assert message.channel == "sms" and message.status is MessageStatus.QUEUED
        assert message.body == "客户0您好,案件MK0逾期100.00元。"
        task = session.get(CaseTask, message.task_id)
        assert task.due_at.replace(tzinfo=UTC) == due_at(DAY0)
    again = run_treatment(engine, DAY0, at(DAY0, 13))
    assert (again.entered, again.tasks, again.messages) == (0, 0, 0)
    assert tasks(engine, "MK1") == []  # no strategy, no path


def test_each_step_falls_due_on_its_day_counted_from_entry_or_the_step_before(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    run_treatment(engine, DAY0, at(DAY0))
    run_treatment(engine, DAY0 + timedelta(days=1), at(DAY0 + timedelta(days=1)))
    assert [t[0] for t in tasks(engine)] == ["S1"]
    run_treatment(engine, DAY0 + timedelta(days=2), at(DAY0 + timedelta(days=2)))
    assert tasks(engine)[-1] == ("C1", "call", "open")
    run_treatment(engine, DAY0 + timedelta(days=9), at(DAY0 + timedelta(days=9)))
    assert [t[0] for t in tasks(engine)] == ["S1", "C1"]
    run_treatment(engine, DAY0 + timedelta(days=10), at(DAY0 + timedelta(days=10)))
    assert [t[0] for t in tasks(engine)] == ["S1", "C1", "L1"]
    with Session(engine) as session:
        letter = session.scalars(
            select(OutboundMessage).where(OutboundMessage.channel == "letter")
        ).one()
        assert letter.subject == "催收函 MK0"


def test_a_missed_day_catches_up_every_step_that_fell_due(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    run_treatment(engine, DAY0, at(DAY0))
    run_treatment(engine, DAY0 + timedelta(days=12), at(DAY0 + timedelta(days=12)))
    assert [t[0] for t in tasks(engine)] == ["S1", "C1", "L1"]


def test_leaving_a_path_cancels_its_open_tasks_and_coming_back_resumes_later(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    publish_path(engine, path_document("ptp_follow_up"))
    put_on(engine, "m2_calls")
    run_treatment(engine, DAY0, at(DAY0))
    run_treatment(engine, DAY0 + timedelta(days=2), at(DAY0 + timedelta(days=2)))
    assert tasks(engine)[-1] == ("C1", "call", "open")
    put_on(engine, "ptp_follow_up")  # a promise: the strategy moves the case
    result = run_treatment(engine, DAY0 + timedelta(days=3), at(DAY0 + timedelta(days=3)))
    assert result.cancelled == 1
    assert ("C1", "call", "cancelled") in tasks(engine)
    put_on(engine, "m2_calls")  # back after 5 days away: the letter moves 5 days later
    back = DAY0 + timedelta(days=8)
    assert run_treatment(engine, back, at(back)).resumed == 1
    run_treatment(engine, DAY0 + timedelta(days=14), at(DAY0 + timedelta(days=14)))
    with Session(engine) as session:
        steps = session.scalars(
            select(CaseTask.step).where(CaseTask.path == "m2_calls").order_by(CaseTask.id)
        ).all()
        assert steps == ["S1", "C1"]
        progress = session.scalars(
            select(TreatmentProgress).where(TreatmentProgress.path == "m2_calls")
        ).one()
        assert progress.entered_on == DAY0 + timedelta(days=5)
    run_treatment(engine, DAY0 + timedelta(days=15), at(DAY0 + timedelta(days=15)))
    with Session(engine) as session:
        letters = session.scalars(
            select(CaseTask.path).where(CaseTask.step == "L1").order_by(CaseTask.id)
        ).all()
        assert letters == ["m2_calls"]


def test_an_overdue_call_escalates_to_the_supervisor_once(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    run_treatment(engine, DAY0, at(DAY0))
    day2 = DAY0 + timedelta(days=2)
    assert run_treatment(engine, day2, at(day2, 12)).escalated == 0
    late = due_at(day2) + timedelta(hours=25)
    assert run_treatment(engine, day2 + timedelta(days=1), late).escalated == 1
    assert run_treatment(engine, day2 + timedelta(days=1), late).escalated == 0
    with Session(engine) as session:
        alert = session.scalars(select(Alert)).one()
        assert (alert.kind, alert.ruleset, alert.row) == ("task_overdue", "path:m2_calls", "C1")


def test_the_tasks_of_a_case_that_ended_are_cancelled(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    day2 = DAY0 + timedelta(days=2)
    run_treatment(engine, DAY0, at(DAY0))
    run_treatment(engine, day2, at(day2))
    with Session(engine) as session, session.begin():
        session.execute(update(CollectionCase).values(status=CaseStatus.PAID))
    run_treatment(engine, day2 + timedelta(days=1), at(day2 + timedelta(days=1)))
    assert tasks(engine)[-1] == ("C1", "call", "cancelled")


def test_a_path_nobody_published_is_reported_and_creates_nothing(engine, run_import):
    many_cases(run_import, 2)
    put_on(engine, "no_such_path", ("MK0", "MK1"))
    result = run_treatment(engine, DAY0, at(DAY0))
    assert result.unknown_paths == {"no_such_path": 2}
    assert result.tasks == 0


def test_messages_go_to_a_usable_contact_point_in_the_debtors_language(engine, run_import):
    many_cases(run_import, 2)
    publish_path(engine, path_document())
    with Session(engine) as session, session.begin():
        first, second = session.scalars(select(Customer).order_by(Customer.id)).all()
        second.language = "en"
        for customer, value, opted_out in (
            (first, "13800000001", True),
            (first, "13800000002", False),
            (second, "13800000003", False),
        ):
            session.add(
                ContactPoint(
                    contact_point_no=f"CP{value}",
                    customer_id=customer.id,
                    kind=ContactKind.MOBILE,
                    value=value,
                    value_masked=value[:3] + "****" + value[-4:],
                    opted_out=opted_out,
                )
            )
    put_on(engine, "m2_calls", ("MK0", "MK1"))
    run_treatment(engine, DAY0, at(DAY0))
    with Session(engine) as session:
        messages = session.scalars(select(OutboundMessage).order_by(OutboundMessage.case_id)).all()
        assert [(m.recipient, m.language) for m in messages] == [
            ("13800000002", "zh"),
            ("13800000003", "en"),
        ]
        assert messages[1].body.startswith("Dear 客户1, case MK1")
    assert all(t[2] != TaskStatus.OPEN.value for t in tasks(engine))


def test_the_scheduler_enqueues_the_treatment_run_for_the_business_date(
    engine, run_import, cli_database, redis_connection, monkeypatch
):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    monkeypatch.setattr(config, "BUSINESS_DATE", DAY0.isoformat())
    monkeypatch.setattr(config, "DAILY_TREATMENT_AT", "06:45")
    scheduler = schedule(redis_connection)
    [cron_job] = [job for job in scheduler.get_jobs() if job.name == TREATMENT_CRON_NAME]
    assert cron_job.cron == "45 6 * * *"
    cron_job.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)  # 06:45 has come
    assert scheduler.enqueue_jobs() == [cron_job]
    [job_id] = cron_job.get_job_ids(redis_connection)
    SimpleWorker(
        [Queue(TICK_QUEUE, connection=redis_connection)], connection=redis_connection
    ).work(burst=True)
    job = Job.fetch(job_id, connection=redis_connection)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result()
    assert job.return_value()["on"] == DAY0.isoformat()
    assert job.return_value()["tasks"] == 1
    assert tasks(engine) == [("S1", "sms_reminder", "done")]


def test_a_second_run_while_one_is_going_does_nothing(engine, run_import):
    if engine.dialect.name != "postgresql":
        pytest.skip("one run at a time is PostgreSQL's advisory lock; SQLite has one writer")
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": RUN_LOCK_KEY})
        result = run_treatment(engine, DAY0, at(DAY0))
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
    assert result.skipped and result.tasks == 0
    assert tasks(engine) == []
    assert run_treatment(engine, DAY0, at(DAY0)).tasks == 1


def test_a_database_pinned_to_a_past_date_does_not_find_its_tasks_years_overdue(engine, run_import):
    many_cases(run_import, 1)
    publish_path(engine, path_document())
    put_on(engine, "m2_calls")
    run_treatment(engine, DAY0)  # the clock: now, but no later than the end of DAY0
    day2 = DAY0 + timedelta(days=2)
    # The call falls due at 09:00 on day 2: by the end of that day it is 15 h late (not 24),
    # by the end of the next 39 h (escalated once).
    assert run_treatment(engine, day2).escalated == 0
    assert run_treatment(engine, day2 + timedelta(days=1)).escalated == 1
    assert run_treatment(engine, day2 + timedelta(days=2)).escalated == 0
    assert business_now(DAY0) < datetime.now(UTC)
