"""Finding cases the way a collector asks for them: by name, phone, ID number, case or loan number.

Phone and ID numbers are matched by keyed digest, never by the stored number, so the search needs
the whole number; names match by substring; case and loan numbers by prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, case, or_, select
from sqlalchemy.orm import Session

from casedb import pii
from casedb.models import OPEN_STATUSES, CollectionCase, ContactPoint, Customer, Loan

_ID_NUMBER = re.compile(r"^\d{15}$|^\d{17}[\dXx]$")
_PHONE = re.compile(r"^\+?[\d\s-]{7,20}$")


@dataclass(frozen=True)
class CaseHit:
    case_id: int
    case_no: str
    status: str
    dpd: int
    bucket: str
    customer_name: str
    id_number_masked: str | None
    loan_no: str
    matched_on: str


def find_cases(session: Session, text: str, limit: int = 20) -> list[CaseHit]:
    text = text.strip()
    if not text:
        return []
    conditions = [
        (CollectionCase.case_no.startswith(text, autoescape=True), "case_no"),
        (Loan.loan_no.startswith(text, autoescape=True), "loan_no"),
        (Customer.customer_no == text, "customer_no"),
        (Customer.name.contains(text, autoescape=True), "name"),
    ]
    if _ID_NUMBER.match(text):
        conditions.append((Customer.id_number_digest == pii.id_number_digest(text), "id_number"))
    if _PHONE.match(text):
        phone_owners = select(ContactPoint.customer_id).where(
            ContactPoint.value_digest == pii.phone_digest(text)
        )
        conditions.append((Customer.id.in_(phone_owners), "phone"))
    matched_on = case(*[(cond, label) for cond, label in conditions], else_="")
    statement: Select = (
        select(
            CollectionCase.id,
            CollectionCase.case_no,
            CollectionCase.status,
            CollectionCase.dpd,
            CollectionCase.bucket,
            Customer.name,
            Customer.id_number_masked,
            Loan.loan_no,
            matched_on,
        )
        .join(Customer, CollectionCase.customer_id == Customer.id)
        .join(Loan, CollectionCase.loan_id == Loan.id)
        .where(or_(*[cond for cond, _ in conditions]))
        .order_by(
            CollectionCase.status.in_(OPEN_STATUSES).desc(),
            CollectionCase.dpd.desc(),
            CollectionCase.id,
        )
        .limit(limit)
    )
    return [CaseHit(*row[:2], str(row[2]), *row[3:]) for row in session.execute(statement)]
