"""Daily snapshots: the tick closes the day it leaves, month ends get statements, run.py fills
in what is missing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.delinquency import set_business_date
from casedb.models import (
    CollectionCase,
    Customer,
    Loan,
    MonthlyStatement,
    PortfolioSnapshot,
    PortfolioSnapshotRun,
    RepaymentTransaction,
    Team,
)
from reports import metrics
from reports.metrics import Scope
from reports.snapshots import backfill
from rules_service.daily_tick import advance_to
from run import cli


def card_case(session: Session, number: int, dpd: int, bucket: str, **case: object) -> Loan:
    customer = Customer(customer_no=f"C{number}", name=f"客户{number}", region="北京")
    session.add(customer)
    session.flush()
    loan = Loan(
        loan_no=f"L{number}",
        customer_id=customer.id,
        product="credit_card",
        principal=Decimal(10000),
        outstanding_balance=Decimal(5000),
    )
    session.add(loan)
    session.flush()
    session.add(
        CollectionCase(
            case_no=f"K{number}",
            customer_id=customer.id,
            loan_id=loan.id,
            opened_on=date(2025, 2, 1),
            dpd=dpd,
            bucket=bucket,
            overdue_principal=Decimal(800),
            overdue_at_entry=Decimal(800),
            outstanding_balance=Decimal(5000),
            **case,
        )
    )
    return loan


def statements_of(session: Session, loan_id: int) -> list[tuple]:
    return session.execute(
        select(
            MonthlyStatement.period,
            MonthlyStatement.dpd,
            MonthlyStatement.bucket,
            MonthlyStatement.months_past_due,
            MonthlyStatement.amount_paid,
            MonthlyStatement.balance,
        )
        .where(MonthlyStatement.loan_id == loan_id)
        .order_by(MonthlyStatement.period)
    ).all()


def test_the_tick_closes_the_day_it_leaves_with_a_snapshot_and_month_end_statements(engine):
    with Session(engine) as session, session.begin():
        loan = card_case(session, 1, 40, "M2")
        reported = card_case(session, 2, 10, "M1")  # already has its March statement
        session.flush()
        loan_id, reported_id = loan.id, reported.id
        session.add(
            MonthlyStatement(
                loan_id=reported_id,
                period=date(2025, 3, 31),
                balance=Decimal(1),
                repayment_status=1,
                dpd=30,
                bucket="M1",
            )
        )
        session.add(
            RepaymentTransaction(
                txn_no="T1",
                loan_id=loan_id,
                amount=Decimal(100),
                paid_at=datetime(2025, 3, 15, 2, tzinfo=UTC),
            )
        )
        set_business_date(session, date(2025, 3, 31))

    with Session(engine) as session, session.begin():
        first = advance_to(session, date(2025, 4, 1))
    assert first.skipped is None
    with Session(engine) as session:
        runs = session.execute(select(PortfolioSnapshotRun.as_of, PortfolioSnapshotRun.source))
        assert runs.all() == [(date(2025, 3, 31), "tick")]
        # The March statement from the case as it stood on the 31st: 40 DPD, 2 months, M2.
        assert statements_of(session, loan_id) == [
            (date(2025, 3, 31), 40, "M2", 2, Decimal(100), Decimal(5000))
        ]
        assert statements_of(session, reported_id)[0][1:3] == (30, "M1")  # left alone

    with Session(engine) as session, session.begin():
        assert advance_to(session, date(2025, 4, 1)).skipped  # already there: nothing written
        # A jump over April's end: April's statement takes the DPD the tick gives on the 30th.
        advance_to(session, date(2025, 5, 2))
    with Session(engine) as session:
        assert statements_of(session, loan_id)[-1][:4] == (date(2025, 4, 30), 70, "M3", 3)
        days = session.scalars(select(PortfolioSnapshotRun.as_of).order_by("as_of")).all()
        assert days == [date(2025, 3, 31), date(2025, 4, 1)]
    with engine.connect() as connection:
        trend = metrics.overdue_rate_trend(connection, Scope(date(2025, 3, 1), date(2025, 5, 31)))
        rolls = metrics.roll_rates(connection, Scope(date(2025, 3, 1), date(2025, 5, 31)))
    assert [p.as_of for p in trend.points] == [
        date(2025, 3, 31),
        date(2025, 4, 1),
        date(2025, 5, 2),
    ]
    assert rolls.counts["2025-03->2025-04"]["M2"]["M3"] == 1


def test_a_tick_rolled_back_leaves_no_snapshot(engine):
    with Session(engine) as session, session.begin():
        card_case(session, 1, 40, "M2")
        set_business_date(session, date(2025, 3, 10))
    with Session(engine) as session:
        advance_to(session, date(2025, 3, 11))
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(select(PortfolioSnapshot.id)) is None


def test_backfill_rebuilds_statement_months_without_teams_then_the_business_date(engine):
    with Session(engine) as session, session.begin():
        team = Team(code="T1", name="一组")
        session.add(team)
        session.flush()
        loan = card_case(session, 1, 40, "M2", team_id=team.id)
        session.flush()
        for period, bucket, dpd in [(date(2025, 1, 31), "M0", 0), (date(2025, 2, 28), "M1", 30)]:
            session.add(
                MonthlyStatement(
                    loan_id=loan.id,
                    period=period,
                    balance=Decimal(3000),
                    repayment_status=dpd // 30,
                    dpd=dpd,
                    bucket=bucket,
                )
            )
        set_business_date(session, date(2025, 3, 15))
        team_id = team.id
    with engine.begin() as connection:
        results = backfill(connection, by="test")
    assert [(r.as_of, r.source, r.since) for r in results] == [
        (date(2025, 1, 31), "statements", None),
        (date(2025, 2, 28), "statements", date(2025, 1, 31)),
        (date(2025, 3, 15), "backfill", date(2025, 2, 28)),
    ]
    with engine.connect() as connection:
        january = metrics.overdue_rate(connection, Scope(date(2025, 1, 1), date(2025, 1, 31)))
        february = metrics.dpd_bucket_aging(connection, Scope(date(2025, 2, 1), date(2025, 2, 28)))
        by_team = metrics.overdue_rate(
            connection, Scope(date(2025, 2, 1), date(2025, 2, 28), team_id=team_id)
        )
        today = metrics.overdue_rate(
            connection, Scope(date(2025, 3, 1), date(2025, 3, 31), team_id=team_id)
        )
    assert (january.accounts, january.overdue_accounts, january.overdue_amount) == (1, 0, None)
    # The case opened on 02-01: open in February's statement month, in M1 as reported.
    m1 = next(b for b in february.buckets if b.bucket == "M1")
    assert (m1.accounts, m1.cases, m1.balance) == (1, 1, Decimal(3000))
    assert by_team.note == "no account in the scope on 2025-02-28"  # teams of the past unknown
    assert (today.accounts, today.overdue_accounts) == (1, 1)
    with engine.begin() as connection:
        again = backfill(connection, by="test")
    assert [r.as_of for r in again] == [date(2025, 3, 15)]  # the months are there already


def test_run_py_snapshot(cli_database):
    runner = CliRunner()
    done = runner.invoke(cli, ["snapshot"])
    assert done.exit_code == 0, done.output
    assert f"snapshot {date.today()} (backfill)" in done.output
    refused = runner.invoke(cli, ["snapshot", "--date", "2001-01-31"])
    assert refused.exit_code == 1
    assert "cannot be recomputed" in refused.output
