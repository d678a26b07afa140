"""Merge fields: what a script, SMS, e-mail or letter template may say about a case.

Templates use ``{field}`` placeholders (Python format syntax, so ``{{`` is a literal brace). The
fields are a closed list: a template naming anything else is refused when it is saved, with the
field's name, rather than sending "Dear {custmer_name}" to a million customers. Amounts are
formatted with two decimals and the case's currency; dates as ISO dates.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

# Field → what it is (shown to analysts in the path editor).
MERGE_FIELDS: dict[str, str] = {
    "customer_name": "the debtor's name",
    "case_no": "the collection case number",
    "loan_no": "the loan (contract) number",
    "currency": "the case's currency code (CNY)",
    "overdue_amount": "principal, interest and fees overdue",
    "outstanding_balance": "the balance outstanding on the loan",
    "dpd": "days past due",
    "bucket": "the delinquency bucket (M1, M2, ...)",
    "today": "the date the message is produced",
    "due_date": "the date the step falls due",
    "promise_amount": "the amount of the pending promise to pay (blank without one)",
    "promise_date": "the date of the pending promise to pay (blank without one)",
    "collector_name": "the assigned collector's name (blank if unassigned)",
    "lender_name": "the lender's name (setting LENDER_NAME)",
    "hotline": "the collection hotline (setting COLLECTION_HOTLINE)",
}


class TemplateError(ValueError):
    """A template that cannot be rendered: an unknown field or broken braces, named."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def fields_of(template: str) -> list[str]:
    """The merge fields ``template`` names, in order; raises ``TemplateError`` for broken
    braces, positional ``{}`` fields, attribute or index access and unknown fields."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise TemplateError(f"the template's braces do not pair up: {error}") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name:
            raise TemplateError("an empty placeholder {} names no field", field="")
        if spec or conversion:
            # Values are already formatted text: a spec would fail when the message is sent
            # (or hide another placeholder inside it).
            raise TemplateError(
                f"{{{name}}} takes no format (:{spec}) or conversion; write just {{{name}}}",
                field=name,
            )
        if name not in MERGE_FIELDS:
            known = ", ".join(MERGE_FIELDS)
            raise TemplateError(
                f"unknown merge field {{{name}}}; the fields are: {known}", field=name
            )
        names.append(name)
    return names


@dataclass(frozen=True)
class MergeValues:
    """The values of every merge field for one case on one day."""

    values: Mapping[str, str]

    def render(self, template: str) -> str:
        fields_of(template)
        return template.format_map(self.values)


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


def merge_values(
    case: Mapping[str, Any], settings: Mapping[str, str] | None = None, today: date | None = None
) -> MergeValues:
    """The merge values of a case given as a mapping of its columns (``case_no``,
    ``customer_name``, ``overdue_amount``, ... as read in bulk), for ``today``."""
    settings = settings or {}
    values: dict[str, str] = dict.fromkeys(MERGE_FIELDS, "")
    for name in ("customer_name", "case_no", "loan_no", "currency", "bucket", "collector_name"):
        values[name] = str(case.get(name) or "")
    values["dpd"] = str(case.get("dpd") if case.get("dpd") is not None else "")
    for name in ("overdue_amount", "outstanding_balance", "promise_amount"):
        values[name] = _amount(case.get(name))
    for name in ("due_date", "promise_date"):
        value = case.get(name)
        values[name] = value.isoformat() if isinstance(value, date) else str(value or "")
    values["today"] = (today or date.today()).isoformat()
    values["lender_name"] = settings.get("LENDER_NAME", "")
    values["hotline"] = settings.get("COLLECTION_HOTLINE", "")
    return MergeValues(values)
