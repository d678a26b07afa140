"""The REST API (``/api/v1/<resource>/``): JWT only, the console's roles, scope and masking.

Every resource names its columns: Flask-AppBuilder's defaults would expose related objects
whole. Writes exist where the console has them too, and answer bad input with 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask_appbuilder import ModelRestApi
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.models.sqla.interface import SQLAInterface
from marshmallow import validate
from sqlalchemy.exc import IntegrityError

from casedb.models import (
    AuditEntry,
    CollectionCase,
    Collector,
    ContactAttempt,
    Customer,
    Loan,
    PromiseToPay,
    Team,
)
from console.audit_trail import EXPORT_COLUMNS
from console.interfaces import CaseInterface
from console.scope import CaseScope, CustomerScope, LoanScope, TeamScope

READ_ONLY = {"get", "get_list", "info"}


class RefusedByDatabase(Exception):  # noqa: N818  (reads as the answer says it)
    """A constraint refused the write; the message names it, never the row's values."""


class WritableInterface(SQLAInterface):
    """Flask-AppBuilder's interface, raising the ``DatabaseException`` its API turns into a
    422 where FAB 5 lets the raw SQLAlchemy error through (a duplicate code was a 500)."""

    def add(self, item: Any, commit: bool = True) -> None:
        with _constraint_refusals_as_422():
            super().add(item, commit)

    def edit(self, item: Any, commit: bool = True) -> None:
        with _constraint_refusals_as_422():
            super().edit(item, commit)

    def delete(self, item: Any, commit: bool = True) -> None:
        with _constraint_refusals_as_422():
            super().delete(item, commit)


@contextmanager
def _constraint_refusals_as_422() -> Iterator[None]:
    try:
        yield
    except IntegrityError as error:
        raise DatabaseException() from RefusedByDatabase(str(error.orig).splitlines()[0])


class CaseApi(ModelRestApi):
    """Read-only cases in the caller's scope, ID numbers masked."""

    resource_name = "case"
    datamodel = CaseInterface(CollectionCase)
    include_route_methods = READ_ONLY
    base_filters = [["id", CaseScope, lambda: None]]
    base_order = ("priority_score", "desc")
    list_columns = [
        "id",
        "case_no",
        "status",
        "customer.name",
        "customer.id_number_masked",
        "dpd",
        "bucket",
        "overdue_principal",
        "overdue_interest",
        "overdue_fees",
        "priority_score",
        "priority_level",
        "team.name",
        "collector.name",
        "next_action",
        "on_hold",
    ]
    show_columns = [*list_columns, "loan.loan_no", "opened_on", "outstanding_balance", "currency"]
    search_columns = ["case_no", "bucket", "dpd", "priority_level", "on_hold"]


class CustomerApi(ModelRestApi):
    resource_name = "customer"
    datamodel = WritableInterface(Customer)
    include_route_methods = READ_ONLY | {"put"}
    base_filters = [["id", CustomerScope, lambda: None]]
    base_order = ("customer_no", "asc")
    list_columns = [
        "id",
        "customer_no",
        "name",
        "id_number_masked",
        "region",
        "city",
        "risk_level",
    ]
    show_columns = [*list_columns, "gender", "birth_date", "timezone", "language"]
    edit_columns = ["name", "region", "city", "timezone", "language", "risk_level"]
    search_columns = ["customer_no", "name", "region", "city", "risk_level"]


class LoanApi(ModelRestApi):
    resource_name = "loan"
    datamodel = SQLAInterface(Loan)
    include_route_methods = READ_ONLY
    base_filters = [["id", LoanScope, lambda: None]]
    base_order = ("loan_no", "asc")
    list_columns = [
        "id",
        "loan_no",
        "customer.customer_no",
        "product",
        "currency",
        "principal",
        "outstanding_balance",
        "status",
        "opened_on",
    ]
    show_columns = [*list_columns, "annual_rate", "term_months", "maturity_on", "credit_limit"]
    search_columns = ["loan_no", "currency", "opened_on"]


class ContactAttemptApi(ModelRestApi):
    resource_name = "contact_attempt"
    datamodel = SQLAInterface(ContactAttempt)
    include_route_methods = READ_ONLY
    base_filters = [["case_id", CaseScope, lambda: None]]
    base_order = ("started_at", "desc")
    list_columns = [
        "id",
        "attempt_no",
        "case.case_no",
        "started_at",
        "local_timezone",
        "channel",
        "party",
        "outcome",
        "duration_seconds",
    ]
    show_columns = [*list_columns, "direction", "notes", "contact_point.value_masked"]
    search_columns = ["attempt_no", "started_at", "case"]


class PromiseApi(ModelRestApi):
    resource_name = "promise_to_pay"
    datamodel = SQLAInterface(PromiseToPay)
    include_route_methods = READ_ONLY
    base_filters = [["case_id", CaseScope, lambda: None]]
    base_order = ("promised_for", "asc")
    list_columns = [
        "id",
        "promise_no",
        "case.case_no",
        "amount",
        "promised_for",
        "status",
        "amount_paid",
        "resolved_on",
    ]
    show_columns = list_columns
    search_columns = ["promise_no", "promised_for", "case"]


class TeamApi(ModelRestApi):
    resource_name = "team"
    datamodel = WritableInterface(Team)
    include_route_methods = READ_ONLY | {"post", "put", "delete"}
    base_filters = [["id", TeamScope, lambda: None]]
    base_order = ("code", "asc")
    list_columns = ["id", "code", "name", "region", "supervisor_username", "active"]
    show_columns = list_columns
    add_columns = ["code", "name", "region", "supervisor_username", "active"]
    edit_columns = ["name", "region", "supervisor_username", "active"]
    search_columns = ["code", "name", "region", "active"]


class CollectorApi(ModelRestApi):
    resource_name = "collector"
    datamodel = WritableInterface(Collector)
    include_route_methods = READ_ONLY | {"post", "put", "delete"}
    base_filters = [["team_id", TeamScope, lambda: None]]
    base_order = ("code", "asc")
    list_columns = [
        "id",
        "code",
        "name",
        "team.code",
        "username",
        "skills",
        "languages",
        "regions",
        "capacity",
        "active",
    ]
    show_columns = list_columns
    add_columns = [
        "code",
        "name",
        "team",
        "username",
        "skills",
        "languages",
        "regions",
        "capacity",
        "active",
    ]
    edit_columns = ["name", "skills", "languages", "regions", "capacity", "active"]
    search_columns = ["code", "name", "team", "username", "active"]
    validators_columns = {"capacity": validate.Range(min=0, max=5000)}


class AuditTrailApi(ModelRestApi):
    resource_name = "audit_entry"
    datamodel = SQLAInterface(AuditEntry)
    include_route_methods = READ_ONLY
    base_order = ("id", "desc")
    list_columns = EXPORT_COLUMNS
    show_columns = EXPORT_COLUMNS
    search_columns = ["occurred_at", "actor", "action", "table_name", "row_id"]
