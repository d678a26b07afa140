"""A small collection book every named report has something to say about (fixture ``report_book``).

Business date D = 2025-03-31. Two teams, two collectors (the demo logins' user names):

    T1 一组 (supervisor1): CL1 催收员甲 (collector1)
    T2 二组 (boss2):       CL2 催收员乙 (collector2)

Cases (loan, customer; team / collector; status, DPD, bucket; overdue principal + interest +
fees; overdue at entry; balance; strategy, arm):

    K1 L1 张三 T1/CL1 in_collection  45 M2  1000 + 50 + 10 1200 8000 gentle    champion
    K2 L2 李四 T1/CL1 promised       10 M1   300 +  0 +  0  300 2000 gentle    challenger
    K3 L3 王五 T2/CL2 legal         100 M4+ 5000 +  0 +  0 5000 9000 intensive champion
    K4 L4 赵六 T2/CL2 paid (03-20)    0 M0     0            400    0 gentle    challenger

Monthly statements (bucket at the month end), for roll rates:

    L1  M0 → M1 → M2      L2  M1 → M0 → M1      L3  M2 → M3 → M4+     L4  M1 → M2 → M0
    (2025-01-31, 2025-02-28, 2025-03-31)

Promises: K1 500 for 03-25 kept; K2 300 for 03-28 broken; K3 1000 for 04-05 pending.
Alerts (raised now): K1 missed_installments (warning, open), K3 falling_payments (critical,
resolved). Compliance checks (now): K1 blocked by quiet_hours, K3 allowed. Payments: L1 100 on
03-10, L4 400 on 03-20.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from casedb.delinquency import set_business_date
from casedb.models import (
    Alert,
    AlertStatus,
    CaseStatus,
    CollectionCase,
    Collector,
    ComplianceCheck,
    ContactKind,
    ContactPoint,
    Customer,
    Loan,
    MonthlyStatement,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
    RuleDecision,
    Team,
)
from reports.snapshots import backfill

D = date(2025, 3, 31)
MONTHS = (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31))
LOCAL = ZoneInfo("Asia/Shanghai")
# bucket per loan and month end
STATEMENTS = {
    "L1": ("M0", "M1", "M2"),
    "L2": ("M1", "M0", "M1"),
    "L3": ("M2", "M3", "M4+"),
    "L4": ("M1", "M2", "M0"),
}
DPD_OF = {"M0": 0, "M1": 30, "M2": 60, "M3": 90, "M4+": 120}
CASES = {
    # case: loan, customer, team, collector, status, dpd, bucket, (p, i, f), entry, balance,
    #       strategy, arm
    "K1": ("L1", "C1", "T1", "CL1", CaseStatus.IN_COLLECTION, 45, "M2", (1000, 50, 10), 1200, 8000,
           "gentle", "champion"),
    "K2": ("L2", "C2", "T1", "CL1", CaseStatus.PROMISED, 10, "M1", (300, 0, 0), 300, 2000,
           "gentle", "challenger"),
    "K3": ("L3", "C3", "T2", "CL2", CaseStatus.LEGAL, 100, "M4+", (5000, 0, 0), 5000, 9000,
           "intensive", "champion"),
    "K4": ("L4", "C4", "T2", "CL2", CaseStatus.PAID, 0, "M0", (0, 0, 0), 400, 0,
           "gentle", "challenger"),
}  # fmt: skip
CUSTOMERS = {
    "C1": ("张三", "110101199003071234", "13800138001", "北京"),
    "C2": ("李四", "440101198512120021", "13800138002", "广东"),
    "C3": ("王五", "310101197001010011", "13800138003", "上海"),
    "C4": ("赵六", "320101198801010022", "13800138004", "江苏"),
}
OPEN_OVERDUE = Decimal("6360.00")  # K1 1060 + K2 300 + K3 5000 (+ K4 0)


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), LOCAL)


@pytest.fixture(name="report_book")
def report_book_fixture(engine) -> dict[str, int]:
    """The book above, with its snapshots; returns the ids by name."""
    ids: dict[str, int] = {}
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.info["actor"] = "test"

        def add(name: str, row: object) -> None:
            session.add(row)
            session.flush()
            ids[name] = row.id  # type: ignore[attr-defined]

        add("T1", Team(code="T1", name="一组", supervisor_username="supervisor1"))
        add("T2", Team(code="T2", name="二组", supervisor_username="boss2"))
        add("CL1", Collector(code="CL1", name="催收员甲", team_id=ids["T1"], username="collector1"))
        add("CL2", Collector(code="CL2", name="催收员乙", team_id=ids["T2"], username="collector2"))
        for number, (code, (name, id_number, phone, region)) in enumerate(CUSTOMERS.items(), 1):
            customer = Customer(customer_no=code, name=name, region=region)
            customer.id_number = id_number
            add(code, customer)
            add(
                f"P{code}",
                ContactPoint(
                    contact_point_no=f"CP{number}",
                    customer_id=ids[code],
                    kind=ContactKind.MOBILE,
                    value=phone,
                    value_masked=phone[:3] + "****" + phone[-4:],
                    is_primary=True,
                ),
            )
            loan = f"L{number}"
            add(
                loan,
                Loan(
                    loan_no=loan,
                    customer_id=ids[code],
                    product="cash_loan" if number % 2 else "credit_card",
                    principal=Decimal(10000),
                    outstanding_balance=Decimal(CASES[f"K{number}"][9]),
                ),
            )
            for period, bucket in zip(MONTHS, STATEMENTS[loan], strict=True):
                session.add(
                    MonthlyStatement(
                        loan_id=ids[loan],
                        period=period,
                        balance=Decimal(1000 * number),
                        amount_paid=Decimal(0),
                        repayment_status=DPD_OF[bucket] // 30,
                        months_past_due=DPD_OF[bucket] // 30,
                        dpd=DPD_OF[bucket],
                        bucket=bucket,
                    )
                )
        for case, values in CASES.items():
            loan, customer, team, collector, status, dpd, bucket, overdue = values[:8]
            entry, balance, strategy, _arm = values[8:]
            add(
                case,
                CollectionCase(
                    case_no=case,
                    customer_id=ids[customer],
                    loan_id=ids[loan],
                    team_id=ids[team],
                    collector_id=ids[collector],
                    status=status,
                    opened_on=date(2025, 1, 10),
                    closed_on=date(2025, 3, 20) if status == CaseStatus.PAID else None,
                    dpd=dpd,
                    bucket=bucket,
                    overdue_principal=Decimal(overdue[0]),
                    overdue_interest=Decimal(overdue[1]),
                    overdue_fees=Decimal(overdue[2]),
                    overdue_at_entry=Decimal(entry),
                    outstanding_balance=Decimal(balance),
                    strategy=strategy,
                    priority_score=dpd,
                ),
            )
        promises = [
            ("K1", 500, date(2025, 3, 25), PromiseStatus.KEPT, 500, date(2025, 3, 26)),
            ("K2", 300, date(2025, 3, 28), PromiseStatus.BROKEN, 0, date(2025, 3, 31)),
            ("K3", 1000, date(2025, 4, 5), PromiseStatus.PENDING, 0, None),
        ]
        for number, (case, amount, when, status, paid, resolved) in enumerate(promises, 1):
            session.add(
                PromiseToPay(
                    promise_no=f"PTP{number}",
                    case_id=ids[case],
                    collector_id=ids[CASES[case][3]],
                    amount=Decimal(amount),
                    promised_for=when,
                    status=status,
                    amount_paid=Decimal(paid),
                    resolved_on=resolved,
                )
            )
        session.add_all(
            [
                Alert(
                    case_id=ids["K1"],
                    kind="missed_installments",
                    severity="warning",
                    raised_at=now - timedelta(hours=2),
                    ruleset="alert",
                    version=1,
                    row="R1",
                    message="连续两期未还",
                ),
                Alert(
                    case_id=ids["K3"],
                    kind="falling_payments",
                    severity="critical",
                    status=AlertStatus.RESOLVED,
                    raised_at=now - timedelta(hours=1),
                    ruleset="alert",
                    version=1,
                    row="R2",
                    resolved_by="supervisor1",
                    resolved_at=now,
                ),
            ]
        )
        for case, verdict, rule in (("K1", "blocked", "quiet_hours"), ("K3", "allowed", None)):
            session.add(
                ComplianceCheck(
                    checked_at=now - timedelta(minutes=30),
                    contact_at=now - timedelta(minutes=30),
                    case_id=ids[case],
                    customer_id=ids[CASES[case][1]],
                    actor="collector1",
                    origin="click",
                    agent="lender",
                    channel="call",
                    party="debtor",
                    target="138****8001",
                    policy="CN",
                    policy_version=1,
                    verdict=verdict,
                    reasons=[{"id": rule, "message": "quiet hours", "message_zh": "禁止联系时段"}]
                    if rule
                    else [],
                    blocking_rule=rule,
                )
            )
        session.add_all(
            [
                RepaymentTransaction(
                    txn_no="TX1",
                    loan_id=ids["L1"],
                    amount=Decimal(100),
                    paid_at=local(date(2025, 3, 10), 10),
                ),
                RepaymentTransaction(
                    txn_no="TX4",
                    loan_id=ids["L4"],
                    amount=Decimal(400),
                    paid_at=local(date(2025, 3, 20), 10),
                ),
            ]
        )
        for case, values in CASES.items():
            session.add(
                RuleDecision(
                    case_id=ids[case],
                    ruleset="strategy",
                    version=1,
                    checksum="0" * 64,
                    kind="strategy",
                    rows=["R1"],
                    outputs=[],
                    facts={},
                    applied={"arm": values[11], "strategy": values[10]},
                    decided_at=local(date(2025, 1, 10), 9),
                )
            )
        set_business_date(session, D)
    with engine.begin() as connection:
        backfill(connection, None, by="test")
    return ids
