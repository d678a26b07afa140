"""The decision log: what each table version decided for each case, and why.

Every ``rule_decision`` row names the table version and the rows that fired; the page searches
them by table, version, row, kind, case number and day ("which cases did row A03 of assignment
v7 decide?") and shows the conditions and facts each decision saw and what it changed. Users see
the decisions of the cases in their scope only (collectors their own cases, supervisors their
teams'), as everywhere else in the console; decisions hold no personal data beyond the facts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response, request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from sqlalchemy import ColumnElement, Select, cast, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB

from casedb.models import CollectionCase, RuleDecision, RulesetVersion
from console.rules_catalogue import kind_label
from console.scope import case_scope_condition, current_roles
from rules_service.decision_table import ROW_ID_PATTERN, TABLE_NAME_PATTERN, Kind

PAGE_SIZE = 50
MAX_PAGE = 10_000


class FilterError(ValueError):
    """A search the page cannot run, with the reason in the user's language."""


def row_condition(row_id: str, dialect: str) -> ColumnElement[bool]:
    """Decisions in which row ``row_id`` fired: JSON containment on PostgreSQL, a look into
    the JSON array on SQLite."""
    if dialect == "postgresql":
        return cast(RuleDecision.rows, JSONB).contains([row_id])
    each = func.json_each(RuleDecision.rows).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == row_id))


def parse_filters(args: Any) -> dict[str, Any]:
    """The search form's fields, checked; raises ``FilterError`` naming the first bad one."""
    filters: dict[str, Any] = {}
    ruleset = args.get("ruleset", "").strip()
    if ruleset:
        if len(ruleset) > 64 or not TABLE_NAME_PATTERN.match(ruleset):
            raise FilterError(gettext("Table: a table name such as assignment"))
        filters["ruleset"] = ruleset
    version = args.get("version", "").strip().lstrip("vV")
    if version:
        if not version.isdigit() or not 1 <= int(version) <= 2**31 - 1:
            raise FilterError(gettext("Version: a whole number from 1"))
        filters["version"] = int(version)
    row = args.get("row", "").strip()
    if row:
        if not ROW_ID_PATTERN.match(row):
            raise FilterError(gettext("Row: a row id such as A03"))
        filters["row"] = row
    kind = args.get("kind", "").strip()
    if kind:
        if kind not in {k.value for k in Kind}:
            raise FilterError(gettext("Kind: choose one of the listed kinds"))
        filters["kind"] = kind
    case_no = args.get("case", "").strip()
    if case_no:
        if len(case_no) > 64:
            raise FilterError(gettext("Case no.: at most 64 characters"))
        filters["case"] = case_no
    for name, label in (("since", gettext("From")), ("until", gettext("To"))):
        text = args.get(name, "").strip()
        if text:
            try:
                filters[name] = date.fromisoformat(text)
            except ValueError:
                raise FilterError(gettext("%(field)s: a date as YYYY-MM-DD", field=label)) from None
    if "since" in filters and "until" in filters and filters["since"] > filters["until"]:
        raise FilterError(gettext("The first day is after the last"))
    page = args.get("page", "1").strip() or "1"
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise FilterError(gettext("Page: a whole number from 1"))
    filters["page"] = int(page)
    return filters


def search(filters: dict[str, Any], dialect: str, scope: ColumnElement[bool]) -> Select:
    """The decisions matching ``filters`` in the user's scope, newest first, with case numbers."""
    query = (
        select(RuleDecision, CollectionCase.case_no)
        .join(CollectionCase, CollectionCase.id == RuleDecision.case_id)
        .where(scope)
    )
    if "ruleset" in filters:
        query = query.where(RuleDecision.ruleset == filters["ruleset"])
    if "version" in filters:
        query = query.where(RuleDecision.version == filters["version"])
    if "row" in filters:
        query = query.where(row_condition(filters["row"], dialect))
    if "kind" in filters:
        query = query.where(RuleDecision.kind == filters["kind"])
    if "case" in filters:
        query = query.where(CollectionCase.case_no == filters["case"])
    if "since" in filters:
        since = datetime.combine(filters["since"], time.min, tzinfo=UTC)
        query = query.where(RuleDecision.decided_at >= since)
    if "until" in filters:
        until = datetime.combine(filters["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(RuleDecision.decided_at < until)
    offset = (filters["page"] - 1) * PAGE_SIZE
    return query.order_by(RuleDecision.id.desc()).offset(offset).limit(PAGE_SIZE + 1)


class DecisionLogView(BaseView):
    """Rule decisions by table, version, row, kind, case and day, in the user's scope."""

    route_base = "/decisions"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Response:
        session = self.appbuilder.session
        args = {key: request.args.get(key, "") for key in request.args}
        try:
            filters = parse_filters(request.args)
        except FilterError as bad:
            return self._render(args, [], {}, error=str(bad), status=400)
        roles, username = current_roles()
        dialect = session.get_bind().dialect.name
        found = session.execute(
            search(filters, dialect, case_scope_condition(roles, username))
        ).all()
        more = len(found) > PAGE_SIZE
        found = found[:PAGE_SIZE]
        # Links from a decision to the version that took it, for those who may read versions.
        editors: dict[tuple[str, int], int] = {}
        if found and self.appbuilder.sm.has_access("can_read", "RulesetsView"):
            names = {decision.ruleset for decision, _ in found}
            editors = {
                (name, number): version_id
                for version_id, name, number in session.execute(
                    select(RulesetVersion.id, RulesetVersion.name, RulesetVersion.version).where(
                        RulesetVersion.name.in_(names)
                    )
                )
            }
        return self._render(args, found, editors, page=filters["page"], more=more)

    def _render(
        self,
        args: dict[str, str],
        found: list[Any],
        editors: dict[tuple[str, int], int],
        error: str = "",
        status: int = 200,
        page: int = 1,
        more: bool = False,
    ) -> Response:
        keep = {k: v for k, v in args.items() if k != "page" and v}
        html = self.render_template(
            "rules_decision_log.html",
            args=args,
            decisions=found,
            editors=editors,
            kinds=[(kind.value, kind_label(kind)) for kind in Kind],
            kind_label=kind_label,
            error=error,
            page=page,
            previous_args={**keep, "page": page - 1} if page > 1 else None,
            next_args={**keep, "page": page + 1} if more else None,
        )
        return Response(html, status=status)
