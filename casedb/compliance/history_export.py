"""A case's or the portfolio's contact history in the replay format, for auditors to replay.

Written as it is read (contacts in time order, a few thousand rows at a time), so exporting the
whole portfolio needs no more memory than exporting one case. Numbers and names stay out: a
contact's target is the contact point's or contact person's id, never the number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

import config
from casedb.compliance.contact_gate import REPLAY_OUTCOMES, target_of
from casedb.compliance.events import LENDER
from casedb.models import (
    CollectionCase,
    Collector,
    ContactAttempt,
    Customer,
    DebtorInstruction,
    Team,
)


def _scoped(statement: Select, case_ids: list[int] | None) -> Select:
    return statement if case_ids is None else statement.where(CollectionCase.id.in_(case_ids))


def _debtors(session: Session, case_ids: list[int] | None) -> Iterator[dict[str, Any]]:
    rows = session.execute(
        _scoped(
            select(Customer.customer_no, Customer.timezone, Customer.region)
            .join(CollectionCase, CollectionCase.customer_id == Customer.id)
            .distinct()
            .order_by(Customer.customer_no),
            case_ids,
        )
    )
    for customer_no, timezone, region in rows:
        yield {
            "id": customer_no,
            "locations": [timezone or config.DEFAULT_TIMEZONE],
            "region": region,
        }


def _contacts(session: Session, case_ids: list[int] | None) -> Iterator[dict[str, Any]]:
    statement = _scoped(
        select(
            ContactAttempt.attempt_no,
            Customer.customer_no,
            CollectionCase.case_no,
            ContactAttempt.channel,
            ContactAttempt.party,
            ContactAttempt.direction,
            ContactAttempt.started_at,
            ContactAttempt.outcome,
            ContactAttempt.contact_point_id,
            ContactAttempt.third_party_contact_id,
            ContactAttempt.notes,
            Team.agency,
        )
        .join(CollectionCase, CollectionCase.id == ContactAttempt.case_id)
        .join(Customer, Customer.id == ContactAttempt.customer_id)
        .outerjoin(Collector, Collector.id == ContactAttempt.collector_id)
        .outerjoin(Team, Team.id == Collector.team_id)
        .order_by(ContactAttempt.started_at, ContactAttempt.id),
        case_ids,
    )
    for row in session.execute(statement.execution_options(yield_per=2000)):
        channel = row.channel.value
        yield {
            "id": row.attempt_no,
            "type": "contact",
            "debtor": row.customer_no,
            "debts": [row.case_no],
            "channel": "sms" if channel == "app_push" else channel,
            "party": row.party.value,
            "direction": row.direction.value,
            "agent": row.agency or LENDER,
            "at": row.started_at.isoformat(),
            "outcome": REPLAY_OUTCOMES.get(row.outcome, "delivered"),
            "to": target_of(row.contact_point_id, row.third_party_contact_id),
            "text": row.notes or "",
        }


def _instructions(session: Session, case_ids: list[int] | None) -> Iterator[dict[str, Any]]:
    statement = select(DebtorInstruction, Customer.customer_no, CollectionCase.case_no).join(
        Customer, Customer.id == DebtorInstruction.customer_id
    )
    if case_ids is None:
        statement = statement.outerjoin(
            CollectionCase, CollectionCase.id == DebtorInstruction.case_id
        )
    else:
        customers = select(CollectionCase.customer_id).where(CollectionCase.id.in_(case_ids))
        statement = statement.outerjoin(
            CollectionCase, CollectionCase.id == DebtorInstruction.case_id
        ).where(DebtorInstruction.customer_id.in_(customers))
    for row, customer_no, case_no in session.execute(statement):
        event: dict[str, Any] = {
            "id": f"instruction-{row.id}",
            "type": row.kind,
            "debtor": customer_no,
            "at": row.given_at.isoformat(),
        }
        if case_no:
            event["debts"] = [case_no]
        for name, value in (("channel", row.channel), ("party", row.party), ("allows", row.allows)):
            if value:
                event[name] = value
        if row.consent_for is not None:
            event["for"] = row.consent_for.isoformat()
        if target := target_of(row.contact_point_id, row.third_party_contact_id):
            event["to"] = target
        yield event


def _merged(
    contacts: Iterator[dict[str, Any]], instructions: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Contacts (already in time order) with the few instructions slotted in by time."""
    pending = sorted(instructions, key=lambda event: event["at"])
    for contact in contacts:
        while pending and pending[0]["at"] <= contact["at"]:
            yield pending.pop(0)
        yield contact
    yield from pending


def write_history(
    session: Session, out: TextIO, *, policy: str, case_ids: list[int] | None = None
) -> int:
    """Write the history of ``case_ids`` (None: every case) to ``out``; returns the number of
    events written."""
    out.write(json.dumps({"policy": policy})[:-1])
    out.write(', "debtors": [')
    for position, debtor in enumerate(_debtors(session, case_ids)):
        out.write(("," if position else "") + "\n  " + json.dumps(debtor, ensure_ascii=False))
    out.write('\n ],\n "events": [')
    written = 0
    instructions = list(_instructions(session, case_ids))
    for event in _merged(_contacts(session, case_ids), instructions):
        out.write(("," if written else "") + "\n  " + json.dumps(event, ensure_ascii=False))
        written += 1
    out.write("\n ]}\n")
    return written
