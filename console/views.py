"""Console views."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelRestApi, ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from redis import Redis
from sqlalchemy import func, select

from casedb.contact_log import ContactRejected, log_contact
from casedb.delinquency import bucket_labels, business_date
from casedb.models import (
    Channel,
    CollectionCase,
    Collector,
    ContactPoint,
    Customer,
    Loan,
    Outcome,
    Party,
)
from casedb.timeline import case_timeline
from casedb.work_queue import get_next, my_queue
from console.forms import ContactForm
from console.scope import CaseScope, case_scope_condition


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

    datamodel = SQLAInterface(CollectionCase)
    route_base = "/cases"
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
        "case_no": "案件号 Case",
        "customer.name": "客户 Customer",
        "customer.id_number_masked": "证件号 ID",
        "loan.loan_no": "借据号 Loan",
        "dpd": "逾期天数 DPD",
        "bucket": "阶段 Bucket",
        "overdue_amount": "逾期金额 Overdue",
        "priority_level": "优先级 Priority",
        "status": "状态 Status",
        "team.name": "团队 Team",
        "collector.name": "催收员 Collector",
        "next_action": "下一步 Next action",
    }


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
            flash("队列中没有可处理的案件 No case is free in your queue", "info")
            return redirect(url_for("QueueView.queue"))
        return redirect(url_for("WorkbenchView.show", case_id=item.case_id))


class WorkbenchView(BaseView):
    """One case to work: facts, contact points (masked), timeline, and the contact form."""

    route_base = "/workbench"

    def _case_in_scope(self, case_id: int) -> CollectionCase:
        roles = {role.name for role in g.user.roles}
        case = self.appbuilder.session.scalar(
            select(CollectionCase).where(
                CollectionCase.id == case_id, case_scope_condition(roles, g.user.username)
            )
        )
        if case is None:
            abort(404)
        return case

    def _render(self, case: CollectionCase, error: str = "", status: int = 200) -> Response:
        session = self.appbuilder.session
        page = self.render_template(
            "workbench.html",
            case=case,
            contact_points=session.scalars(
                select(ContactPoint).where(ContactPoint.customer_id == case.customer_id)
            ).all(),
            timeline=case_timeline(session, case.id),
            channels=list(Channel),
            parties=list(Party),
            outcomes=list(Outcome),
            error=error,
        )
        return Response(page, status=status)

    @expose("/<int:case_id>")
    @has_access
    def show(self, case_id: int) -> Response:
        return self._render(self._case_in_scope(case_id))

    @expose("/<int:case_id>/contact", methods=["POST"])
    @has_access
    def contact(self, case_id: int) -> Response:
        case = self._case_in_scope(case_id)
        session = self.appbuilder.session
        try:
            form = ContactForm.from_request(request.form, case.customer.timezone)
            log_contact(
                session,
                case,
                actor=g.user.username,
                collector_id=session.scalar(
                    select(Collector.id).where(Collector.username == g.user.username)
                ),
                **form.as_arguments(),
            )
            session.commit()
        except (ContactRejected, ValueError) as exc:
            session.rollback()
            return self._render(case, error=str(exc), status=400)
        flash("已保存 Contact saved", "success")
        return redirect(url_for("WorkbenchView.show", case_id=case.id))


class CaseApi(ModelRestApi):
    """``/api/v1/case/``: read-only cases in the caller's scope, ID numbers masked."""

    resource_name = "case"
    datamodel = SQLAInterface(CollectionCase)
    include_route_methods = {"get", "get_list", "info"}
    base_filters = [["id", CaseScope, lambda: None]]
    base_order = ("priority_score", "desc")
    list_columns = [
        "id",
        "case_no",
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
    ]
    show_columns = [*list_columns, "loan.loan_no", "opened_on", "outstanding_balance", "currency"]
    search_columns = ["case_no", "bucket", "dpd", "priority_level"]
