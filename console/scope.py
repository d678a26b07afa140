"""Data scope: which cases a user may see, applied to every case query of the console."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_appbuilder.models.filters import BaseFilter
from sqlalchemy import false, select

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


class CaseScope(BaseFilter):
    """Flask-AppBuilder base filter that restricts a case view to the user's scope."""

    name = "Case scope"
    arg_name = "scope"

    def apply(self, query: Any, value: Any) -> Any:
        user = g.user
        roles = {role.name for role in getattr(user, "roles", [])}
        return query.filter(case_scope_condition(roles, getattr(user, "username", "")))
