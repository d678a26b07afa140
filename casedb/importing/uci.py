"""The UCI "default of credit card clients" portfolio as customers, cards, statements and cases.

Each of the 30,000 rows becomes a customer, a credit-card account, six monthly statements
(April–September 2005) with the reported repayment status, one payment per month with an amount
paid, and — for accounts still delinquent in September — an open collection case. The business
date is set to 2005-09-30 so DPD and buckets come out as they were then.

How the fields are read (see the data set's README):
- ``PAY_x`` = k ≥ 1 is a delay of k months; DPD = 30·k, bucket from DPD.
- The overdue amount of a case k months late is the statement of k months earlier (the one that
  went unpaid) less what was paid since, capped by the September balance and floored at zero.
- The data has no dates finer than the month: a month's payment is dated noon on the last day of
  the month in Taipei and marked so in its reference.
Undocumented codes, duplicate rows and negative balances are kept as they are.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from casedb.delinquency import bucket_for, set_business_date
from casedb.importing.fields import CellError, integer
from casedb.importing.kinds import case_events
from casedb.importing.runner import ErrorSink, ImportCommand, RowError
from casedb.importing.sources import SourceError, open_rows
from casedb.importing.writer import write_rows
from casedb.models import (
    CaseStatus,
    CollectionCase,
    Customer,
    Loan,
    MonthlyStatement,
    Product,
    RepaymentTransaction,
)

BUSINESS_DATE = date(2005, 9, 30)
CURRENCY = "TWD"
TIMEZONE = "Asia/Taipei"
ATTRIBUTION = (
    "UCI Machine Learning Repository, default of credit card clients (I-Cheng Yeh), "
    "DOI 10.24432/C55S3H, CC BY 4.0"
)
# Month index as the file numbers it (1 = September ... 6 = April) → statement month.
MONTHS = {index: date(2005, 10 - index, 1) for index in range(1, 7)}
STATUS_COLUMN = {1: "PAY_0", 2: "PAY_2", 3: "PAY_3", 4: "PAY_4", 5: "PAY_5", 6: "PAY_6"}
INTEGER_COLUMNS = (
    "ID",
    "LIMIT_BAL",
    "SEX",
    "EDUCATION",
    "MARRIAGE",
    "AGE",
    *STATUS_COLUMN.values(),
    *(f"BILL_AMT{i}" for i in range(1, 7)),
    *(f"PAY_AMT{i}" for i in range(1, 7)),
    "default payment next month",
)
GENDER = {1: "male", 2: "female"}
EDUCATION = {1: "graduate_school", 2: "university", 3: "high_school", 4: "other"}
MARRIAGE = {1: "married", 2: "single", 3: "other"}
_PARSE_INT = integer()
_TAIPEI = ZoneInfo(TIMEZONE)


def month_end(first_day: date) -> date:
    return first_day.replace(day=calendar.monthrange(first_day.year, first_day.month)[1])


def overdue_amount(values: dict[str, int], months_late: int) -> Decimal:
    """The part of the September balance that is past due for an account ``months_late`` behind."""
    unpaid_statement = min(1 + months_late, 6)
    paid_since = sum(values[f"PAY_AMT{j}"] for j in range(1, unpaid_statement))
    overdue = min(values["BILL_AMT1"], values[f"BILL_AMT{unpaid_statement}"] - paid_since)
    return Decimal(max(overdue, 0))


class UciImport(ImportCommand):
    """``run.py import uci FILE``: idempotent, like every import."""

    kind_name = "uci"
    # Each account becomes about 13 rows in five tables; batches count accounts.
    accounts_per_batch = 2000

    def validate(self) -> list[RowError]:
        try:
            header = self._header()
        except SourceError as exc:
            return [RowError(1, "", "", str(exc))]
        missing = [c for c in INTEGER_COLUMNS if c not in header]
        return [RowError(1, c, "", "required column is missing") for c in missing]

    def write_all(self, session: Session, sink: ErrorSink) -> None:
        set_business_date(session, BUSINESS_DATE)
        source = open_rows(self.path, self.encoding)
        position = {name: i for i, name in enumerate(source.header)}
        batch: list[dict[str, int]] = []
        for number, cells in source.rows:
            self.report.rows_read += 1
            values = self._parse(number, cells, position, sink)
            if values is not None:
                batch.append(values)
            if len(batch) >= min(self.batch_size, self.accounts_per_batch):
                self._write(session, batch)
                batch = []
        if batch:
            self._write(session, batch)
        self.report.message = f"business date {BUSINESS_DATE}; data: {ATTRIBUTION}"

    def _parse(
        self, number: int, cells: list[str], position: dict[str, int], sink: ErrorSink
    ) -> dict[str, int] | None:
        values: dict[str, int] = {}
        failed = False
        for column in INTEGER_COLUMNS:
            index = position[column]
            raw = cells[index] if index < len(cells) else ""
            try:
                if not raw:
                    raise CellError("required value is empty")
                values[column] = _PARSE_INT(raw)
            except CellError as exc:
                sink.add(RowError(number, column, raw, str(exc)))
                failed = True
        for column in STATUS_COLUMN.values():
            if not failed and not -2 <= values[column] <= 9:
                sink.add(RowError(number, column, str(values[column]), "status must be -2..9"))
                failed = True
        if failed:
            self.report.rejected += 1
            return None
        return values

    def _write(self, session: Session, batch: list[dict[str, int]]) -> None:
        customers = write_rows(
            session, Customer.__table__, ("customer_no",), [_customer(v) for v in batch]
        )
        customer_ids = {v["ID"]: customers.ids[(_customer_no(v),)] for v in batch}
        loans = write_rows(
            session, Loan.__table__, ("loan_no",), [_loan(v, customer_ids[v["ID"]]) for v in batch]
        )
        loan_ids = {v["ID"]: loans.ids[(_loan_no(v),)] for v in batch}
        statements = [s for v in batch for s in _statements(v, loan_ids[v["ID"]])]
        payments = [p for v in batch for p in _payments(v, loan_ids[v["ID"]])]
        cases = [
            _case(v, customer_ids[v["ID"]], loan_ids[v["ID"]]) for v in batch if v["PAY_0"] >= 1
        ]
        for result in (
            customers,
            loans,
            write_rows(session, MonthlyStatement.__table__, ("loan_id", "period"), statements),
            write_rows(session, RepaymentTransaction.__table__, ("txn_no",), payments),
        ):
            self._record(result)
        case_result = write_rows(
            session,
            CollectionCase.__table__,
            ("case_no",),
            cases,
            insert_only=("overdue_at_entry", "opened_on", "status"),
        )
        self._record(case_result)
        self._emit(session, case_events(session, case_result))


def _customer_no(v: dict[str, int]) -> str:
    return f"UCI-{v['ID']:05d}"


def _loan_no(v: dict[str, int]) -> str:
    return f"UCI-CARD-{v['ID']:05d}"


def _customer(v: dict[str, int]) -> dict[str, Any]:
    return {
        "customer_no": _customer_no(v),
        "name": f"UCI {v['ID']:05d}",
        "gender": GENDER.get(v["SEX"], f"code_{v['SEX']}"),
        "age": v["AGE"],
        "education": EDUCATION.get(v["EDUCATION"], f"code_{v['EDUCATION']}"),
        "marital_status": MARRIAGE.get(v["MARRIAGE"], f"code_{v['MARRIAGE']}"),
        "region": "TW",
        "timezone": TIMEZONE,
        "language": "zh",
        "source": "uci",
        "attributes": {"SEX": v["SEX"], "EDUCATION": v["EDUCATION"], "MARRIAGE": v["MARRIAGE"]},
    }


def _loan(v: dict[str, int], customer_id: int) -> dict[str, Any]:
    return {
        "loan_no": _loan_no(v),
        "customer_id": customer_id,
        "product": Product.CREDIT_CARD.value,
        "currency": CURRENCY,
        "principal": Decimal(v["LIMIT_BAL"]),
        "credit_limit": Decimal(v["LIMIT_BAL"]),
        "outstanding_balance": Decimal(v["BILL_AMT1"]),
        "branch_region": "TW",
        "source": "uci",
        "attributes": {"default_payment_next_month": v["default payment next month"]},
    }


def _statements(v: dict[str, int], loan_id: int) -> list[dict[str, Any]]:
    rows = []
    for index, first_day in MONTHS.items():
        status = v[STATUS_COLUMN[index]]
        dpd = 30 * max(status, 0)
        rows.append(
            {
                "loan_id": loan_id,
                "period": month_end(first_day),
                "balance": Decimal(v[f"BILL_AMT{index}"]),
                "amount_paid": Decimal(v[f"PAY_AMT{index}"]),
                "repayment_status": status,
                "months_past_due": max(status, 0),
                "dpd": dpd,
                "bucket": bucket_for(dpd),
            }
        )
    return rows


def _payments(v: dict[str, int], loan_id: int) -> list[dict[str, Any]]:
    rows = []
    for index, first_day in MONTHS.items():
        amount = v[f"PAY_AMT{index}"]
        if amount <= 0:
            continue
        paid_at = datetime.combine(month_end(first_day), time(12), _TAIPEI).astimezone(UTC)
        rows.append(
            {
                "txn_no": f"UCI-PAY-{v['ID']:05d}-{first_day:%Y-%m}",
                "loan_id": loan_id,
                "amount": Decimal(amount),
                "currency": CURRENCY,
                "paid_at": paid_at,
                "channel": "uci_monthly_total",
                "reference": f"total paid in {first_day:%Y-%m}; day within the month unknown",
            }
        )
    return rows


def _case(v: dict[str, int], customer_id: int, loan_id: int) -> dict[str, Any]:
    months_late = v["PAY_0"]
    dpd = 30 * months_late
    overdue = overdue_amount(v, months_late)
    return {
        "case_no": f"CASE-UCI-{v['ID']:05d}",
        "customer_id": customer_id,
        "loan_id": loan_id,
        "status": CaseStatus.NEW.value,
        "opened_on": date.fromordinal(BUSINESS_DATE.toordinal() - dpd + 1),
        "dpd": dpd,
        "bucket": bucket_for(dpd),
        "overdue_principal": overdue,
        "overdue_interest": Decimal(0),
        "overdue_fees": Decimal(0),
        "overdue_at_entry": overdue,
        "outstanding_balance": Decimal(v["BILL_AMT1"]),
        "currency": CURRENCY,
    }
