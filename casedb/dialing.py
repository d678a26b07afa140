"""Placing a call: the one way a full phone number leaves the case database, and it is audited.

Lists, pages and the API show numbers masked. A collector who dials gets the number of one
contact point of a case they may work, if that number may be called at all (not ceased, opted
out, invalid, or without consent), and the trail records who saw which number for which case.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.audit import Change, append
from casedb.models import CollectionCase, Consent, ContactPoint
from casedb.models.customers import PHONE_KINDS


class DialRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """This number may not be called; the message says why."""


def callable_reason(point: ContactPoint) -> str | None:
    """Why ``point`` may not be dialled, or None if it may."""
    if point.kind not in PHONE_KINDS:
        return f"a {point.kind.value} is not a phone number"
    if point.ceased:
        return "the debtor asked for contact on this number to cease"
    if point.opted_out:
        return "the debtor opted out of contact on this number"
    if point.invalid:
        return "the number is marked invalid"
    if point.consent is Consent.WITHDRAWN:
        return "the debtor withdrew consent for this number"
    return None


def number_to_dial(
    session: Session, case: CollectionCase, contact_point_id: int, actor: str
) -> str:
    """The full number of one of the case's customer's phones, recorded as revealed to ``actor``."""
    point = session.scalar(
        select(ContactPoint).where(
            ContactPoint.id == contact_point_id, ContactPoint.customer_id == case.customer_id
        )
    )
    if point is None:
        raise DialRefused("this contact point is not the case's customer's")
    if reason := callable_reason(point):
        raise DialRefused(reason)
    append(
        session,
        [
            Change(
                actor,
                "reveal",
                ContactPoint.__tablename__,
                str(point.id),
                None,
                {"purpose": "dial", "case_no": case.case_no, "value_masked": point.value_masked},
            )
        ],
    )
    return point.value
