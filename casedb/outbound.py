"""The outbound message queue: SMS, e-mail, app pushes and letters, each delivered at most once.

Path steps queue ``outbound_message`` rows; :func:`deliver_due` hands the due ones to a pluggable
:class:`Sender` (``config.OUTBOUND_SENDER``, "module:Class"). The default,
:class:`OutboxTableSender`, treats the table itself as the outbox that channel integrations
read, and renders and files a DOCX for a letter. Every message passes the compliance gate just
before it is sent, retries included, so a retry never goes out at an hour the gate refuses.

At most once, even with a gateway that fails or a process that dies mid-send:

1. *Recover*: a message left SENDING longer than the lease belongs to a sender that died between
   handing it over and recording the result. The sender is asked whether that message's
   idempotency key (``outbound-<id>``) was delivered: if so it is SENT with the sender's
   reference and no second send; if not it goes back to QUEUED, due now, and step 2 sends it
   again *with the same key*, so a gateway that did take it can still drop the duplicate.
2. *Claim*: due QUEUED messages are taken in one transaction (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so two senders take different messages; SQLite has one writer), the gate runs,
   refused ones become BLOCKED with the reason, the rest SENDING with ``attempts + 1``. That
   commits *before* anything is sent, so no other sender takes them.
3. *Send* each message outside any transaction.
4. *Record* each result in its own transaction: SENT with ``sent_at`` and ``provider_ref``; a
   failure goes back to QUEUED after the :data:`BACKOFF` wait, or becomes FAILED after
   ``max_attempts`` or at once for a permanent failure (``SendFailed(retryable=False)``).

While a message is SENDING its ``next_attempt_at`` holds the time it was claimed (the lease runs
from there); while QUEUED, the time it falls due. Messages are never deleted; every status
change is an ORM update in a session acting as ``outbound``, so the audit trail records it.
Time is the injected ``now``; nothing here sleeps except :func:`run_sender` between polls.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import config
from casedb.letters import letter_file_name, render_letter
from casedb.models import (
    OPEN_STATUSES,
    CollectionCase,
    Customer,
    MessageStatus,
    OutboundMessage,
)
from casedb.session import transaction
from casedb.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_SENDER = "casedb.outbound:OutboxTableSender"
# Who the audit trail says changed a message's status.
ACTOR = "outbound"
# Wait before the next try after the 1st, 2nd, 3rd, 4th and later failures: a gateway that
# blips is retried within the minute, one that is down for the afternoon is not hammered.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=60),
    timedelta(minutes=240),
)
_KEY_PREFIX = "outbound-"
_MAX_ERROR = 2000


class SendFailed(Exception):  # noqa: N818  (reads as the domain says it)
    """The sender could not deliver: ``retryable`` for a gateway that is down or busy, not for
    a message it will never take (an invalid number, a refused address)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Sender(Protocol):
    """Delivers outbound messages on some channel.

    ``send`` returns the provider's reference; it must treat ``key`` as an idempotency key (a
    second send with the same key delivers nothing new), because after a crash the same message
    is sent again with the same key when ``delivered`` cannot confirm it. ``delivered`` returns
    the reference of a delivery made under ``key``, or None if there was none.
    """

    name: str

    def send(self, message: OutboundMessage, key: str) -> str: ...

    def delivered(self, key: str) -> str | None: ...


@dataclass(frozen=True)
class Hold:
    """The gate's "not now": the message waits, queued, until ``until`` and is asked again."""

    reason: str
    until: datetime


# The compliance gate: asked with the moment of sending; the reason a message must never go
# out, a ``Hold`` for one that must wait, or None to let it through.
Gate = Callable[[Session, OutboundMessage, datetime], "str | Hold | None"]


@dataclass
class DeliveryResult:
    """What one :func:`deliver_due` pass did. ``recovered`` counts messages found stuck in
    SENDING and resolved (found delivered, or queued again and then counted as sent, retried
    or failed too)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    recovered: int = 0
    # Held by the gate until a later time (quiet hours, a daily cap) and still queued.
    held: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.blocked + self.held


def idempotency_key(message_id: int) -> str:
    return f"{_KEY_PREFIX}{message_id}"


def message_id_of(key: str) -> int | None:
    """The message an idempotency key names, or None for a key that is not ours."""
    number = key.removeprefix(_KEY_PREFIX)
    return int(number) if key.startswith(_KEY_PREFIX) and number.isdigit() else None


def backoff(attempts: int) -> timedelta:
    """The wait before the next try of a message that has failed ``attempts`` times."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


class OutboxTableSender:
    """The default sender: the ``outbound_message`` table is the outbox channel integrations
    read (a SENT row is one for them to pick up), and a letter is rendered as DOCX and filed in
    the message's ``document``.

    Its delivery *is* the SENT commit, so ``delivered`` answers from the table: a message left
    SENDING by a crash was not delivered and is sent again. A letter is dated the day it was
    claimed (``next_attempt_at`` while SENDING) in ``DEFAULT_TIMEZONE``.
    """

    name = "outbox"

    def __init__(self, engine: Engine, settings: Mapping[str, str] | None = None) -> None:
        self.engine = engine
        self.settings = (
            settings
            if settings is not None
            else {
                "LENDER_NAME": config.LENDER_NAME,
                "COLLECTION_HOTLINE": config.COLLECTION_HOTLINE,
            }
        )

    def send(self, message: OutboundMessage, key: str) -> str:
        if message.channel != "letter":
            return f"outbox:{message.id}"
        with Session(self.engine) as session:
            addressee = session.execute(
                select(CollectionCase.case_no, Customer.name)
                .join(Customer, Customer.id == CollectionCase.customer_id)
                .where(CollectionCase.id == message.case_id)
            ).one()
        day = message.next_attempt_at.astimezone(ZoneInfo(config.DEFAULT_TIMEZONE)).date()
        message.document = render_letter(
            subject=message.subject or "",
            body=message.body,
            case_no=addressee.case_no,
            customer_name=addressee.name,
            language=message.language,
            lender_name=self.settings.get("LENDER_NAME", ""),
            today=day,
        )
        message.document_name = letter_file_name(addressee.case_no, message.id, day)
        return message.document_name

    def delivered(self, key: str) -> str | None:
        message_id = message_id_of(key)
        if message_id is None:
            return None
        with Session(self.engine) as session:
            return session.scalar(
                select(OutboundMessage.provider_ref).where(
                    OutboundMessage.id == message_id,
                    OutboundMessage.status == MessageStatus.SENT,
                )
            )


def load_sender(spec: str, **kwargs: Any) -> Sender:
    """The sender ``spec`` ("package.module:Class") names, built with ``kwargs``.

    Entry points pass ``engine=`` (and the default takes ``settings=``); a sender of one's own
    takes the keywords it needs and ``**kwargs`` for the rest.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"sender {spec!r} is not of the form 'package.module:Class'")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if factory is None:
        raise ValueError(f"sender {spec!r}: {module_name} has no {attribute}")
    sender = factory(**kwargs)
    if not isinstance(sender, Sender):
        raise TypeError(f"sender {spec!r} has no name, send() and delivered()")
    return sender


def basic_gate(session: Session, message: OutboundMessage, now: datetime) -> str | None:
    """The checks every message passes whatever the compliance rules say: someone to send it
    to, and a case still open and not on hold (a case paid off overnight gets no reminder)."""
    if not message.recipient:
        return f"no usable contact point for {message.channel}"
    case = session.get(CollectionCase, message.case_id)
    if case is None or case.status not in OPEN_STATUSES:
        return f"the case is {case.status.value if case else 'gone'}"
    if case.on_hold:
        return "the case is on hold"
    return None


def deliver_due(
    engine: Engine,
    sender: Sender,
    now: datetime,
    *,
    gate: Gate | None = None,
    batch: int = 100,
    max_attempts: int = 5,
    sending_lease: timedelta = timedelta(minutes=10),
) -> DeliveryResult:
    """Deliver up to ``batch`` messages due at ``now``, first resolving those a dead sender left
    SENDING for longer than ``sending_lease`` (which must exceed the time a send can take)."""
    result = DeliveryResult()
    _recover(engine, sender, now, now - sending_lease, batch, result)
    for message in _claim(engine, now, gate, batch, result):
        key = idempotency_key(message.id)
        try:
            reference = sender.send(message, key)
        except SendFailed as error:
            _record_failure(engine, message, now, str(error), error.retryable, max_attempts, result)
        except Exception as error:  # an unexpected error is a gateway problem until shown not
            log.exception("outbound: %s failed on message %s", sender.name, message.id)
            text = f"{type(error).__name__}: {error}"
            _record_failure(engine, message, now, text, True, max_attempts, result)
        else:
            # Not caught above: if recording fails the message stays SENDING and recovery asks
            # the sender, rather than this pass counting a delivered message as failed.
            _record_sent(engine, message, reference, now)
            result.sent += 1
    if result.claimed or result.recovered:
        log.info("outbound: %s via %s", result, sender.name)
    return result


def run_sender(
    engine: Engine,
    sender: Sender,
    *,
    once: bool = False,
    poll_seconds: float = 5.0,
    stop: threading.Event | None = None,
    gate: Gate | None = None,
) -> None:
    """Deliver due messages until ``stop`` is set (or, with ``once``, until none is due): a
    full batch is followed at once by the next, otherwise the loop waits ``poll_seconds``."""
    stop = stop or threading.Event()
    batch = 100
    while not stop.is_set():
        try:
            result = deliver_due(engine, sender, utcnow(), gate=gate, batch=batch)
        except Exception:  # the database or the gate is down: try again after the poll
            log.exception("outbound: delivery pass failed")
            if once:
                raise
            stop.wait(poll_seconds)
            continue
        if result.claimed >= batch:
            continue
        if once:
            return
        stop.wait(poll_seconds)


# --- the steps -------------------------------------------------------------------------------


def _writing(session: Session) -> None:
    """Take SQLite's writer lock at BEGIN, so two claimers cannot read the same QUEUED rows."""
    session.info["actor"] = ACTOR
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_immediate": True})


def _due(query: Any, session: Session, batch: int) -> Any:
    query = query.order_by(OutboundMessage.next_attempt_at, OutboundMessage.id).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def _recover(
    engine: Engine,
    sender: Sender,
    now: datetime,
    claimed_before: datetime,
    batch: int,
    result: DeliveryResult,
) -> None:
    """Resolve messages claimed before ``claimed_before`` and still SENDING."""
    with transaction(engine) as session:
        _writing(session)
        stuck = list(
            session.scalars(
                _due(
                    select(OutboundMessage).where(
                        OutboundMessage.status == MessageStatus.SENDING,
                        OutboundMessage.next_attempt_at <= claimed_before,
                    ),
                    session,
                    batch,
                )
            )
        )
        # Claimed anew for the recovery (a second recoverer finds them fresh, not stuck),
        # remembering when the lost send was claimed: the best guess of when it went out.
        first_claims = {message.id: message.next_attempt_at for message in stuck}
        for message in stuck:
            message.next_attempt_at = now
    for message in stuck:
        key = idempotency_key(message.id)
        try:
            reference = sender.delivered(key)
        except Exception:  # cannot tell: leave it SENDING and ask again after the lease
            log.exception("outbound: %s cannot say whether %s was delivered", sender.name, key)
            continue
        with transaction(engine) as session:
            _writing(session)
            row = session.get(OutboundMessage, message.id, with_for_update=True)
            if row is None or row.status != MessageStatus.SENDING or row.next_attempt_at != now:
                continue  # resolved by someone else meanwhile
            if reference is not None:
                row.status = MessageStatus.SENT
                row.sent_at = first_claims[message.id]
                row.provider_ref = reference[:128]
                row.last_error = None
            else:
                row.status = MessageStatus.QUEUED
                row.last_error = (
                    f"{sender.name} has no delivery under {key} after the send was interrupted;"
                    " sending again with the same key"
                )
        result.recovered += 1


def _claim(
    engine: Engine, now: datetime, gate: Gate | None, batch: int, result: DeliveryResult
) -> list[OutboundMessage]:
    """Take the due QUEUED messages: gate them, and mark the ones let through SENDING."""
    with transaction(engine) as session:
        _writing(session)
        due = session.scalars(
            _due(
                select(OutboundMessage).where(
                    OutboundMessage.status == MessageStatus.QUEUED,
                    OutboundMessage.next_attempt_at <= now,
                ),
                session,
                batch,
            )
        ).all()
        claimed = []
        for message in due:
            try:
                reason = gate(session, message, now) if gate is not None else None
            except Exception as error:  # fail closed: not sent, asked again after a wait
                log.exception("outbound: the compliance gate failed on message %s", message.id)
                message.next_attempt_at = now + backoff(1)
                message.last_error = f"compliance gate failed: {type(error).__name__}: {error}"
                result.retried += 1
                continue
            if isinstance(reason, Hold):
                message.next_attempt_at = reason.until
                message.last_error = reason.reason[:_MAX_ERROR]
                result.held += 1
                continue
            if reason is not None:
                message.status = MessageStatus.BLOCKED
                message.last_error = reason[:_MAX_ERROR]
                result.blocked += 1
                continue
            message.status = MessageStatus.SENDING
            message.attempts += 1
            message.next_attempt_at = now
            claimed.append(message)
    return claimed


def _record_sent(engine: Engine, message: OutboundMessage, reference: str, now: datetime) -> None:
    with transaction(engine) as session:
        _writing(session)
        row = session.get(OutboundMessage, message.id, with_for_update=True)
        if row is None or row.status == MessageStatus.SENT:
            return
        # Whatever happened to it meanwhile (recovery re-queued it), it went out: say so.
        row.status = MessageStatus.SENT
        row.sent_at = now
        row.provider_ref = reference[:128]
        row.last_error = None
        if message.document is not None:
            # The trail records the letter's digest, not its bytes (audit.jsonable).
            row.document_name = message.document_name
            row.document = message.document


def _record_failure(
    engine: Engine,
    message: OutboundMessage,
    now: datetime,
    error: str,
    retryable: bool,
    max_attempts: int,
    result: DeliveryResult,
) -> None:
    with transaction(engine) as session:
        _writing(session)
        row = session.get(OutboundMessage, message.id, with_for_update=True)
        if row is None or row.status != MessageStatus.SENDING:
            return  # recovered and resolved by another sender meanwhile
        row.last_error = error[:_MAX_ERROR]
        if retryable and row.attempts < max_attempts:
            row.status = MessageStatus.QUEUED
            row.next_attempt_at = now + backoff(row.attempts)
            result.retried += 1
        else:
            row.status = MessageStatus.FAILED
            result.failed += 1
