"""What the lending core knows: contracts, schedules, statements and repayments."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casedb.models.base import Base, Timestamps, external_id, money, str_enum
from casedb.models.customers import Customer


class Product(enum.StrEnum):
    CREDIT_CARD = "credit_card"
    CASH_LOAN = "cash_loan"
    CONSUMER_LOAN = "consumer_loan"
    MORTGAGE = "mortgage"
    AUTO_LOAN = "auto_loan"


class LoanStatus(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    CHARGED_OFF = "charged_off"


class Loan(Timestamps, Base):
    """A loan contract or card account."""

    __tablename__ = "loan"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_no: Mapped[str] = external_id()
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    product: Mapped[Product] = mapped_column(str_enum(Product))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    principal: Mapped[Decimal] = money()
    credit_limit: Mapped[Decimal | None] = money(nullable=True, default=None)
    # Nominal annual rate as a fraction (0.1825 = 18.25 %).
    annual_rate: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    term_months: Mapped[int | None]
    opened_on: Mapped[date | None]
    maturity_on: Mapped[date | None]
    status: Mapped[LoanStatus] = mapped_column(str_enum(LoanStatus), default=LoanStatus.ACTIVE)
    outstanding_balance: Mapped[Decimal] = money()
    branch_region: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32), default="core")
    # Source-specific fields kept as they came (e.g. the UCI default flag).
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    customer: Mapped[Customer] = relationship()
    installments: Mapped[list[Installment]] = relationship(
        back_populates="loan", order_by="Installment.seq"
    )

    def __str__(self) -> str:
        return self.loan_no


class Installment(Base):
    """One due date of a repayment schedule and how much of it is paid."""

    __tablename__ = "installment"
    __table_args__ = (UniqueConstraint("loan_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan.id"))
    seq: Mapped[int] = mapped_column(SmallInteger)
    due_on: Mapped[date] = mapped_column(index=True)
    principal_due: Mapped[Decimal] = money()
    interest_due: Mapped[Decimal] = money()
    fee_due: Mapped[Decimal] = money()
    amount_paid: Mapped[Decimal] = money()
    paid_off_on: Mapped[date | None]

    loan: Mapped[Loan] = relationship(back_populates="installments")

    @property
    def amount_due(self) -> Decimal:
        return self.principal_due + self.interest_due + self.fee_due


class MonthlyStatement(Base):
    """A card account's statement for one month, with the delinquency status reported that month."""

    __tablename__ = "monthly_statement"
    __table_args__ = (UniqueConstraint("loan_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan.id"))
    # Last day of the statement month.
    period: Mapped[date] = mapped_column(index=True)
    balance: Mapped[Decimal] = money()
    amount_paid: Mapped[Decimal] = money()
    # Status as reported (UCI: -2 no balance, -1 paid in full, 0 revolving, k = months late).
    repayment_status: Mapped[int] = mapped_column(SmallInteger)
    months_past_due: Mapped[int] = mapped_column(SmallInteger, default=0)
    dpd: Mapped[int] = mapped_column(default=0)
    bucket: Mapped[str] = mapped_column(String(8))


class RepaymentTransaction(Timestamps, Base):
    """Money received against a loan, as posted by the lending core."""

    __tablename__ = "repayment_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    txn_no: Mapped[str] = external_id()
    loan_id: Mapped[int] = mapped_column(ForeignKey("loan.id"), index=True)
    amount: Mapped[Decimal] = money()
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    paid_at: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str | None] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
