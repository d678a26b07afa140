"""Data scope: which rows a user may see, applied to every query of the console and the API."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import g
from flask_appbuilder.models.filters import BaseFilter
from sqlalchemy import false, select, true

from casedb.models import CollectionCase, Collector, Team
from console.roles import COLLECTOR, SEE_ALL_CASES, SUPERVISOR


def case_scope_condition(role_names: set[str], username: str) -> Any:
    """The SQL condition on ``CollectionCase`` for a user with these roles; never None.

    All cases for admins, analysts and auditors; a supervisor's teams' cases; a collector's own
    cases; nothing for anyone else.
    """
    if role_names & SEE_ALL_CASES:
        return CollectionCase.id.is_not(None)
    conditions = []
    if SUPERVISOR in role_names:
        teams = select(Team.id).where(Team.supervisor_username == username)
        conditions.append(CollectionCase.team_id.in_(teams))
    if COLLECTOR in role_names:
        mine = select(Collector.id).where(Collector.username == username)
        conditions.append(CollectionCase.collector_id.in_(mine))
    if not conditions:
        return false()
    condition = conditions[0]
    for other in conditions[1:]:
        condition = condition | other
    return condition


def team_scope_condition(role_names: set[str], username: str) -> Any:
    """The teams a user may see: all for oversight roles, a supervisor's own, none otherwise."""
    if role_names & SEE_ALL_CASES:
        return true()
    if SUPERVISOR in role_names:
        return Team.supervisor_username == username
    return false()


def current_roles() -> tuple[set[str], str]:
    user = g.user
    return {role.name for role in getattr(user, "roles", [])}, getattr(user, "username", "")


class CaseScope(BaseFilter):
    """Restricts a view to rows whose case is in the user's scope.

    The filter's column is the view model's link to a case (``id`` on cases, ``case_id`` on
    contacts and promises); subclasses link through another case column (customer, loan).
    """

    name = "Case scope"
    arg_name = "scope"
    # The column of CollectionCase the view's rows are linked by (a name: a mapped attribute
    # on an unmapped filter class would be read as a descriptor).
    case_link: ClassVar[str] = "id"

    def apply(self, query: Any, value: Any) -> Any:
        roles, username = current_roles()
        if roles & SEE_ALL_CASES:
            return query
        condition = case_scope_condition(roles, username)
        column = getattr(self.model, self.column_name)
        if column is CollectionCase.id:
            return query.filter(condition)
        linked = getattr(CollectionCase, self.case_link)
        return query.filter(column.in_(select(linked).where(condition)))


class CustomerScope(CaseScope):
    name = "Customer scope"
    case_link = "customer_id"


class LoanScope(CaseScope):
    name = "Loan scope"
    case_link = "loan_id"


class TeamScope(BaseFilter):
    """Teams (column ``id``) or collectors (column ``team_id``) the user may see."""

    name = "Team scope"
    arg_name = "team_scope"

    def apply(self, query: Any, value: Any) -> Any:
        roles, username = current_roles()
        if roles & SEE_ALL_CASES:
            return query
        condition = team_scope_condition(roles, username)
        column = getattr(self.model, self.column_name)
        if column is Team.id:
            return query.filter(condition)
        return query.filter(column.in_(select(Team.id).where(condition)))
