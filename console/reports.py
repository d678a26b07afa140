"""The Reports page: pick a named report, fill in its parameters, run it on an RQ worker, follow
its progress and download the file; and the reports the schedules filed for one's role.

Every role gets the page; which reports each may ask for, and the data each report holds, are
the report's own rule (:mod:`reports.catalogue`; a collector's case export holds their cases
only). The form's fields come from the report's parameters, in the user's language; what the
report refuses (an unknown parameter, an empty period, a team that is not one's own) comes back
as the form with the reason, never a stack trace. Nothing is made in the web request: the run is
recorded, committed and queued for a worker (:mod:`reports.jobs`).

The list shows the user's own runs and the scheduled reports filed for a role they hold (an
admin sees every run, and the queue's counts). A run whose worker died is failed by the
watchdog, here too when its page is shown, and can be run again.

Permissions (``ReportsView``): ``can_list`` (the pages, progress, downloads) and ``can_run``
(asking for a report, running a failed one again).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import get_locale, gettext, lazy_gettext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import and_, or_, select

import config
from casedb.models import ACTIVE_REPORT_STATUSES, ReportRun, ReportStatus
from console.roles import ADMIN
from console.scope import current_roles
from reports import jobs
from reports.catalogue import REPORTS, available_to, get_report
from reports.labels import LANGUAGES, say
from reports.parameters import CHOICE, CHOICES, ReportError
from reports.report import Requester, local_time

TOKEN = re.compile(r"^[0-9a-f]{32}$")
RECENT_RUNS = 50
STATUS_LABELS = {
    ReportStatus.QUEUED: lazy_gettext("Queued"),
    ReportStatus.RUNNING: lazy_gettext("Running"),
    ReportStatus.FINISHED: lazy_gettext("Finished"),
    ReportStatus.FAILED: lazy_gettext("Failed"),
    ReportStatus.EXPIRED: lazy_gettext("Expired"),
}
STATUS_STYLES = {
    ReportStatus.QUEUED: "info",
    ReportStatus.RUNNING: "primary",
    ReportStatus.FINISHED: "success",
    ReportStatus.FAILED: "danger",
    ReportStatus.EXPIRED: "default",
}
FORMAT_LABELS = {
    "xlsx": lazy_gettext("Excel workbook (xlsx)"),
    "json": lazy_gettext("JSON"),
    "png": lazy_gettext("Chart image (png)"),
}
LANGUAGE_LABELS = {"zh": "中文", "en": "English"}


def _language() -> str:
    locale = get_locale()
    return "en" if locale is not None and str(locale).startswith("en") else "zh"


def _requester() -> Requester:
    roles, username = current_roles()
    return Requester(username, frozenset(roles))


class ReportsView(BaseView):
    """Named reports as RQ jobs, with progress and downloads."""

    route_base = "/reports"
    default_view = "index"

    # -- helpers --

    def _session(self) -> Any:
        return self.appbuilder.session

    def _redis(self) -> Redis:
        return Redis.from_url(current_app.config["REDIS_URL"])

    def _visible(self, requester: Requester) -> Any:
        """The runs the user may see: their own, and those filed for a role they hold."""
        if ADMIN in requester.roles:
            return ReportRun.id.is_not(None)
        return or_(
            ReportRun.owner == requester.username,
            and_(ReportRun.owner.is_(None), ReportRun.role.in_(sorted(requester.roles))),
        )

    def _run(self, token: str) -> ReportRun:
        if not TOKEN.match(token):
            abort(404)
        run = self._session().scalar(
            select(ReportRun).where(ReportRun.token == token, self._visible(_requester()))
        )
        if run is None:
            abort(404)
        return run

    def _check_alive(self, run: ReportRun) -> None:
        """Fail the run now if its worker died (the scheduler's watchdog would, within a minute)."""
        if run.status not in ACTIVE_REPORT_STATUSES:
            return
        try:
            connection = self._redis()
            connection.ping()
        except RedisError:
            connection = None
        session = self._session()
        if jobs.watchdog(session.get_bind(), connection, run_ids=[run.id]):
            session.commit()  # end the read transaction: see what the watchdog wrote
            session.refresh(run)

    def _describe(self, run: ReportRun, language: str) -> dict[str, Any]:
        report = REPORTS.get(run.report)
        parameters = []
        if report is not None:
            try:
                values = report.params.parse(run.parameters or {}, run.as_of, report.name)
                parameters = report.params.describe(values, language)
            except ReportError:
                parameters = [(k, str(v)) for k, v in (run.parameters or {}).items() if v]
        return {
            "run": run,
            "title": say(report.title, language) if report else run.report,
            "parameters": parameters,
            "status": STATUS_LABELS.get(run.status, run.status),
            "style": STATUS_STYLES.get(run.status, "default"),
            "created": local_time(run.created_at),
            "finished": local_time(run.finished_at),
            "expires": local_time(run.expires_at),
            "download": url_for("ReportsView.download", token=run.token)
            if run.status == ReportStatus.FINISHED and run.file_path
            else None,
            "active": run.status in ACTIVE_REPORT_STATUSES,
        }

    def _queue_counts(self) -> dict[str, int] | None:
        """For admins: the report queue's waiting, running and failed jobs (RQ's own counts)."""
        try:
            queue = Queue(jobs.REPORT_QUEUE, connection=self._redis())
            return {
                "queued": queue.count,
                "started": StartedJobRegistry(queue=queue).count,
                "failed": FailedJobRegistry(queue=queue).count,
            }
        except RedisError:
            return None

    # -- pages --

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self) -> str:
        requester, language = _requester(), _language()
        runs = self._session().scalars(
            select(ReportRun)
            .where(self._visible(requester))
            .order_by(ReportRun.id.desc())
            .limit(RECENT_RUNS)
        )
        rows = [self._describe(run, language) for run in runs]
        mine = [r for r in rows if r["run"].owner == requester.username]
        filed = [r for r in rows if r["run"].owner != requester.username]
        return self.render_template(
            "reports_index.html",
            reports=[
                {
                    "name": report.name,
                    "title": say(report.title, language),
                    "description": say(report.description, language),
                    "chart": report.chart,
                }
                for report in available_to(requester)
            ],
            mine=mine,
            filed=filed,
            any_active=any(r["active"] for r in rows),
            # An admin sees every run: the others' are not "filed for" them.
            filed_title=gettext("Everyone else's reports")
            if ADMIN in requester.roles
            else gettext("Filed for my role"),
            queue=self._queue_counts() if ADMIN in requester.roles else None,
            retention_days=config.REPORT_RETENTION_DAYS,
        )

    def _report(self, name: str, requester: Requester) -> Any:
        """The report ``name`` if the user may ask for it, else None (with a message)."""
        try:
            report = get_report(name)
        except ReportError as error:
            flash(error.message(_language()), "danger")
            return None
        if not report.allowed(requester):
            flash(gettext("This report is not available to you"), "danger")
            return None
        return report

    @expose("/new/<name>")
    @has_access
    @permission_name("list")
    def new(self, name: str) -> Response | str:
        """The report's form."""
        requester = _requester()
        report = self._report(name, requester)
        if report is None:
            return redirect(url_for("ReportsView.index"))
        return self._form(report, requester, {}, None)

    def _form(
        self,
        report: Any,
        requester: Requester,
        given: dict[str, Any],
        error: ReportError | None,
        status: int = 200,
    ) -> Any:
        language = _language()
        session = self._session()
        fields = []
        for param in report.params:
            if param.advanced and not requester.may_see_pii():
                continue
            options = [(code, say(label, language)) for code, label in param.choices(session)]
            value = given.get(param.name)
            fields.append(
                {
                    "name": param.name,
                    "kind": param.kind,
                    "label": say(param.label, language),
                    "help": say(param.help, language) if param.help else "",
                    "default": "" if param.default is None else str(param.default),
                    "options": options,
                    "multiple": param.kind == CHOICES,
                    "select": param.kind in (CHOICE, CHOICES),
                    "value": value if value is not None else "",
                    "selected": value if isinstance(value, list) else [],
                    "error": error is not None and error.param == param.name,
                }
            )
        formats = [f for f in ("xlsx", "json", "png") if f != "png" or report.chart]
        page = self.render_template(
            "reports_form.html",
            report={
                "name": report.name,
                "title": say(report.title, language),
                "description": say(report.description, language),
            },
            fields=fields,
            formats=[(f, FORMAT_LABELS[f]) for f in formats],
            languages=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGES],
            chosen_format=given.get("_format", "xlsx"),
            chosen_language=given.get("_language", language),
            error=error.message(language) if error is not None else "",
        )
        return Response(page, status=status)

    @expose("/new/<name>", methods=["POST"])
    @has_access
    @permission_name("run")
    def submit(self, name: str) -> Response:
        """Check the form, record the run, queue it; the form again with the reason if refused."""
        requester = _requester()
        report = self._report(name, requester)
        if report is None:
            return redirect(url_for("ReportsView.index"))
        raw: dict[str, Any] = {}
        for key in request.form:
            if key in ("csrf_token", "_format", "_language"):
                continue
            param = report.params.get(key)
            if param is not None and param.kind == CHOICES:
                values = [v for v in request.form.getlist(key) if v.strip()]
            else:  # an unknown name goes through too: the report refuses it by name
                values = request.form.get(key, "").strip()
            if values:
                raw[key] = values
        fmt = request.form.get("_format", "xlsx")
        language = request.form.get("_language", _language())
        given = {**raw, "_format": fmt, "_language": language}
        session = self._session()
        try:
            run = jobs.request_run(
                session,
                report.name,
                raw,
                requester=requester,
                fmt=fmt,
                language=language,
            )
            session.commit()
        except ReportError as error:
            session.rollback()
            return self._form(report, requester, given, error, status=400)
        try:
            jobs.enqueue(Queue(jobs.REPORT_QUEUE, connection=self._redis()), run)
        except RedisError as error:
            jobs._fail(session.get_bind(), run.id, f"the job queue is unavailable: {error}")
            flash(gettext("The job queue is unavailable; try again later"), "danger")
            return redirect(url_for("ReportsView.run", token=run.token))
        return redirect(url_for("ReportsView.run", token=run.token))

    @expose("/run/<token>")
    @has_access
    @permission_name("list")
    def run(self, token: str) -> str:
        run = self._run(token)
        self._check_alive(run)
        described = self._describe(run, _language())
        return self.render_template(
            "reports_run.html",
            item=described,
            may_retry=run.status in (ReportStatus.FAILED, ReportStatus.EXPIRED),
            is_admin=ADMIN in _requester().roles,
        )

    @expose("/run/<token>/progress")
    @has_access
    @permission_name("list")
    def progress(self, token: str) -> Response:
        run = self._run(token)
        self._check_alive(run)
        described = self._describe(run, _language())
        return jsonify(
            status=run.status.value,
            label=str(described["status"]),
            progress=run.progress,
            stage=run.stage,
            rows=run.rows,
            message=run.message,
            error=run.error,
            download=described["download"],
        )

    @expose("/run/<token>/download")
    @has_access
    @permission_name("list")
    def download(self, token: str) -> Response:
        from flask import send_file  # noqa: PLC0415

        run = self._run(token)
        if run.status == ReportStatus.EXPIRED:
            abort(410, gettext("This report has expired; run it again"))
        path = jobs.file_of(run)
        if path is None:
            abort(404)
        return send_file(
            path,
            mimetype=jobs.CONTENT_TYPES.get(run.format, "application/octet-stream"),
            as_attachment=True,
            download_name=run.file_name or path.name,
        )

    @expose("/run/<token>/retry", methods=["POST"])
    @has_access
    @permission_name("run")
    def retry(self, token: str) -> Response:
        run = self._run(token)
        session = self._session()
        try:
            jobs.retry_run(session, run)
            session.commit()
        except ReportError as error:
            session.rollback()
            flash(error.message(_language()), "danger")
            return redirect(url_for("ReportsView.run", token=token))
        try:
            jobs.enqueue(Queue(jobs.REPORT_QUEUE, connection=self._redis()), run)
        except RedisError as error:
            jobs._fail(session.get_bind(), run.id, f"the job queue is unavailable: {error}")
            flash(gettext("The job queue is unavailable; try again later"), "danger")
        else:
            flash(gettext("The report is queued again"), "info")
        return redirect(url_for("ReportsView.run", token=token))
