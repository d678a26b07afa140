"""Automated contacts go out through the outbound queue at most once: a gateway that fails is
retried with backoff, a sender that dies mid-send is resolved by asking the gateway, the
compliance gate refuses before anything is sent, and two senders never send the same message.
Time is the injected ``now``; nothing sleeps."""

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import pytest
from docx import Document
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from casedb import audit
from casedb.letters import letter_file_name
from casedb.models import AuditEntry, CaseStatus, CollectionCase, MessageStatus, OutboundMessage
from casedb.outbound import (
    BACKOFF,
    DEFAULT_SENDER,
    DeliveryResult,
    OutboxTableSender,
    SendFailed,
    basic_gate,
    deliver_due,
    idempotency_key,
    load_sender,
    run_sender,
)
from casedb.session import make_engine

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing on 1 March
LEASE = timedelta(minutes=10)
SETTINGS = {"LENDER_NAME": "示例消费金融有限公司", "COLLECTION_HOTLINE": "400-000-0000"}
LETTER_BODY = "您的贷款已逾期45天，逾期金额1,200.50元。\n\n请于2025-03-08前还款。"


class Gateway:
    """An SMS gateway that honours idempotency keys and can be made to fail."""

    name = "test-gateway"

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.calls: list[str] = []
        self.accepted: dict[str, str] = {}
        self.lock = threading.Lock()

    def send(self, message: OutboundMessage, key: str) -> str:
        with self.lock:
            self.calls.append(key)
            if self.failures:
                self.failures -= 1
                raise SendFailed("gateway down: 503", retryable=self.retryable)
            if key not in self.accepted:
                self.accepted[key] = f"gw-{len(self.accepted) + 1}"
            return self.accepted[key]

    def delivered(self, key: str) -> str | None:
        return self.accepted.get(key)


class Crash(BaseException):
    """The process dying (SIGKILL, power cut): nothing after it runs."""


class CrashAfterAccepting(Gateway):
    def send(self, message: OutboundMessage, key: str) -> str:
        super().send(message, key)
        raise Crash


class CrashBeforeAccepting(Gateway):
    def send(self, message: OutboundMessage, key: str) -> str:
        raise Crash


@pytest.fixture
def case(portfolio, session) -> CollectionCase:
    """K1 on 张三's loan L1, 1,200.50 overdue."""
    return session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))


def queue(session: Session, case: CollectionCase, channel: str = "sms", **values) -> int:
    message = OutboundMessage(
        case_id=case.id,
        channel=channel,
        recipient=values.pop("recipient", "+8613800000000"),
        body=values.pop("body", "您的贷款已逾期，请尽快还款。"),
        next_attempt_at=values.pop("next_attempt_at", NOW),
        **values,
    )
    session.add(message)
    session.commit()
    return message.id


def reloaded(engine: Engine, message_id: int) -> OutboundMessage:
    with Session(engine) as session:
        return session.get(OutboundMessage, message_id)


def statuses(engine: Engine) -> list[MessageStatus]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboundMessage.status).order_by(OutboundMessage.id)))


# --- the default sender ----------------------------------------------------------------------


def test_the_default_sender_files_an_sms_in_the_outbox_table(engine, session, case):
    message_id = queue(session, case)
    sender = OutboxTableSender(engine, SETTINGS)

    result = deliver_due(engine, sender, NOW)

    assert result == DeliveryResult(sent=1)
    sent = reloaded(engine, message_id)
    assert sent.status == MessageStatus.SENT
    assert sent.sent_at == NOW
    assert sent.attempts == 1
    assert sent.provider_ref == f"outbox:{message_id}"
    assert sender.delivered(idempotency_key(message_id)) == sent.provider_ref


def test_a_letter_is_filed_as_a_docx_with_the_chinese_text_case_number_and_amount(
    engine, session, case
):
    message_id = queue(
        session, case, channel="letter", recipient=None, subject="逾期还款催告函", body=LETTER_BODY
    )

    deliver_due(engine, OutboxTableSender(engine, SETTINGS), NOW)

    letter = reloaded(engine, message_id)
    assert letter.status == MessageStatus.SENT
    assert letter.document_name == letter_file_name("K1", message_id, date(2025, 3, 1))
    assert letter.provider_ref == letter.document_name
    lines = [paragraph.text for paragraph in Document(BytesIO(letter.document)).paragraphs]
    assert lines[0].startswith("示例消费金融有限公司")
    assert "案件编号：K1" in lines
    assert "张三先生/女士：" in lines
    assert "逾期还款催告函" in lines
    assert "您的贷款已逾期45天，逾期金额1,200.50元。" in lines
    assert "2025年3月1日" in lines  # dated the day it was sent (the injected now, in Beijing)


def test_filing_a_letter_is_in_the_audit_trail_as_a_digest_and_the_chain_holds(
    engine, session, case
):
    message_id = queue(session, case, channel="letter", subject="催告函", body=LETTER_BODY)

    deliver_due(engine, OutboxTableSender(engine, SETTINGS), NOW)

    with Session(engine) as check:
        afters = check.scalars(
            select(AuditEntry.after).where(
                AuditEntry.table_name == "outbound_message",
                AuditEntry.row_id == str(message_id),
                AuditEntry.action == "update",
            )
        ).all()
        assert any(str(after.get("document", "")).startswith("sha256:") for after in afters)
        assert {after.get("status") for after in afters} >= {"sending", "sent"}
        assert {entry.actor for entry in check.scalars(select(AuditEntry))} >= {"outbound"}
        assert audit.verify(check) is None


def test_the_sender_is_pluggable_by_module_and_class_name(engine):
    sender = load_sender(DEFAULT_SENDER, engine=engine, settings=SETTINGS)
    assert isinstance(sender, OutboxTableSender)
    gateway = load_sender("tests.casedb.test_outbound:Gateway", failures=1)
    assert isinstance(gateway, Gateway)
    assert gateway.failures == 1
    with pytest.raises(ValueError, match="module:Class"):
        load_sender("casedb.outbound.OutboxTableSender")
    with pytest.raises(ValueError, match="has no"):
        load_sender("casedb.outbound:NoSuchSender")


# --- retries -----------------------------------------------------------------------------------


def test_a_gateway_that_fails_twice_sends_once_on_the_third_attempt_after_the_backoff(
    engine, session, case
):
    message_id = queue(session, case)
    gateway = Gateway(failures=2)

    assert deliver_due(engine, gateway, NOW) == DeliveryResult(retried=1)
    first_retry = NOW + BACKOFF[0]
    message = reloaded(engine, message_id)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 1)
    assert message.next_attempt_at == first_retry
    assert message.last_error == "gateway down: 503"

    assert deliver_due(engine, gateway, first_retry - timedelta(seconds=1)) == DeliveryResult()
    assert deliver_due(engine, gateway, first_retry) == DeliveryResult(retried=1)
    second_retry = first_retry + BACKOFF[1]
    assert reloaded(engine, message_id).next_attempt_at == second_retry
    assert deliver_due(engine, gateway, second_retry - timedelta(seconds=1)) == DeliveryResult()

    assert deliver_due(engine, gateway, second_retry) == DeliveryResult(sent=1)
    message = reloaded(engine, message_id)
    assert (message.status, message.attempts) == (MessageStatus.SENT, 3)
    assert message.sent_at == second_retry
    assert message.provider_ref == "gw-1"
    assert message.last_error is None
    assert gateway.accepted == {idempotency_key(message_id): "gw-1"}
    assert deliver_due(engine, gateway, second_retry + timedelta(days=1)) == DeliveryResult()


def test_a_gateway_that_keeps_failing_leaves_the_message_failed_after_max_attempts(
    engine, session, case
):
    message_id = queue(session, case)
    gateway = Gateway(failures=100)
    now = NOW
    for _ in range(2):
        assert deliver_due(engine, gateway, now, max_attempts=3) == DeliveryResult(retried=1)
        now = reloaded(engine, message_id).next_attempt_at

    assert deliver_due(engine, gateway, now, max_attempts=3) == DeliveryResult(failed=1)

    message = reloaded(engine, message_id)
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 3)
    assert message.last_error == "gateway down: 503"
    assert deliver_due(engine, gateway, now + timedelta(days=30)) == DeliveryResult()
    assert len(gateway.calls) == 3


def test_a_permanent_failure_fails_at_once(engine, session, case):
    message_id = queue(session, case, recipient="not-a-number")
    gateway = Gateway(failures=1, retryable=False)

    assert deliver_due(engine, gateway, NOW) == DeliveryResult(failed=1)
    assert reloaded(engine, message_id).attempts == 1


def test_an_unexpected_sender_error_is_retried_like_a_gateway_outage(engine, session, case):
    message_id = queue(session, case)

    class Broken(Gateway):
        def send(self, message: OutboundMessage, key: str) -> str:
            raise ConnectionResetError("connection reset by peer")

    assert deliver_due(engine, Broken(), NOW) == DeliveryResult(retried=1)
    message = reloaded(engine, message_id)
    assert message.status == MessageStatus.QUEUED
    assert message.last_error == "ConnectionResetError: connection reset by peer"


# --- crashes -----------------------------------------------------------------------------------


def test_a_crash_after_the_gateway_accepted_is_recovered_without_a_second_send(
    engine, session, case
):
    message_id = queue(session, case)
    crashing = CrashAfterAccepting()
    with pytest.raises(Crash):
        deliver_due(engine, crashing, NOW, sending_lease=LEASE)
    assert reloaded(engine, message_id).status == MessageStatus.SENDING

    restarted = Gateway()
    restarted.accepted = crashing.accepted  # the same gateway, seen from the new process
    assert deliver_due(engine, restarted, NOW + LEASE - timedelta(seconds=1)) == DeliveryResult()

    assert deliver_due(engine, restarted, NOW + LEASE, sending_lease=LEASE) == DeliveryResult(
        recovered=1
    )
    message = reloaded(engine, message_id)
    assert message.status == MessageStatus.SENT
    assert message.provider_ref == "gw-1"
    assert message.sent_at == NOW  # when the lost send was claimed
    assert message.attempts == 1
    assert restarted.calls == []
    assert crashing.calls == [idempotency_key(message_id)]


def test_a_crash_before_the_gateway_accepted_is_sent_again_with_the_same_key(engine, session, case):
    message_id = queue(session, case)
    with pytest.raises(Crash):
        deliver_due(engine, CrashBeforeAccepting(), NOW)

    restarted = Gateway()
    later = NOW + timedelta(minutes=10)
    assert deliver_due(engine, restarted, later) == DeliveryResult(sent=1, recovered=1)
    message = reloaded(engine, message_id)
    assert (message.status, message.attempts, message.sent_at) == (MessageStatus.SENT, 2, later)
    assert restarted.calls == [idempotency_key(message_id)]


def test_the_default_sender_resends_a_message_whose_send_was_never_recorded(engine, session, case):
    """The outbox table is the default sender's delivery: a row left SENDING was not
    delivered, so recovery sends it (and files its letter) again."""
    message_id = queue(session, case, channel="letter", subject="催告函", body=LETTER_BODY)
    with pytest.raises(Crash):
        deliver_due(engine, CrashBeforeAccepting(), NOW)

    sender = OutboxTableSender(engine, SETTINGS)
    assert sender.delivered(idempotency_key(message_id)) is None
    result = deliver_due(engine, sender, NOW + LEASE)

    assert result == DeliveryResult(sent=1, recovered=1)
    assert reloaded(engine, message_id).document is not None


# --- the compliance gate -----------------------------------------------------------------------


def test_the_compliance_gate_blocks_with_its_reason_and_nothing_is_sent(engine, session, case):
    blocked_id = queue(session, case, channel="sms")
    allowed_id = queue(session, case, channel="email", recipient="zhang.san@example.com")
    gateway = Gateway()
    seen: list[tuple[int, bool]] = []

    def outside_contact_hours(
        gate_session: Session, message: OutboundMessage, now: datetime
    ) -> str | None:
        seen.append((message.id, gate_session.get(CollectionCase, message.case_id) is not None))
        return (
            "SMS outside permitted contact hours (08:00-21:00)"
            if message.channel == "sms"
            else None
        )

    result = deliver_due(engine, gateway, NOW, gate=outside_contact_hours)

    assert result == DeliveryResult(sent=1, blocked=1)
    assert sorted(seen) == [(blocked_id, True), (allowed_id, True)]
    blocked = reloaded(engine, blocked_id)
    assert blocked.status == MessageStatus.BLOCKED
    assert blocked.last_error == "SMS outside permitted contact hours (08:00-21:00)"
    assert blocked.attempts == 0
    assert gateway.calls == [idempotency_key(allowed_id)]
    assert deliver_due(engine, gateway, NOW + timedelta(days=1)) == DeliveryResult()


def test_the_basic_gate_blocks_no_recipient_an_ended_case_and_a_case_on_hold(engine, session, case):
    nobody = queue(session, case, recipient=None)
    gateway = Gateway()
    assert deliver_due(engine, gateway, NOW, gate=basic_gate) == DeliveryResult(blocked=1)
    assert reloaded(engine, nobody).last_error == "no usable contact point for sms"
    case.on_hold = True
    session.commit()
    held = queue(session, case)
    deliver_due(engine, gateway, NOW, gate=basic_gate)
    assert reloaded(engine, held).last_error == "the case is on hold"
    case.on_hold, case.status = False, CaseStatus.CLOSED
    session.commit()
    ended = queue(session, case)
    deliver_due(engine, gateway, NOW, gate=basic_gate)
    assert reloaded(engine, ended).last_error == "the case is closed"
    assert gateway.calls == []


def test_a_retry_passes_the_gate_again(engine, session, case):
    message_id = queue(session, case)
    gateway = Gateway(failures=1)
    deliver_due(engine, gateway, NOW)

    def closed(_session: Session, _message: OutboundMessage, _now: datetime) -> str | None:
        return "case put on hold"

    assert deliver_due(engine, gateway, NOW + BACKOFF[0], gate=closed) == DeliveryResult(blocked=1)
    assert reloaded(engine, message_id).status == MessageStatus.BLOCKED
    assert len(gateway.calls) == 1


def test_a_gate_that_errors_holds_the_message_back(engine, session, case):
    message_id = queue(session, case)
    gateway = Gateway()

    def broken(_session: Session, _message: OutboundMessage, _now: datetime) -> str | None:
        raise LookupError("no contact window for region")

    assert deliver_due(engine, gateway, NOW, gate=broken) == DeliveryResult(retried=1)
    message = reloaded(engine, message_id)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 0)
    assert message.next_attempt_at > NOW
    assert "no contact window" in message.last_error
    assert gateway.calls == []


# --- several senders ---------------------------------------------------------------------------


@pytest.fixture
def second_engine(engine: Engine) -> Iterator[Engine]:
    """Another engine on the same database: another sender process."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    yield other
    other.dispose()


def test_two_senders_working_at_once_send_each_message_once(engine, second_engine, session, case):
    message_ids = [queue(session, case, body=f"提醒 {n}") for n in range(20)]
    gateway = Gateway()
    # Both senders must be mid-send together, so neither simply ran after the other.
    together = threading.Barrier(2, timeout=30)
    first_send = threading.local()

    class Meeting(Gateway):
        def send(self, message: OutboundMessage, key: str) -> str:
            if not getattr(first_send, "done", False):
                first_send.done = True
                together.wait()
            return gateway.send(message, key)

    errors: list[BaseException] = []
    results: list[DeliveryResult] = []

    def sender_process(process_engine: Engine) -> None:
        try:
            while (result := deliver_due(process_engine, Meeting(), NOW, batch=5)).claimed:
                results.append(result)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sender_process, args=(e,)) for e in (engine, second_engine)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(gateway.calls) == sorted(idempotency_key(i) for i in message_ids)
    assert sum(result.sent for result in results) == 20
    assert statuses(engine) == [MessageStatus.SENT] * 20


def test_messages_another_sender_is_claiming_are_skipped_not_waited_for(engine, session, case):
    if engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises claims with its writer lock")
    held_id = queue(session, case)
    free_id = queue(session, case)
    gateway = Gateway()
    results: list[DeliveryResult] = []
    with engine.connect() as other_claimer, other_claimer.begin():
        other_claimer.execute(
            text("SELECT id FROM outbound_message WHERE id = :id FOR UPDATE"), {"id": held_id}
        )
        # In a thread: a sender that waited for the lock would otherwise wait here for ever.
        worker = threading.Thread(target=lambda: results.append(deliver_due(engine, gateway, NOW)))
        worker.start()
        worker.join(timeout=30)
        waited = worker.is_alive()
    worker.join()
    assert not waited
    assert results == [DeliveryResult(sent=1)]
    assert gateway.calls == [idempotency_key(free_id)]
    assert reloaded(engine, held_id).status == MessageStatus.QUEUED


# --- the process loop --------------------------------------------------------------------------


def test_run_sender_once_drains_what_is_due_and_returns(engine, session, case):
    for n in range(3):
        queue(session, case, body=f"提醒 {n}")
    gateway = Gateway()

    run_sender(engine, gateway, once=True)

    assert len(gateway.calls) == 3
    assert statuses(engine) == [MessageStatus.SENT] * 3


def test_run_sender_stops_when_asked(engine, session, case):
    queue(session, case)
    stop = threading.Event()
    stop.set()
    gateway = Gateway()

    run_sender(engine, gateway, stop=stop, poll_seconds=0.01)

    assert gateway.calls == []
