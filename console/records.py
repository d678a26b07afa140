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
from flask_babel import LazyString, gettext, lazy_gettext
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired

from casedb.models import ContactAttempt, Customer, Loan, LoanStatus, Product, PromiseToPay
from casedb.pii import id_number_digest, mask_id_number, normalise_id_number
from console.labels import (
    channel_label,
    direction_label,
    enum_choices,
    loan_status_label,
    outcome_label,
    party_label,
    product_label,
    promise_status_label,
)
from console.scope import CaseScope, CustomerScope, LoanScope


def enum_select(enum_class: type[enum.StrEnum], kind: str, label: LazyString) -> SelectField:
    """A choice of an enum's stored values, shown by their labels in the user's language
    (Flask-AppBuilder's own enum field wants member names)."""
    return SelectField(
        label,
        choices=enum_choices(kind),
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
    list_title = lazy_gettext("Customers")
    show_title = lazy_gettext("Customer")
    add_title = lazy_gettext("Add a customer")
    edit_title = lazy_gettext("Edit customer")
    label_columns = {
        "customer_no": lazy_gettext("Customer no."),
        "name": lazy_gettext("Full name"),
        "gender": lazy_gettext("Gender"),
        "birth_date": lazy_gettext("Date of birth"),
        "education": lazy_gettext("Education"),
        "marital_status": lazy_gettext("Marital status"),
        "region": lazy_gettext("Region"),
        "city": lazy_gettext("City"),
        "timezone": lazy_gettext("Time zone"),
        "language": lazy_gettext("Language"),
        "risk_level": lazy_gettext("Risk level"),
        "id_type": lazy_gettext("ID type"),
        "id_number_masked": lazy_gettext("ID number"),
        "id_number": lazy_gettext("ID number"),
        "source": lazy_gettext("Source"),
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
        "customer_no": StringField(lazy_gettext("Customer no."), validators=[InputRequired()]),
        "product": enum_select(Product, "product", lazy_gettext("Product")),
        "status": enum_select(LoanStatus, "loan_status", lazy_gettext("Status")),
    }
    edit_form_extra_fields = {
        "status": enum_select(LoanStatus, "loan_status", lazy_gettext("Status"))
    }
    formatters_columns = {
        "product": product_label,
        "status": loan_status_label,
    }
    list_title = lazy_gettext("Loans")
    show_title = lazy_gettext("Loan")
    add_title = lazy_gettext("Add a loan")
    edit_title = lazy_gettext("Edit loan")

    def pre_add(self, item: Loan) -> None:
        number = getattr(item, "customer_no", "").strip()
        item.customer_id = self.datamodel.session.scalar(
            select(Customer.id).where(Customer.customer_no == number)
        )
        if item.customer_id is None:
            raise ValueError(gettext("no customer numbered %(number)s", number=repr(number)))
        item.source = "console"

    label_columns = {
        "loan_no": lazy_gettext("Loan no."),
        "customer_no": lazy_gettext("Customer no."),
        "customer.customer_no": lazy_gettext("Customer no."),
        "customer.name": lazy_gettext("Customer"),
        "product": lazy_gettext("Product"),
        "currency": lazy_gettext("Currency"),
        "principal": lazy_gettext("Principal"),
        "credit_limit": lazy_gettext("Credit limit"),
        "annual_rate": lazy_gettext("Annual rate"),
        "term_months": lazy_gettext("Term (months)"),
        "opened_on": lazy_gettext("Opened on"),
        "maturity_on": lazy_gettext("Matures on"),
        "status": lazy_gettext("Status"),
        "outstanding_balance": lazy_gettext("Balance"),
        "branch_region": lazy_gettext("Branch region"),
        "source": lazy_gettext("Source"),
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
    list_title = lazy_gettext("Contacts")
    show_title = lazy_gettext("Contact")
    label_columns = {
        "attempt_no": lazy_gettext("Contact no."),
        "started_at": lazy_gettext("When (UTC)"),
        "local_timezone": lazy_gettext("Debtor's time zone"),
        "case.case_no": lazy_gettext("Case no."),
        "channel": lazy_gettext("Channel"),
        "party": lazy_gettext("Party"),
        "direction": lazy_gettext("Direction"),
        "outcome": lazy_gettext("Outcome"),
        "duration_seconds": lazy_gettext("Seconds"),
        "contact_point.value_masked": lazy_gettext("Number"),
        "notes": lazy_gettext("Notes"),
    }
    formatters_columns = {
        "channel": channel_label,
        "party": party_label,
        "direction": direction_label,
        "outcome": outcome_label,
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
    list_title = lazy_gettext("Promises to pay")
    show_title = lazy_gettext("Promise to pay")
    edit_title = lazy_gettext("Correct a promise to pay")
    label_columns = {
        "promise_no": lazy_gettext("Promise no."),
        "case.case_no": lazy_gettext("Case no."),
        "amount": lazy_gettext("Amount"),
        "promised_for": lazy_gettext("Promised for"),
        "status": lazy_gettext("Status"),
        "amount_paid": lazy_gettext("Paid"),
        "resolved_on": lazy_gettext("Resolved on"),
        "created_at": lazy_gettext("Recorded at (UTC)"),
    }
    formatters_columns = {"status": promise_status_label}
