"""Days past due, buckets and the business (as-of) date they are measured at."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

import config
from casedb.models import SystemSetting

BUSINESS_DATE_KEY = "business_date"


def bucket_for(dpd: int, edges: Sequence[int] | None = None) -> str:
    """M0 for current, M1 up to the first edge (30), ... and ``M4+`` beyond the last edge."""
    edges = edges or config.BUCKET_EDGES
    if dpd <= 0:
        return "M0"
    for index, edge in enumerate(edges, start=1):
        if dpd <= edge:
            return f"M{index}"
    return f"M{len(edges) + 1}+"


def bucket_labels(edges: Sequence[int] | None = None) -> list[str]:
    edges = edges or config.BUCKET_EDGES
    return ["M0", *(f"M{i}" for i in range(1, len(edges) + 1)), f"M{len(edges) + 1}+"]


def business_date(session: Session) -> date:
    """The as-of date of the daily run: the configured override, else the stored one, else today."""
    forced = config.business_date_override()
    if forced is not None:
        return forced
    stored = session.get(SystemSetting, BUSINESS_DATE_KEY)
    return date.fromisoformat(stored.value) if stored else date.today()


def set_business_date(session: Session, value: date) -> None:
    setting = session.get(SystemSetting, BUSINESS_DATE_KEY)
    if setting is None:
        session.add(SystemSetting(key=BUSINESS_DATE_KEY, value=value.isoformat()))
    else:
        setting.value = value.isoformat()
