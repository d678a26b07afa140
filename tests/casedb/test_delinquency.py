"""DPD buckets follow the configured edges; the business date is the system's as-of date."""

from datetime import date

import pytest

import config
from casedb.delinquency import bucket_for, bucket_labels, business_date, set_business_date


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M4+")],
)
def test_default_buckets(dpd, bucket):
    assert bucket_for(dpd) == bucket


def test_bucket_edges_are_configurable():
    assert bucket_for(45, edges=(15, 30, 60, 90, 180)) == "M3"
    assert bucket_for(400, edges=(15, 30, 60, 90, 180)) == "M6+"
    assert bucket_labels((30, 60)) == ["M0", "M1", "M2", "M3+"]


def test_business_date_is_stored_and_can_be_forced(session, monkeypatch):
    set_business_date(session, date(2005, 9, 30))
    session.commit()
    assert business_date(session) == date(2005, 9, 30)
    monkeypatch.setattr(config, "BUSINESS_DATE", "2006-01-31")
    assert business_date(session) == date(2006, 1, 31)
