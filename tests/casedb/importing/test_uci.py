"""The real UCI portfolio becomes customers, cards, statements, payments and open cases."""

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from casedb.delinquency import business_date
from casedb.importing.uci import ATTRIBUTION, UciImport, overdue_amount
from casedb.models import (
    ChangeEvent,
    CollectionCase,
    Customer,
    EventKind,
    Loan,
    MonthlyStatement,
    RepaymentTransaction,
)

HEADER = (
    "ID,LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_0,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,"
    "BILL_AMT1,BILL_AMT2,BILL_AMT3,BILL_AMT4,BILL_AMT5,BILL_AMT6,"
    "PAY_AMT1,PAY_AMT2,PAY_AMT3,PAY_AMT4,PAY_AMT5,PAY_AMT6,default payment next month"
)


def _count(session, model, *where):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_whole_portfolio_imports_once_and_reimports_as_unchanged(engine, session, uci_csv):
    first = UciImport(engine, uci_csv).run()
    assert first.ok and first.rows_read == 30_000 and first.rejected == 0
    assert ATTRIBUTION in first.message
    assert _count(session, Customer) == 30_000
    assert _count(session, Loan) == 30_000
    assert _count(session, MonthlyStatement) == 180_000
    assert _count(session, RepaymentTransaction) == 143_103, "one per month with PAY_AMT > 0"
    assert _count(session, CollectionCase) == 6_818, "accounts with PAY_0 >= 1 in September"
    by_bucket = dict(
        session.execute(
            select(CollectionCase.bucket, func.count()).group_by(CollectionCase.bucket)
        ).all()
    )
    assert by_bucket == {"M1": 3688, "M2": 2667, "M3": 322, "M4+": 141}
    assert _count(session, ChangeEvent, ChangeEvent.kind == EventKind.CASE_OPENED) == 6_818
    assert business_date(session) == date(2005, 9, 30)
    duplicates_kept = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.source == "uci")
    )
    assert duplicates_kept == 30_000

    second = UciImport(engine, uci_csv).run()
    assert (second.inserted, second.updated) == (0, 0)
    assert second.unchanged == first.inserted
    assert _count(session, ChangeEvent) == 6_818


def test_dpd_bucket_and_overdue_amount_follow_the_status_history(engine, session, tmp_path):
    rows = [
        # 3 months late: June's statement (BILL_AMT4 = 40,000) is unpaid; 1,000 + 2,000 paid since.
        "7,100000,1,2,1,40,3,2,1,0,0,0,60000,55000,50000,40000,30000,20000,1000,2000,0,0,0,0,1",
        # 1 month late: August's statement 8,000 less September's payment 500; capped by 9,000.
        "8,50000,2,5,0,30,1,0,0,-1,-2,-2,9000,8000,7000,0,0,0,500,600,0,0,0,0,0",
        # 8 months late: earliest statement (April) minus everything paid since; negative → 0.
        "9,20000,2,3,2,50,8,7,6,5,4,3,-200,100,100,100,100,100,0,0,0,0,0,0,1",
        # paid in full: no case.
        "10,20000,2,3,2,50,-1,-1,-1,-1,-1,-1,0,0,0,0,0,0,100,100,100,100,100,100,0",
    ]
    path = tmp_path / "uci.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = UciImport(engine, path).run()
    assert report.ok and report.rejected == 0
    cases = {
        c.case_no: c for c in session.scalars(select(CollectionCase).order_by(CollectionCase.id))
    }
    assert set(cases) == {"CASE-UCI-00007", "CASE-UCI-00008", "CASE-UCI-00009"}
    seven, eight, nine = cases.values()
    assert (seven.dpd, seven.bucket, seven.overdue_principal) == (90, "M3", Decimal("37000.00"))
    assert seven.opened_on == date(2005, 7, 3)
    assert (eight.dpd, eight.bucket, eight.overdue_principal) == (30, "M1", Decimal("7500.00"))
    assert (nine.dpd, nine.bucket, nine.overdue_principal) == (240, "M4+", Decimal("0.00"))
    customer = session.scalar(select(Customer).where(Customer.customer_no == "UCI-00008"))
    assert customer.education == "code_5" and customer.marital_status == "code_0"
    assert customer.attributes == {"SEX": 2, "EDUCATION": 5, "MARRIAGE": 0}
    september = session.scalar(
        select(MonthlyStatement)
        .join(Loan)
        .where(Loan.loan_no == "UCI-CARD-00007", MonthlyStatement.period == date(2005, 9, 30))
    )
    assert (september.repayment_status, september.dpd, september.balance) == (
        3,
        90,
        Decimal("60000.00"),
    )


def test_overdue_amount_of_a_card_account():
    values = {f"BILL_AMT{i}": b for i, b in enumerate([900, 800, 700, 600, 500, 400], start=1)}
    values |= {f"PAY_AMT{i}": 100 for i in range(1, 7)}
    assert overdue_amount(values, 1) == Decimal(700)  # August 800 - September's 100
    assert overdue_amount(values, 2) == Decimal(500)  # July 700 - 100 - 100
    assert overdue_amount(values, 9) == Decimal(0)  # April 400 - 5 x 100 < 0


def test_bad_rows_are_reported_and_the_rest_imported(engine, session, tmp_path):
    rows = [
        "1,20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1",
        "2,abc,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1",
        "3,20000,2,2,1,24,12,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1",
    ]
    path = tmp_path / "uci.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = UciImport(engine, path).run()
    assert (report.rows_read, report.rejected) == (3, 2)
    assert [(e.row, e.column) for e in report.errors] == [(3, "LIMIT_BAL"), (4, "PAY_0")]
    assert _count(session, Customer) == 1
