"""Collectors find a case by name, phone, ID number, case number or loan number."""

import pytest

from casedb.search import find_cases


@pytest.fixture
def searchable(run_import, portfolio):
    run_import(
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value"],
            ["CP1", "C1", "mobile", "+86 138-1234-5678"],
        ],
    )


@pytest.mark.parametrize(
    ("text", "matched_on"),
    [
        ("K1", "case_no"),
        ("L1", "loan_no"),
        ("张", "name"),
        ("13812345678", "phone"),
        ("138 1234 5678", "phone"),
        ("110101199003071234", "id_number"),
    ],
)
def test_a_case_is_found_by_what_the_collector_knows(searchable, session, text, matched_on):
    hits = find_cases(session, text)
    assert [(h.case_no, h.matched_on) for h in hits] == [("K1", matched_on)]
    assert hits[0].id_number_masked == "110101********1234"
    assert hits[0].customer_name == "张三"


def test_part_of_a_phone_or_id_number_finds_nothing(searchable, session):
    assert find_cases(session, "12345678") == []
    assert find_cases(session, "1101011990") == []
    assert find_cases(session, "  ") == []
