"""A day in the life of a case, driven by the clock (business dates and ``now`` are injected;
nothing sleeps): it opens and gets its path, its call falls due and its first SMS goes out, a
promise is logged and the path pauses, a partial payment arrives and the promise is partly kept,
the path resumes at its next step, a broken promise escalates, a rating downgrade raises an
alert. Every part is the real one: shipped tables and paths, rules service, treatment run,
sender."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from docx import Document
from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb.contact_log import PromiseTerms, log_contact
from casedb.delinquency import set_business_date
from casedb.models import (
    Alert,
    CaseTask,
    Channel,
    CollectionCase,
    MessageStatus,
    OutboundMessage,
    Outcome,
    PromiseStatus,
    PromiseToPay,
    TaskStatus,
)
from casedb.outbound import OutboxTableSender, basic_gate, deliver_due
from casedb.work_queue import my_queue
from rules_service.daily_tick import advance_to
from rules_service.relay import Relay
from rules_service.treatment_paths import publish_shipped
from rules_service.treatment_run import run_treatment

DAY0 = date(2025, 3, 3)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def at(n: int, hour_utc: int = 2) -> datetime:
    """10:00 in Beijing on day ``n`` (after the 09:00 the steps fall due)."""
    moment = day(n)
    return datetime(moment.year, moment.month, moment.day, hour_utc, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr(config, "PROMISE_GRACE_DAYS", 2)
    monkeypatch.setattr(config, "BUSINESS_DATE", "")


class Life:
    """The processes of a deployment, stepped by hand."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.relay = Relay(engine)
        self.sender = OutboxTableSender(engine)

    def decide(self) -> None:
        self.relay.run(once=True)

    def morning(self, n: int) -> None:
        """The night's tick, the rules service catching up, the treatment run, the sender."""
        with Session(self.engine) as session, session.begin():
            advance_to(session, day(n), by="daily-tick")
        self.decide()
        run_treatment(self.engine, day(n), at(n, 0))
        deliver_due(self.engine, self.sender, at(n), gate=basic_gate)

    def case(self) -> CollectionCase:
        with Session(self.engine) as session:
            case = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
            session.expunge(case)
            return case

    def tasks(self, path: str | None = None) -> list[tuple[str, str, str, str]]:
        with Session(self.engine) as session:
            query = select(CaseTask).order_by(CaseTask.id)
            if path:
                query = query.where(CaseTask.path == path)
            return [(t.path, t.step, t.action, t.status.value) for t in session.scalars(query)]

    def messages(self) -> list[OutboundMessage]:
        with Session(self.engine) as session:
            found = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
            session.expunge_all()
            return list(found)

    def alerts(self) -> set[str]:
        with Session(self.engine) as session:
            return set(session.scalars(select(Alert.kind)))

    def call(self, n: int, promise: tuple[str, int] | None = None) -> None:
        with Session(self.engine) as session, session.begin():
            case = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
            log_contact(
                session,
                case,
                actor="collector-wang",
                channel=Channel.CALL,
                outcome=Outcome.PROMISE_TO_PAY if promise else Outcome.NO_ANSWER,
                started_at=at(n, 3),
                collector_id=case.collector_id,
                promise=PromiseTerms(Decimal(promise[0]), day(promise[1])) if promise else None,
            )
        self.decide()


def test_a_case_from_opening_to_a_broken_promise(engine, staff, published, run_import):
    with Session(engine) as session, session.begin():
        set_business_date(session, DAY0)
        publish_shipped(session, by="test")
    run_import(
        "customers",
        [["customer_no", "姓名", "省份", "timezone"], ["C1", "张三", "北京", "Asia/Shanghai"]],
    )
    run_import(
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value", "is_primary", "consent"],
            ["P1", "C1", "mobile", "13800138000", "true", "granted"],
            ["P2", "C1", "home_address", "北京市东城区某街1号", "true", "granted"],
        ],
    )
    run_import(
        "ratings",
        [
            ["snapshot_no", "customer_no", "provider", "reported_on", "rating"],
            ["R1", "C1", "中诚信", "2025-01-15", "A"],
        ],
    )
    run_import(
        "loans",
        [["loan_no", "customer_no", "product", "principal"], ["L1", "C1", "cash_loan", "10000"]],
    )
    life = Life(engine)

    # Day 0: the case opens at 45 DPD; the rules service puts it on the M2 call path and the
    # treatment run makes its first call due today, in the assigned collector's queue.
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
            ["K1", "L1", "2025-01-17", "45", "1200.50"],
        ],
    )
    life.decide()
    case = life.case()
    assert (case.bucket, case.strategy) == ("M2", "m2_calls")
    assert case.collector_id is not None
    run_treatment(engine, DAY0, at(0, 0))
    assert life.tasks() == [("m2_calls", "C1", "call", "open")]
    with Session(engine) as session:
        [item] = my_queue(session, case.collector_id, now=at(0))
        assert (item.case_no, item.task.action, item.task.overdue) == ("K1", "call", True)

    # Day 1: the SMS step is queued and the sender delivers it, once, to the mobile.
    life.morning(1)
    [sms] = life.messages()
    assert (sms.channel, sms.status, sms.recipient) == ("sms", MessageStatus.SENT, "13800138000")
    assert "张三" in sms.body and "1,200.50" in sms.body
    deliver_due(engine, life.sender, at(1, 5), gate=basic_gate)
    assert [m.status for m in life.messages()] == [MessageStatus.SENT]

    # The collector calls: the open call task is done by the logged call, and the debtor
    # promises 600 by day 8. The strategy moves the case to the promise follow-up path: the M2
    # path pauses (its open tasks are cancelled) and the promise's confirmation SMS goes out.
    life.call(1, promise=("600.00", 8))
    assert life.tasks("m2_calls")[0] == ("m2_calls", "C1", "call", "done")
    assert life.case().strategy == "ptp_follow_up"
    life.morning(2)
    assert [m.channel for m in life.messages()] == ["sms", "sms"]
    assert "600.00" in life.messages()[-1].body
    paused_steps = [t[1] for t in life.tasks("m2_calls")]

    # Day 5: 200 of the 600 arrives. The promise stays pending until its date plus grace.
    run_import(
        "payments",
        [["txn_no", "loan_no", "amount", "paid_at"], ["T1", "L1", "200.00", "2025-03-08 10:00"]],
    )
    life.decide()
    for n in range(3, 11):
        life.morning(n)
        assert [t[1] for t in life.tasks("m2_calls")] == paused_steps, f"paused on day {n}"
    with Session(engine) as session:
        [ptp] = session.scalars(select(PromiseToPay)).all()
        assert ptp.status is PromiseStatus.PENDING

    # Day 11 (day 8 + 2 days of grace passed): the promise is partly kept, the case returns to
    # its M2 path and takes the next step there, counted with the days away added.
    life.morning(11)
    with Session(engine) as session:
        [ptp] = session.scalars(select(PromiseToPay)).all()
        assert (ptp.status, ptp.amount_paid) == (PromiseStatus.PARTLY_KEPT, Decimal("200.00"))
    assert life.case().strategy == "m2_calls"
    life.morning(12)
    m2_steps = [t[1] for t in life.tasks("m2_calls")]
    assert m2_steps[: len(paused_steps)] == paused_steps
    assert len(m2_steps) == len(paused_steps) + 1, "the next step, not the whole path again"

    # A second promise is broken: the case goes to the top of the queue with a higher priority
    # and a broken-promise flag, and open calls overdue for a day escalate to the supervisor.
    before = life.case().priority_score
    life.call(12, promise=("300.00", 14))
    for n in range(13, 18):
        life.morning(n)
    with Session(engine) as session:
        statuses = [
            p.status for p in session.scalars(select(PromiseToPay).order_by(PromiseToPay.id))
        ]
        assert statuses == [PromiseStatus.PARTLY_KEPT, PromiseStatus.BROKEN]
        [item] = my_queue(session, life.case().collector_id, now=at(17))
        assert item.broken_promise
    assert life.case().priority_score > before
    # The follow-up call nobody made while the promise ran was escalated a day after it fell
    # due; it was cancelled when the case left that path.
    assert ("ptp_follow_up", "C1", "call", TaskStatus.CANCELLED.value) in life.tasks()
    assert "task_overdue" in life.alerts()
    # Past 60 DPD the case is in M3: the letters path files a formal demand letter.
    assert life.case().strategy == "m3_letters"
    letter = life.messages()[-1]
    assert (letter.channel, letter.status) == ("letter", MessageStatus.SENT)
    text = "\n".join(p.text for p in Document(io.BytesIO(letter.document)).paragraphs)
    assert "张三" in text and "K1" in text

    # A new bureau rating two notches down raises the downgrade alert.
    run_import(
        "ratings",
        [
            ["snapshot_no", "customer_no", "provider", "reported_on", "rating"],
            ["R2", "C1", "中诚信", "2025-03-19", "BB"],
        ],
    )
    life.decide()
    assert "rating_downgrade" in life.alerts()
