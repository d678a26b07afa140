"""Console views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access
from flask_appbuilder.actions import action
from flask_babel import gettext, lazy_gettext
from redis import Redis
from sqlalchemy import func, select

import config
from casedb.case_actions import (
    BulkActionRefused,
    BulkResult,
    change_status_of,
    hold,
    reassign,
)
from casedb.case_tasks import TaskRefused, complete_task
from casedb.contact_log import ContactRejected, log_contact
from casedb.delinquency import bucket_labels, business_date
from casedb.dialing import DialRefused, callable_reason, number_to_dial
from casedb.legal import (
    LegalRefused,
    approve_write_off,
    hand_off_to_legal,
    pending_write_off,
    recommend_write_off,
    reject_write_off,
)
from casedb.models import (
    CaseStatus,
    CaseTask,
    Channel,
    CollectionCase,
    Collector,
    ContactPoint,
    CreditSnapshot,
    Customer,
    Installment,
    Loan,
    OutboundMessage,
    Outcome,
    Party,
    RepaymentTransaction,
    Team,
    ThirdPartyContact,
)
from casedb.pii import mask_email, mask_phone
from casedb.timeline import case_timeline
from casedb.work_queue import get_next, my_queue
from console.compliance import (
    GateAnswer,
    audit_notes,
    check_dial,
    gate_answer,
)
from console.forms import ContactForm
from console.interfaces import CaseInterface
from console.labels import case_status_label
from console.scope import CaseScope, case_scope_condition, current_roles, team_scope_condition

BULK_ACTIONS = {
    "reassign": lazy_gettext("Reassign"),
    "change_status": lazy_gettext("Change status"),
    "hold": lazy_gettext("Put on hold"),
    "release": lazy_gettext("Release hold"),
}


DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def mask_recipient(channel: str, recipient: str | None) -> str:
    """A message's recipient as a collector may see it: numbers and addresses masked."""
    if not recipient:
        return ""
    if channel == "email":
        return mask_email(recipient)
    if channel in ("sms", "app_push"):
        return mask_phone(recipient)
    return recipient[:6] + "…"


class PortfolioView(BaseView):
    """The portfolio at a glance: accounts, open cases and overdue amount by bucket."""

    route_base = "/portfolio"
    default_view = "overview"

    @expose("/")
    @has_access
    def overview(self) -> str:
        session = self.appbuilder.session
        by_bucket = dict(
            session.execute(
                select(CollectionCase.bucket, func.count())
                .where(CollectionCase.closed_on.is_(None))
                .group_by(CollectionCase.bucket)
            ).all()
        )
        return self.render_template(
            "portfolio.html",
            as_of=business_date(session),
            customers=session.scalar(select(func.count()).select_from(Customer)),
            loans=session.scalar(select(func.count()).select_from(Loan)),
            buckets=[(label, by_bucket.get(label, 0)) for label in bucket_labels()],
            open_cases=sum(by_bucket.values()),
        )


class CaseView(ModelView):
    """Cases in the user's scope; ID numbers masked. Read-only here: status changes go through
    the life cycle, assignments through the rules."""

    datamodel = CaseInterface(CollectionCase)
    route_base = "/cases"
    list_title = lazy_gettext("Case list")
    show_title = lazy_gettext("Case")
    formatters_columns = {
        "status": case_status_label,
        **{
            column: (lambda value: "" if value is None else value)
            for column in ("priority_level", "next_action", "team.name", "collector.name")
        },
    }
    # Flask-AppBuilder adds each action's name ("reassign", ...) as a permission of its own.
    base_permissions = ["can_list", "can_show"]
    base_filters = [["id", CaseScope, lambda: None]]
    base_order = ("priority_score", "desc")
    list_columns = [
        "case_no",
        "customer.name",
        "customer.id_number_masked",
        "dpd",
        "bucket",
        "overdue_amount",
        "priority_level",
        "status",
        "team.name",
        "collector.name",
        "next_action",
    ]
    show_columns = [
        "case_no",
        "status",
        "customer.name",
        "customer.id_number_masked",
        "loan.loan_no",
        "opened_on",
        "closed_on",
        "dpd",
        "bucket",
        "overdue_principal",
        "overdue_interest",
        "overdue_fees",
        "overdue_at_entry",
        "outstanding_balance",
        "currency",
        "risk_level",
        "priority_score",
        "priority_level",
        "team.name",
        "collector.name",
        "strategy",
        "next_action",
        "next_action_due_at",
        "on_hold",
    ]
    # Not "status": Flask-AppBuilder looks enum values up as member names and fails.
    search_columns = ["case_no", "bucket", "dpd", "priority_level"]
    label_columns = {
        "case_no": lazy_gettext("Case no."),
        "customer.name": lazy_gettext("Customer"),
        "customer.id_number_masked": lazy_gettext("ID number"),
        "loan.loan_no": lazy_gettext("Loan no."),
        "dpd": lazy_gettext("DPD"),
        "bucket": lazy_gettext("Bucket"),
        "overdue_amount": lazy_gettext("Overdue"),
        "priority_level": lazy_gettext("Priority"),
        "status": lazy_gettext("Status"),
        "team.name": lazy_gettext("Team"),
        "collector.name": lazy_gettext("Collector"),
        "next_action": lazy_gettext("Next action"),
        "opened_on": lazy_gettext("Case opened on"),
        "closed_on": lazy_gettext("Closed on"),
        "overdue_principal": lazy_gettext("Overdue principal"),
        "overdue_interest": lazy_gettext("Overdue interest"),
        "overdue_fees": lazy_gettext("Overdue fees"),
        "overdue_at_entry": lazy_gettext("Overdue at entry"),
        "outstanding_balance": lazy_gettext("Balance"),
        "currency": lazy_gettext("Currency"),
        "risk_level": lazy_gettext("Risk level"),
        "priority_score": lazy_gettext("Priority score"),
        "strategy": lazy_gettext("Strategy"),
        "next_action_due_at": lazy_gettext("Next action due"),
        "on_hold": lazy_gettext("On hold"),
    }

    def _bulk(self, name: str, items: CollectionCase | Sequence[CollectionCase]) -> Response:
        cases = items if isinstance(items, Sequence) else [items]
        ids = ",".join(str(case.id) for case in cases if case is not None)
        return redirect(url_for("CaseBulkView.apply", action_name=name, ids=ids))

    @action("reassign", BULK_ACTIONS["reassign"], icon="fa-user")
    def reassign(self, items: Sequence[CollectionCase]) -> Response:
        return self._bulk("reassign", items)

    @action("change_status", BULK_ACTIONS["change_status"], icon="fa-exchange")
    def change_status(self, items: Sequence[CollectionCase]) -> Response:
        return self._bulk("change_status", items)

    @action("hold", BULK_ACTIONS["hold"], icon="fa-pause")
    def hold(self, items: Sequence[CollectionCase]) -> Response:
        return self._bulk("hold", items)

    @action("release", BULK_ACTIONS["release"], icon="fa-play")
    def release(self, items: Sequence[CollectionCase]) -> Response:
        return self._bulk("release", items)


class CaseBulkView(BaseView):
    """The second step of a bulk action on cases: its parameters and reason, then the change.

    The selected ids travel in the URL and are re-checked against the user's scope; each
    action needs the same permission as its entry in the case list's action menu.
    """

    route_base = "/cases/bulk"

    def _cases(self) -> list[CollectionCase]:
        roles, username = current_roles()
        try:
            ids = [int(part) for part in request.values.get("ids", "").split(",") if part]
        except ValueError:
            abort(400, gettext("ids: case ids separated by commas"))
        if not ids or len(ids) > 1000:
            abort(400, gettext("select between 1 and 1,000 cases"))
        return list(
            self.appbuilder.session.scalars(
                select(CollectionCase)
                .where(CollectionCase.id.in_(ids), case_scope_condition(roles, username))
                .order_by(CollectionCase.case_no)
            )
        )

    def _collectors(self) -> list[Collector]:
        roles, username = current_roles()
        return list(
            self.appbuilder.session.scalars(
                select(Collector)
                .where(
                    Collector.active,
                    Collector.team_id.in_(
                        select(Team.id).where(team_scope_condition(roles, username))
                    ),
                )
                .order_by(Collector.name)
            )
        )

    def _run(self, name: str, cases: list[CollectionCase]) -> BulkResult:
        session, actor = self.appbuilder.session, g.user.username
        reason = request.form.get("reason", "")
        if name == "reassign":
            try:
                collector_id = int(request.form.get("collector_id", ""))
            except ValueError:
                raise BulkActionRefused(gettext("choose a collector")) from None
            if collector_id not in {c.id for c in self._collectors()}:
                raise BulkActionRefused(gettext("choose a collector of a team you manage"))
            return reassign(session, cases, collector_id, actor=actor, reason=reason)
        if name == "change_status":
            try:
                target = CaseStatus(request.form.get("status", ""))
            except ValueError:
                raise BulkActionRefused(gettext("choose a status")) from None
            return change_status_of(session, cases, target, actor=actor, reason=reason)
        return hold(session, cases, name == "hold", actor=actor, reason=reason)

    @expose("/<action_name>", methods=["GET", "POST"])
    @has_access
    def apply(self, action_name: str) -> Response:
        if action_name not in BULK_ACTIONS:
            abort(404)
        if not self.appbuilder.sm.has_access(action_name, "CaseView"):
            abort(403)
        cases = self._cases()
        error, status = "", 200
        if request.method == "POST":
            session = self.appbuilder.session
            try:
                result = self._run(action_name, cases)
                session.commit()
            except BulkActionRefused as refused:
                session.rollback()
                error, status = str(refused), 400
            else:
                flash(result.summary(), "warning" if result.refused else "success")
                return redirect(url_for("CaseView.list"))
        page = self.render_template(
            "case_bulk.html",
            action_name=action_name,
            title=BULK_ACTIONS[action_name],
            cases=cases,
            collectors=self._collectors() if action_name == "reassign" else [],
            statuses=list(CaseStatus) if action_name == "change_status" else [],
            error=error,
        )
        return Response(page, status=status)


class QueueView(BaseView):
    """A collector's queue, and get-next that opens the top case and locks its customer."""

    route_base = "/queue"
    default_view = "queue"

    def _collector_id(self) -> int | None:
        return self.appbuilder.session.scalar(
            select(Collector.id).where(Collector.username == g.user.username)
        )

    @expose("/")
    @has_access
    def queue(self) -> str:
        collector_id = self._collector_id()
        items = my_queue(self.appbuilder.session, collector_id) if collector_id else []
        return self.render_template(
            "queue.html", items=items, is_collector=collector_id is not None
        )

    @expose("/next")
    @has_access
    def next(self) -> Response:
        collector_id = self._collector_id()
        item = None
        if collector_id is not None:
            redis = Redis.from_url(current_app.config["REDIS_URL"])
            item = get_next(self.appbuilder.session, redis, collector_id)
        if item is None:
            flash(gettext("No case is free in your queue"), "info")
            return redirect(url_for("QueueView.queue"))
        return redirect(url_for("WorkbenchView.show", case_id=item.case_id))


class WorkbenchView(BaseView):
    """One case to work: the customer and loan, schedule and payments, credit, contact points
    (masked, with dial), its path's tasks and messages, the timeline, and the contact form."""

    route_base = "/workbench"
    # Doing a task is part of working the case; reading a filed letter part of seeing it.
    method_permission_name = {
        "show": "show",
        "dial": "dial",
        "contact": "contact",
        "complete": "contact",
        "document": "show",
        "legal": "legal",
        "write_off": "legal",
        "decide_write_off": "decide",
    }

    def _case_in_scope(self, case_id: int) -> CollectionCase:
        roles, username = current_roles()
        case = self.appbuilder.session.scalar(
            select(CollectionCase).where(
                CollectionCase.id == case_id, case_scope_condition(roles, username)
            )
        )
        if case is None:
            abort(404)
        return case

    def _render(
        self,
        case: CollectionCase,
        error: str = "",
        status: int = 200,
        dialled: tuple[int, str] | None = None,
        gate: GateAnswer | None = None,
    ) -> Response:
        session = self.appbuilder.session
        contact_points = session.scalars(
            select(ContactPoint)
            .where(ContactPoint.customer_id == case.customer_id)
            .order_by(ContactPoint.is_primary.desc(), ContactPoint.id)
        ).all()
        page = self.render_template(
            "workbench.html",
            case=case,
            zone=case.customer.timezone or config.DEFAULT_TIMEZONE,
            as_of=business_date(session),
            contact_points=contact_points,
            not_callable={point.id: callable_reason(point) for point in contact_points},
            third_parties=session.scalars(
                select(ThirdPartyContact).where(ThirdPartyContact.customer_id == case.customer_id)
            ).all(),
            installments=session.scalars(
                select(Installment)
                .where(Installment.loan_id == case.loan_id)
                .order_by(Installment.seq)
            ).all(),
            payments=session.scalars(
                select(RepaymentTransaction)
                .where(RepaymentTransaction.loan_id == case.loan_id)
                .order_by(RepaymentTransaction.paid_at.desc())
                .limit(20)
            ).all(),
            credit=session.scalars(
                select(CreditSnapshot)
                .where(CreditSnapshot.customer_id == case.customer_id)
                .order_by(CreditSnapshot.reported_on.desc())
                .limit(5)
            ).all(),
            timeline=case_timeline(session, case.id, case.customer.timezone),
            tasks=session.scalars(
                select(CaseTask)
                .where(CaseTask.case_id == case.id)
                .order_by(CaseTask.due_at.desc(), CaseTask.id.desc())
                .limit(50)
            ).all(),
            messages=session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.case_id == case.id)
                .order_by(OutboundMessage.id.desc())
                .limit(50)
            ).all(),
            mask_recipient=mask_recipient,
            write_off=pending_write_off(session, case.id),
            may_legal=self.appbuilder.sm.has_access("can_legal", "WorkbenchView"),
            may_decide=self.appbuilder.sm.has_access("can_decide", "WorkbenchView"),
            channels=list(Channel),
            parties=list(Party),
            outcomes=list(Outcome),
            may_contact=self.appbuilder.sm.has_access("can_contact", "WorkbenchView"),
            may_dial=self.appbuilder.sm.has_access("can_dial", "WorkbenchView"),
            dialled=dialled,
            gate=gate,
            may_read_sources=self.appbuilder.sm.has_access("can_read", "KnowledgeBaseView"),
            may_read_checks=self.appbuilder.sm.has_access("can_read", "ComplianceLogView"),
            may_export_history=self.appbuilder.sm.has_access("can_read", "ComplianceReplayView"),
            error=error,
        )
        response = Response(page, status=status)
        if dialled:
            response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/<int:case_id>")
    @has_access
    def show(self, case_id: int) -> Response:
        return self._render(self._case_in_scope(case_id))

    @expose("/<int:case_id>/dial/<int:contact_point_id>", methods=["POST"])
    @has_access
    def dial(self, case_id: int, contact_point_id: int) -> Response:
        """Ask the compliance gate, then show the full number of one contact point to call it
        now; the trail records the reveal and the compliance log the gate's answer. A blocked
        call reveals nothing and says why; a call to review shows the warning with the number."""
        case = self._case_in_scope(case_id)
        session = self.appbuilder.session
        point = session.get(ContactPoint, contact_point_id)
        if point is None or point.customer_id != case.customer_id:
            return self._render(
                case, error=gettext("This number is not the case's customer's"), status=400
            )
        try:
            verdict = check_dial(session, case, point, g.user.username)
        except ValueError as error:  # the customer's time zone is unusable: fail closed
            session.rollback()
            return self._render(case, error=str(error), status=400)
        gate = gate_answer(verdict)
        if gate.blocked:
            session.commit()  # the compliance log keeps the refusal
            return self._render(case, gate=gate, status=400)
        try:
            number = number_to_dial(session, case, contact_point_id, g.user.username)
            session.commit()
        except DialRefused as refused:
            session.rollback()
            return self._render(case, error=str(refused), status=400)
        return self._render(
            case, dialled=(contact_point_id, number), gate=gate if gate.reasons else None
        )

    @expose("/<int:case_id>/task/<int:task_id>/done", methods=["POST"])
    @has_access
    def complete(self, case_id: int, task_id: int) -> Response:
        """Mark one of the case's open tasks done, with a note."""
        case = self._case_in_scope(case_id)
        session = self.appbuilder.session
        task = session.get(CaseTask, task_id)
        if task is None or task.case_id != case.id:
            abort(404)
        try:
            complete_task(session, task, by=g.user.username, note=request.form.get("note", ""))
            session.commit()
        except TaskRefused as refused:
            session.rollback()
            return self._render(case, error=str(refused), status=400)
        flash(gettext("Task done"), "success")
        return redirect(url_for("WorkbenchView.show", case_id=case.id))

    def _legal_step(self, case_id: int, step: Any, done: str, **arguments: Any) -> Response:
        case = self._case_in_scope(case_id)
        session = self.appbuilder.session
        try:
            step(session, case, by=g.user.username, **arguments)
            session.commit()
        except LegalRefused as refused:
            session.rollback()
            return self._render(case, error=str(refused), status=400)
        flash(done, "success")
        return redirect(url_for("WorkbenchView.show", case_id=case.id))

    @expose("/<int:case_id>/legal", methods=["POST"])
    @has_access
    def legal(self, case_id: int) -> Response:
        """Hand the case off to legal, with the reason."""
        return self._legal_step(
            case_id,
            hand_off_to_legal,
            gettext("Handed off to legal"),
            reason=request.form.get("reason", ""),
        )

    @expose("/<int:case_id>/write-off", methods=["POST"])
    @has_access
    def write_off(self, case_id: int) -> Response:
        """Recommend writing the case off; a supervisor decides."""
        return self._legal_step(
            case_id,
            recommend_write_off,
            gettext("Write-off recommended: a supervisor decides"),
            reason=request.form.get("reason", ""),
        )

    @expose("/<int:case_id>/write-off/<any(approve, reject):decision>", methods=["POST"])
    @has_access
    def decide_write_off(self, case_id: int, decision: str) -> Response:
        """A supervisor approves or rejects the recommended write-off."""
        if decision == "approve":
            return self._legal_step(case_id, approve_write_off, gettext("Case written off"))
        return self._legal_step(
            case_id,
            reject_write_off,
            gettext("Write-off rejected"),
            reason=request.form.get("reason", ""),
        )

    @expose("/<int:case_id>/message/<int:message_id>/document")
    @has_access
    def document(self, case_id: int, message_id: int) -> Response:
        """The letter filed for one of the case's messages, as the debtor receives it."""
        case = self._case_in_scope(case_id)
        message = self.appbuilder.session.get(OutboundMessage, message_id)
        if message is None or message.case_id != case.id or message.document is None:
            abort(404)
        return Response(
            message.document,
            mimetype=DOCX_MIMETYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{message.document_name}"',
                "Cache-Control": "no-store",
            },
        )

    @expose("/<int:case_id>/contact", methods=["POST"])
    @has_access
    def contact(self, case_id: int) -> Response:
        case = self._case_in_scope(case_id)
        session = self.appbuilder.session
        collector_id = session.scalar(
            select(Collector.id).where(Collector.username == g.user.username)
        )
        try:
            form = ContactForm.from_request(request.form, case.customer.timezone)
            log_contact(
                session,
                case,
                actor=g.user.username,
                collector_id=collector_id,
                **form.as_arguments(),
            )
        except (ContactRejected, ValueError) as exc:
            session.rollback()
            return self._render(case, error=str(exc), status=400)
        # What happened is saved whatever its notes say; notes the script audit blocks or
        # flags are logged for compliance and the collector is warned.
        warning = audit_notes(
            session,
            case,
            notes=form.notes,
            channel=form.channel.value,
            party=form.party.value,
            started_at=form.started_at,
            contact_point_id=form.contact_point_id,
            actor=g.user.username,
            collector_id=collector_id,
        )
        session.commit()
        if warning is not None:
            flash(warning, "warning")
        else:
            flash(gettext("Contact saved"), "success")
        return redirect(url_for("WorkbenchView.show", case_id=case.id))
