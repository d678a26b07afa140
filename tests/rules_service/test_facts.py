"""The fact catalogue and the normalisation every value passes before a table sees it."""

from datetime import date, datetime
from decimal import Decimal

import pytest

from casedb.delinquency import bucket_labels
from casedb.models import CaseStatus, Product
from rules_service.facts import FACTS, FactError, FactType, normalise_facts, plain_number

BRIEFED_FACTS = {
    "dpd": FactType.INTEGER,
    "bucket": FactType.ENUM,
    "overdue_amount": FactType.NUMBER,
    "outstanding_balance": FactType.NUMBER,
    "principal": FactType.NUMBER,
    "product": FactType.ENUM,
    "region": FactType.TEXT,
    "risk_level": FactType.ENUM,
    "customer_age": FactType.INTEGER,
    "broken_promises": FactType.INTEGER,
    "consecutive_missed_installments": FactType.INTEGER,
    "payment_ratio_vs_history": FactType.NUMBER,
    "rating_change": FactType.INTEGER,
    "credit_score": FactType.INTEGER,
    "days_since_last_contact": FactType.INTEGER,
    "right_party_contacts_30d": FactType.INTEGER,
    "on_hold": FactType.BOOLEAN,
    "status": FactType.ENUM,
    "ab_bucket": FactType.INTEGER,
    "opened_on": FactType.DATE,
}


def test_the_catalogue_declares_every_fact_the_policy_needs_with_both_languages():
    for name, fact_type in BRIEFED_FACTS.items():
        assert FACTS[name].type is fact_type, name
    for fact in FACTS.values():
        assert fact.en and fact.zh, fact.name
    assert FACTS["bucket"].values == tuple(bucket_labels())
    assert set(FACTS["product"].values) == {p.value for p in Product}
    assert set(FACTS["status"].values) == {s.value for s in CaseStatus}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("dpd", 120, 120),
        ("dpd", "120", 120),
        ("dpd", " 45 ", 45),
        ("dpd", 45.0, 45),
        ("dpd", Decimal("45.00"), 45),
        ("overdue_amount", Decimal("1200.50"), 1200.5),
        ("overdue_amount", 120, 120.0),
        ("overdue_amount", "0.00001", 0.00001),
        ("payment_ratio_vs_history", 0.5, 0.5),
        ("on_hold", True, True),
        ("on_hold", 0, False),
        ("on_hold", "TRUE", True),
        ("on_hold", "false", False),
        ("opened_on", date(2025, 1, 31), date(2025, 1, 31)),
        ("opened_on", "2025-01-31", date(2025, 1, 31)),
        ("status", CaseStatus.LEGAL, "legal"),
        ("status", "legal", "legal"),
        ("product", Product.CASH_LOAN, "cash_loan"),
        ("region", "北京", "北京"),
        ("region", 110000, "110000"),
        ("region", "", ""),
        ("dpd", None, None),
        ("on_hold", None, None),
    ],
)
def test_values_are_normalised_to_the_declared_type(name, raw, expected):
    value = normalise_facts({name: raw})[name]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("dpd", True, "a boolean is not an integer"),
        ("dpd", 45.5, "not a whole number"),
        ("dpd", "45.5", "not a whole number"),
        ("dpd", "forty", "not an integer"),
        ("dpd", "", "not an integer"),
        ("dpd", 2**60, "±2**53"),
        ("dpd", [45], "expected an integer, not list"),
        ("overdue_amount", False, "a boolean is not a number"),
        ("overdue_amount", "1,200.50", "not a number"),
        ("overdue_amount", float("nan"), "finite"),
        ("overdue_amount", "inf", "finite"),
        ("overdue_amount", 1e16, "finite and below"),
        ("on_hold", "yes", "expected true or false"),
        ("on_hold", 2, "expected true or false"),
        ("opened_on", datetime(2025, 1, 31, 8, 0), "not a date and time"),
        ("opened_on", "31/01/2025", "YYYY-MM-DD"),
        ("opened_on", 20250131, "expected a date"),
        ("bucket", "M9", "expected one of M0, M1, M2, M3, M4+"),
        ("risk_level", "high", "expected one of LOW, MEDIUM, HIGH"),
        ("region", 1.5, "expected text"),
        ("region", "\ud800", "not valid Unicode"),
    ],
)
def test_values_that_cannot_be_normalised_are_refused_naming_the_fact_and_value(name, raw, reason):
    with pytest.raises(FactError) as caught:
        normalise_facts({name: raw})
    assert reason in str(caught.value)
    assert f"fact {name!r}" in str(caught.value)
    assert caught.value.fact == name
    assert caught.value.value == raw or raw != raw  # NaN is not equal to itself


def test_an_unknown_fact_is_refused_rather_than_ignored():
    with pytest.raises(FactError, match="'dpdd': no such fact in the catalogue"):
        normalise_facts({"dpdd": 45}, ["dpd"])


def test_only_the_named_facts_are_returned_and_missing_ones_are_none():
    assert normalise_facts({"dpd": "5", "region": "广东"}, ["dpd", "on_hold"]) == {
        "dpd": 5,
        "on_hold": None,
    }


@pytest.mark.parametrize(
    ("number", "text"),
    [(120.0, "120"), (0.5, "0.5"), (1e-05, "0.00001"), (1.5e-07, "0.00000015"), (-3, "-3")],
)
def test_numbers_are_written_without_exponents(number, text):
    assert plain_number(number) == text
    assert float(text) == number
