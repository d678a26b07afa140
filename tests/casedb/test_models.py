"""The case database keeps money exact, time unambiguous, and its schema in migrations."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model as ConsoleModel
from sqlalchemy import inspect, select
from sqlalchemy.exc import StatementError

from casedb.migrate import downgrade, upgrade
from casedb.models import Base, CollectionCase, Customer, Loan, Product, Team
from casedb.session import make_engine


def _customer_and_loan(session):
    customer = Customer(customer_no="C-1", name="王小明", id_number="110101199003071234")
    loan = Loan(loan_no="L-1", customer=customer, product=Product.CASH_LOAN, principal=Decimal("1"))
    session.add_all([customer, loan])
    session.flush()
    return customer, loan


def test_money_comes_back_as_exact_decimal(session):
    _, loan = _customer_and_loan(session)
    loan.outstanding_balance = Decimal("12345678901.23")
    case = CollectionCase(
        case_no="K-1",
        customer_id=loan.customer_id,
        loan_id=loan.id,
        opened_on=date(2025, 1, 1),
        bucket="M1",
        overdue_principal=Decimal("0.10"),
        overdue_interest=Decimal("0.20"),
    )
    session.add(case)
    session.commit()
    session.expire_all()
    stored = session.get(CollectionCase, case.id)
    assert stored.overdue_amount == Decimal("0.30")
    assert session.get(Loan, loan.id).outstanding_balance == Decimal("12345678901.23")


def test_money_refuses_float(session):
    _, loan = _customer_and_loan(session)
    loan.outstanding_balance = 0.1
    with pytest.raises(StatementError, match="never float"):
        session.flush()


def test_times_are_stored_in_utc_and_come_back_aware(session):
    beijing = timezone(timedelta(hours=8))
    customer_point_time = datetime(2025, 3, 1, 9, 30, tzinfo=beijing)
    team = Team(code="T", name="一组")
    session.add(team)
    session.flush()
    team.created_at = customer_point_time
    session.commit()
    session.expire_all()
    stored = session.get(Team, team.id).created_at
    assert stored.tzinfo is not None
    assert stored == datetime(2025, 3, 1, 1, 30, tzinfo=UTC)


def test_naive_times_are_refused(session):
    team = Team(code="T", name="一组", created_at=datetime(2025, 3, 1, 9, 30))
    session.add(team)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_id_numbers_are_masked_and_searchable_by_digest(session):
    customer, _ = _customer_and_loan(session)
    assert customer.id_number_masked == "110101********1234"
    assert customer.id_number_digest and "1990" not in customer.id_number_digest


def test_migrations_make_exactly_the_models_schema(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, [Base.metadata, ConsoleModel.metadata])
    assert diffs == []


def test_migrations_go_down_and_up_again(tmp_path, database_url):
    if not database_url.startswith("sqlite"):
        url = database_url.rsplit("/", 1)[0] + "/" + database_url.rsplit("/", 1)[1] + "_updown"
        admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    else:
        url = f"sqlite:///{tmp_path / 'updown.db'}"
    upgrade(url)
    engine = make_engine(url)
    assert "collection_case" in inspect(engine).get_table_names()
    downgrade(url, "base")
    assert "collection_case" not in inspect(engine).get_table_names()
    upgrade(url)
    with engine.connect() as connection:
        assert connection.execute(select(Customer)).all() == []
    engine.dispose()
    if not database_url.startswith("sqlite"):
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
