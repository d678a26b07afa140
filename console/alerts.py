"""The early-warning inbox (风险预警): alerts raised by the alert table, worked by people.

Each role sees the alerts of the cases in its data scope (collectors their own cases,
supervisors their teams', analysts, auditors and admins all), most severe first and oldest first
within a severity. Collectors and supervisors acknowledge and resolve (with a note) the alerts of
their scope; a supervisor assigns one to a collector of the case's team. Every step is an ORM
change under the signed-in user, so the audit trail keeps it. The summary counts the unresolved
alerts by team and kind. The service raises alerts and never closes them (rules_service.alerts).
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, lazy_gettext
from sqlalchemy import case, func, select

from casedb.models import (
    ALERT_SEVERITIES,
    UNRESOLVED_ALERT_STATUSES,
    Alert,
    AlertStatus,
    CollectionCase,
    Collector,
    Team,
)
from casedb.types import utcnow
from console.scope import case_scope_condition, current_roles

INBOX_LIMIT = 200
NOTE_LIMIT = 2000

SEVERITY_LABELS = {
    "critical": lazy_gettext("Critical"),
    "warning": lazy_gettext("Warning"),
    "info": lazy_gettext("Info"),
}
STATUS_LABELS = {
    AlertStatus.OPEN.value: lazy_gettext("Open"),
    AlertStatus.ACKNOWLEDGED.value: lazy_gettext("Acknowledged"),
    AlertStatus.ASSIGNED.value: lazy_gettext("Assigned"),
    AlertStatus.RESOLVED.value: lazy_gettext("Resolved"),
}
# The alert codes of the shipped alert table (rulesets/alert.json).
KIND_LABELS = {
    "missed_installments": lazy_gettext("Consecutive missed installments"),
    "payment_falling": lazy_gettext("Payments falling against history"),
    "rating_downgrade": lazy_gettext("Credit rating downgraded"),
    "broken_promises": lazy_gettext("Broken promises to pay"),
    "low_credit_score": lazy_gettext("Low credit score"),
    "debt_elsewhere": lazy_gettext("Delinquent at other lenders"),
    "no_recent_contact": lazy_gettext("No recent contact"),
    "no_right_party_contact": lazy_gettext("No conversation with the debtor"),
    # Raised by the treatment run for a manual task left open past its escalation time.
    "task_overdue": lazy_gettext("Task overdue"),
    # Raised by a write-off recommendation for a supervisor to decide (casedb.legal).
    "write_off_recommended": lazy_gettext("Write-off recommended"),
}


def severity_label(value: str) -> str:
    return str(SEVERITY_LABELS.get(value, value))


def status_label(value: Any) -> str:
    value = getattr(value, "value", value)
    return str(STATUS_LABELS.get(value, value))


def kind_label(value: str) -> str:
    return str(KIND_LABELS.get(value, value))


class RefusedError(Exception):
    """A request the inbox cannot do, with its HTTP status and the reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _severity_order() -> Any:
    return case(
        {severity: rank for rank, severity in enumerate(ALERT_SEVERITIES)},
        value=Alert.severity,
        else_=len(ALERT_SEVERITIES),
    )


def parse_filters(args: Any) -> dict[str, Any]:
    """The inbox's filters, checked; raises ``RefusedError`` (400) naming the first bad one."""
    filters: dict[str, Any] = {}
    status = args.get("status", "").strip() or "unresolved"
    if status not in {"unresolved", "all", *STATUS_LABELS}:
        raise RefusedError(gettext("Status: choose one of the listed statuses"), 400)
    filters["status"] = status
    severity = args.get("severity", "").strip()
    if severity:
        if severity not in SEVERITY_LABELS:
            raise RefusedError(gettext("Severity: choose one of the listed severities"), 400)
        filters["severity"] = severity
    kind = args.get("kind", "").strip()
    if kind:
        if len(kind) > 64:
            raise RefusedError(gettext("Kind: at most 64 characters"), 400)
        filters["kind"] = kind
    team = args.get("team", "").strip()
    if team:
        if not team.isdigit() or not 1 <= int(team) <= 2**31 - 1:
            raise RefusedError(gettext("Team: choose one of the listed teams"), 400)
        filters["team"] = int(team)
    return filters


class AlertsView(BaseView):
    """The alert inbox, its actions and the supervisor's counts by team and kind."""

    route_base = "/alerts"
    default_view = "inbox"

    def _scope(self) -> Any:
        roles, username = current_roles()
        return case_scope_condition(roles, username)

    def _alert(self, alert_id: int) -> Alert:
        """The alert if its case is in the user's scope; 404 otherwise (as if it did not exist)."""
        session = self.appbuilder.session
        alert = session.scalars(
            select(Alert)
            .join(CollectionCase, CollectionCase.id == Alert.case_id)
            .where(Alert.id == alert_id, self._scope())
        ).first()
        if alert is None:
            abort(404)
        return alert

    @expose("/")
    @has_access
    @permission_name("list")
    def inbox(self) -> Response:
        args = {key: request.args.get(key, "") for key in request.args}
        try:
            filters = parse_filters(request.args)
        except RefusedError as bad:
            return self._render(args, error=str(bad), status=bad.status)
        return self._render(args, filters)

    def _render(
        self,
        args: dict[str, str],
        filters: dict[str, Any] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        session = self.appbuilder.session
        found: list[Any] = []
        if filters is not None:
            query = (
                select(Alert, CollectionCase.case_no, Team.id, Team.name)
                .join(CollectionCase, CollectionCase.id == Alert.case_id)
                .outerjoin(Team, Team.id == CollectionCase.team_id)
                .where(self._scope())
            )
            if filters["status"] == "unresolved":
                query = query.where(Alert.status.in_(UNRESOLVED_ALERT_STATUSES))
            elif filters["status"] != "all":
                query = query.where(Alert.status == AlertStatus(filters["status"]))
            if "severity" in filters:
                query = query.where(Alert.severity == filters["severity"])
            if "kind" in filters:
                query = query.where(Alert.kind == filters["kind"])
            if "team" in filters:
                query = query.where(CollectionCase.team_id == filters["team"])
            query = query.order_by(_severity_order(), Alert.raised_at, Alert.id)
            found = session.execute(query.limit(INBOX_LIMIT)).all()
        may_assign = self.appbuilder.sm.has_access("can_assign", "AlertsView")
        collectors: dict[int, list[tuple[str, str]]] = {}
        if may_assign:
            team_ids = {team_id for *_, team_id, _ in found if team_id is not None}
            for team_id, username, name in session.execute(
                select(Collector.team_id, Collector.username, Collector.name)
                .where(
                    Collector.team_id.in_(team_ids),
                    Collector.active.is_(True),
                    Collector.username.is_not(None),
                )
                .order_by(Collector.name)
            ):
                collectors.setdefault(team_id, []).append((username, name))
        teams = session.execute(select(Team.id, Team.name).order_by(Team.name)).all()
        html = self.render_template(
            "alerts_inbox.html",
            args=args,
            alerts=found,
            error=error,
            teams=teams,
            collectors=collectors,
            may_act=self.appbuilder.sm.has_access("can_act", "AlertsView"),
            may_assign=may_assign,
            severities=[(value, str(label)) for value, label in SEVERITY_LABELS.items()],
            statuses=[(value, str(label)) for value, label in STATUS_LABELS.items()],
            kinds=[(value, str(label)) for value, label in KIND_LABELS.items()],
            severity_label=severity_label,
            status_label=status_label,
            kind_label=kind_label,
            limit=INBOX_LIMIT,
        )
        return Response(html, status=status)

    def _refused(self, bad: RefusedError) -> Response:
        self.appbuilder.session.rollback()
        return self._render({}, {"status": "unresolved"}, error=str(bad), status=bad.status)

    def _done(self, message: str) -> Response:
        self.appbuilder.session.commit()
        flash(message, "success")
        return redirect(url_for("AlertsView.inbox"))

    @expose("/<int:alert_id>/acknowledge", methods=["POST"])
    @has_access
    @permission_name("act")
    def acknowledge(self, alert_id: int) -> Response:
        alert = self._alert(alert_id)
        if alert.status is not AlertStatus.OPEN:
            return self._refused(
                RefusedError(gettext("Only an open alert can be acknowledged"), 409)
            )
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by = g.user.username
        alert.acknowledged_at = utcnow()
        return self._done(gettext("Alert acknowledged"))

    @expose("/<int:alert_id>/assign", methods=["POST"])
    @has_access
    @permission_name("assign")
    def assign(self, alert_id: int) -> Response:
        alert = self._alert(alert_id)
        session = self.appbuilder.session
        if alert.status is AlertStatus.RESOLVED:
            return self._refused(RefusedError(gettext("A resolved alert cannot be assigned"), 409))
        username = request.form.get("collector", "").strip()
        if not username or len(username) > 64:
            return self._refused(RefusedError(gettext("Choose a collector to assign to"), 400))
        team_id = session.scalar(
            select(CollectionCase.team_id).where(CollectionCase.id == alert.case_id)
        )
        collector = session.scalars(
            select(Collector).where(
                Collector.username == username,
                Collector.active.is_(True),
                Collector.team_id == team_id,
            )
        ).first()
        if team_id is None or collector is None:
            return self._refused(
                RefusedError(gettext("Assign only to an active collector of the case's team"), 400)
            )
        if alert.acknowledged_by is None:
            alert.acknowledged_by = g.user.username
            alert.acknowledged_at = utcnow()
        alert.status = AlertStatus.ASSIGNED
        alert.assigned_to = username
        return self._done(gettext("Alert assigned to %(name)s", name=collector.name))

    @expose("/<int:alert_id>/resolve", methods=["POST"])
    @has_access
    @permission_name("act")
    def resolve(self, alert_id: int) -> Response:
        alert = self._alert(alert_id)
        if alert.status is AlertStatus.RESOLVED:
            return self._refused(RefusedError(gettext("The alert is already resolved"), 409))
        note = request.form.get("note", "").strip()
        if not note:
            return self._refused(RefusedError(gettext("Say how the alert was resolved"), 400))
        if len(note) > NOTE_LIMIT:
            return self._refused(
                RefusedError(gettext("Note: at most %(n)d characters", n=NOTE_LIMIT), 400)
            )
        alert.status = AlertStatus.RESOLVED
        alert.resolved_by = g.user.username
        alert.resolved_at = utcnow()
        alert.resolution_note = note
        return self._done(gettext("Alert resolved"))

    @expose("/summary")
    @has_access
    @permission_name("summary")
    def summary(self) -> Response:
        """Unresolved alerts in the user's scope counted by team and kind."""
        session = self.appbuilder.session
        rows = session.execute(
            select(Team.name, Alert.kind, func.count())
            .select_from(Alert)
            .join(CollectionCase, CollectionCase.id == Alert.case_id)
            .outerjoin(Team, Team.id == CollectionCase.team_id)
            .where(self._scope(), Alert.status.in_(UNRESOLVED_ALERT_STATUSES))
            .group_by(Team.name, Alert.kind)
        ).all()
        no_team = gettext("No team")
        counts: dict[str, dict[str, int]] = {}
        kinds: set[str] = set()
        for team, kind, number in rows:
            counts.setdefault(team or no_team, {})[kind] = number
            kinds.add(kind)
        ordered_kinds = [k for k in KIND_LABELS if k in kinds] + sorted(kinds - set(KIND_LABELS))
        html = self.render_template(
            "alerts_summary.html",
            counts=dict(sorted(counts.items())),
            kinds=ordered_kinds,
            kind_label=kind_label,
        )
        return Response(html)
