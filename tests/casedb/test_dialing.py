"""Dialling: the full number only for a callable phone of the case's customer, always audited."""

import pytest
from sqlalchemy import select

from casedb.dialing import DialRefused, number_to_dial
from casedb.models import AuditEntry, CollectionCase, ContactPoint


@pytest.fixture
def phones(portfolio, run_import, session):
    run_import(
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value", "ceased", "consent"],
            ["P1", "C1", "mobile", "+86 138 1234 5678", "", "granted"],
            ["P2", "C1", "mobile", "13900001111", "true", ""],
            ["P3", "C1", "email", "zhang@example.cn", "", ""],
            ["P4", "C2", "mobile", "13700002222", "", ""],
            ["P5", "C1", "home_phone", "010-66668888", "", "withdrawn"],
        ],
    )
    points = {p.contact_point_no: p.id for p in session.scalars(select(ContactPoint))}
    case = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
    return case, points


def test_dialling_gives_the_full_number_and_records_who_saw_it(phones, session):
    case, points = phones
    number = number_to_dial(session, case, points["P1"], actor="collector1")
    session.commit()
    assert number.replace(" ", "").endswith("13812345678")
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "reveal"))
    assert (entry.actor, entry.table_name, entry.row_id) == (
        "collector1",
        "contact_point",
        str(points["P1"]),
    )
    assert entry.after == {"purpose": "dial", "case_no": "K1", "value_masked": "138****5678"}
    assert "12345678" not in str(entry.after)


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        ("P2", "asked for contact on this number to cease"),
        ("P3", "a email is not a phone number"),
        ("P4", "not the case's customer's"),
        ("P5", "withdrew consent"),
    ],
)
def test_a_number_that_may_not_be_called_is_refused_and_nothing_is_revealed(
    phones, session, point, reason
):
    case, points = phones
    with pytest.raises(DialRefused, match=reason):
        number_to_dial(session, case, points[point], actor="collector1")
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "reveal")) is None
