"""Customers, loans, contacts and promises: lists with search and filters, scoped and masked.

Loans, contacts and promises are records of what happened (loans come from the core banking
system, contacts and promises from the workbench), so only an admin corrects a loan and only a
supervisor or admin corrects a promise; every correction reaches the audit trail.
"""

from __future__ import annotations

import enum

from flask_appbuilder import ModelView
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired

from casedb.models import ContactAttempt, Customer, Loan, LoanStatus, Product, PromiseToPay
from casedb.pii import id_number_digest, mask_id_number, normalise_id_number
from console.scope import CaseScope, CustomerScope, LoanScope


def enum_select(enum_class: type[enum.StrEnum], label: str) -> SelectField:
    """A choice of an enum's stored values (Flask-AppBuilder's own enum field wants names)."""
    return SelectField(
        label,
        choices=[(member.value, member.value) for member in enum_class],
        coerce=enum_class,
        validators=[InputRequired()],
        widget=Select2Widget(),
    )


CUSTOMER_FIELDS = [
    "customer_no",
    "name",
    "gender",
    "birth_date",
    "education",
    "marital_status",
    "region",
    "city",
    "timezone",
    "language",
    "risk_level",
]


class CustomerView(ModelView):
    """Debtors. The ID number is typed in once on creation and only ever shown masked."""

    datamodel = SQLAInterface(Customer)
    route_base = "/customers"
    base_filters = [["id", CustomerScope, lambda: None]]
    base_order = ("customer_no", "asc")
    list_columns = ["customer_no", "name", "id_number_masked", "region", "city", "risk_level"]
    show_columns = [*CUSTOMER_FIELDS, "id_type", "id_number_masked", "source"]
    search_columns = ["customer_no", "name", "region", "city", "risk_level", "language"]
    add_columns = [*CUSTOMER_FIELDS, "id_type", "id_number"]
    edit_columns = [field for field in CUSTOMER_FIELDS if field != "customer_no"]
    label_columns = {
        "customer_no": "客户号 Customer no.",
        "name": "姓名 Name",
        "id_number_masked": "证件号 ID",
        "id_number": "证件号 ID number",
        "region": "地区 Region",
        "city": "城市 City",
        "risk_level": "风险等级 Risk",
    }

    def pre_add(self, item: Customer) -> None:
        if item.id_number:
            item.id_number = normalise_id_number(item.id_number)
            item.id_number_masked = mask_id_number(item.id_number)
            item.id_number_digest = id_number_digest(item.id_number)
        item.source = "console"


class LoanView(ModelView):
    datamodel = SQLAInterface(Loan)
    route_base = "/loans"
    base_filters = [["id", LoanScope, lambda: None]]
    base_order = ("loan_no", "asc")
    list_columns = [
        "loan_no",
        "customer.name",
        "product",
        "principal",
        "outstanding_balance",
        "currency",
        "status",
        "opened_on",
    ]
    show_columns = [
        "loan_no",
        "customer.customer_no",
        "customer.name",
        "product",
        "currency",
        "principal",
        "credit_limit",
        "annual_rate",
        "term_months",
        "opened_on",
        "maturity_on",
        "status",
        "outstanding_balance",
        "branch_region",
        "source",
    ]
    # Not "product"/"status": Flask-AppBuilder looks enum values up as member names and fails.
    search_columns = ["loan_no", "currency", "branch_region", "opened_on", "principal"]
    # The customer by number, not a drop-down: a portfolio has too many customers to list.
    add_columns = [
        "loan_no",
        "customer_no",
        "product",
        "currency",
        "principal",
        "credit_limit",
        "annual_rate",
        "term_months",
        "opened_on",
        "maturity_on",
        "status",
        "outstanding_balance",
        "branch_region",
    ]
    edit_columns = [
        "credit_limit",
        "annual_rate",
        "term_months",
        "maturity_on",
        "status",
        "branch_region",
    ]
    add_form_extra_fields = {
        "customer_no": StringField("客户号 Customer no.", validators=[InputRequired()]),
        "product": enum_select(Product, "产品 Product"),
        "status": enum_select(LoanStatus, "状态 Status"),
    }
    edit_form_extra_fields = {"status": enum_select(LoanStatus, "状态 Status")}

    def pre_add(self, item: Loan) -> None:
        number = getattr(item, "customer_no", "").strip()
        item.customer_id = self.datamodel.session.scalar(
            select(Customer.id).where(Customer.customer_no == number)
        )
        if item.customer_id is None:
            raise ValueError(f"no customer numbered {number!r}")
        item.source = "console"

    label_columns = {
        "loan_no": "借据号 Loan",
        "customer.name": "客户 Customer",
        "product": "产品 Product",
        "principal": "本金 Principal",
        "outstanding_balance": "余额 Balance",
        "status": "状态 Status",
        "opened_on": "放款日 Opened",
    }


class ContactAttemptView(ModelView):
    """Logged contacts, read-only: a contact is what happened and is logged from a case."""

    datamodel = SQLAInterface(ContactAttempt)
    route_base = "/contacts"
    base_permissions = ["can_list", "can_show"]
    base_filters = [["case_id", CaseScope, lambda: None]]
    base_order = ("started_at", "desc")
    list_columns = [
        "started_at",
        "case.case_no",
        "channel",
        "party",
        "outcome",
        "duration_seconds",
        "local_timezone",
    ]
    show_columns = [
        "attempt_no",
        "case.case_no",
        "started_at",
        "local_timezone",
        "channel",
        "party",
        "direction",
        "outcome",
        "duration_seconds",
        "contact_point.value_masked",
        "notes",
    ]
    search_columns = ["attempt_no", "started_at", "duration_seconds", "notes"]
    label_columns = {
        "started_at": "时间 When (UTC)",
        "case.case_no": "案件 Case",
        "channel": "渠道 Channel",
        "party": "对象 Party",
        "outcome": "结果 Outcome",
        "duration_seconds": "秒数 Seconds",
        "contact_point.value_masked": "号码 Number",
        "notes": "内容 Notes",
    }


class PromiseView(ModelView):
    datamodel = SQLAInterface(PromiseToPay)
    route_base = "/promises"
    base_permissions = ["can_list", "can_show", "can_edit"]
    base_filters = [["case_id", CaseScope, lambda: None]]
    base_order = ("promised_for", "asc")
    list_columns = [
        "promise_no",
        "case.case_no",
        "amount",
        "promised_for",
        "status",
        "amount_paid",
        "resolved_on",
    ]
    show_columns = [*list_columns, "created_at"]
    search_columns = ["promise_no", "promised_for", "amount", "resolved_on"]
    edit_columns = ["amount", "promised_for"]
    label_columns = {
        "promise_no": "承诺号 Promise",
        "case.case_no": "案件 Case",
        "amount": "金额 Amount",
        "promised_for": "承诺日期 Due",
        "status": "状态 Status",
        "amount_paid": "已还 Paid",
        "resolved_on": "结清日 Resolved",
    }
