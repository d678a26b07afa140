"""The Reports page: a report asked for in the console is made by a real RQ worker (SimpleWorker,
burst) and downloaded; its progress; the form's errors; who sees which reports and runs; the
runs filed for a role; a failed run run again."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casedb.models import ReportRun, ReportStatus
from casedb.types import utcnow
from reports import jobs
from reports.catalogue import REPORTS
from reports.schedules import ReportSchedule, file_schedule
from tests.console.conftest import sign_in
from tests.reports.book import report_book_fixture  # noqa: F401  (fixture)

RUN_URL = re.compile(r"/reports/run/([0-9a-f]{32})$")


@pytest.fixture
def queue(app, redis_connection):
    return Queue(jobs.REPORT_QUEUE, connection=redis_connection)


def work(queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def ask(client, name: str, **form) -> object:
    return client.post(f"/reports/new/{name}", data=form)


def test_each_role_is_offered_its_reports(app, report_book):
    page = sign_in(app, "collector1").get("/reports/").get_data(as_text=True)
    for name in ("cases", "promises", "alerts"):
        assert f'id="report-{name}"' in page
    assert 'id="report-audit_trail"' not in page and 'id="report-roll_rates"' not in page
    assert "案件清单导出" in page, "titles in the user's language (zh by default)"
    auditor = sign_in(app, "auditor").get("/reports/").get_data(as_text=True)
    assert all(f'id="report-{name}"' in auditor for name in REPORTS)
    admin = sign_in(app, "admin").get("/reports/").get_data(as_text=True)
    assert 'id="report-queue"' in admin, "operators see the queue"
    assert 'id="report-queue"' not in auditor


def test_the_form_has_the_reports_parameters(app, report_book):
    client = sign_in(app, "supervisor1")
    page = client.get("/reports/new/cases").get_data(as_text=True)
    for name in ("status", "bucket", "team", "collector", "dpd_min", "dpd_max", "region"):
        assert f'name="{name}"' in page
    assert 'name="pii"' not in page, "only for roles that may unmask"
    assert '<option value="T1">一组 (T1)</option>' in page
    assert 'name="csrf_token"' in page and 'name="_format"' in page
    assert 'value="png"' not in page, "a list has no chart"
    assert 'name="pii"' in sign_in(app, "admin").get("/reports/new/cases").get_data(as_text=True)
    assert 'value="png"' in client.get("/reports/new/aging").get_data(as_text=True)
    missing = client.get("/reports/new/nope")
    assert missing.status_code == 302, "an unknown report: back to the list, with a message"
    denied = client.get("/reports/new/audit_trail")
    assert denied.status_code == 302


def test_bad_input_comes_back_as_the_form_with_the_reason(app, report_book):
    client = sign_in(app, "admin")
    response = ask(client, "promises", start="2025-04-01", end="2025-03-01")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "期间为空：开始日期 2025-04-01 晚于结束日期 2025-03-01" in page
    assert 'id="field-start"' in page and "has-error" in page
    assert 'value="2025-04-01"' in page, "what was typed is kept"
    unknown = ask(client, "cases", colour="red")
    assert unknown.status_code == 400
    assert "报表 cases 没有参数 colour" in unknown.get_data(as_text=True)
    english = ask(client, "cases", dpd_min="lots", _language="en")
    assert english.status_code == 400
    with app.app_context(), Session(app.extensions["sqlalchemy"].engine) as session:
        assert session.scalars(select(ReportRun)).all() == [], "nothing queued"


def test_a_report_runs_on_a_worker_and_downloads_within_the_users_scope(
    app, report_book, queue, engine
):
    client = sign_in(app, "collector1")
    response = ask(client, "cases", _language="en")
    assert response.status_code == 302
    token = RUN_URL.search(response.headers["Location"]).group(1)
    page = client.get(f"/reports/run/{token}").get_data(as_text=True)
    assert f"/reports/run/{token}/progress" in page, "a waiting run's page polls"
    assert client.get(f"/reports/run/{token}/progress").get_json()["status"] == "queued"
    assert client.get(f"/reports/run/{token}/download").status_code == 404

    work(queue)

    progress = client.get(f"/reports/run/{token}/progress").get_json()
    assert progress["status"] == "finished" and progress["progress"] == 100
    assert progress["download"] == f"/reports/run/{token}/download"
    page = client.get(f"/reports/run/{token}").get_data(as_text=True)
    assert 'id="download-link"' in page and "/progress" not in page
    download = client.get(progress["download"])
    assert download.status_code == 200
    assert download.mimetype == jobs.CONTENT_TYPES["xlsx"]
    assert "attachment" in download.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(download.data))
    rows = list(workbook["Cases"].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:] if r[0] != "Total"] == ["K1", "K2"], "collector1's own"
    cover = {r[0]: r[1] for r in workbook["Cover"].iter_rows(values_only=True) if r and r[0]}
    assert cover["Run by"] == "collector1"
    listing = client.get("/reports/").get_data(as_text=True)
    assert f'id="run-{token}"' in listing and progress["download"] in listing

    assert sign_in(app, "collector2").get(f"/reports/run/{token}").status_code == 404
    assert sign_in(app, "collector2").get(progress["download"]).status_code == 404
    assert sign_in(app, "admin").get(f"/reports/run/{token}").status_code == 200


def test_scheduled_reports_are_listed_for_their_role(app, report_book, queue, engine):
    schedule = ReportSchedule("weekly-compliance", "compliance_log", "weekly", "Auditor")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        ((_, run),) = file_schedule(session, schedule)
    jobs.enqueue(queue, run)
    work(queue)
    auditor = sign_in(app, "auditor").get("/reports/").get_data(as_text=True)
    filed = auditor.split('id="filed-runs"')[1]
    assert f'id="run-{run.token}"' in filed and "weekly-compliance" in filed
    assert sign_in(app, "auditor").get(f"/reports/run/{run.token}/download").status_code == 200
    supervisor = sign_in(app, "supervisor1")
    assert f'id="run-{run.token}"' not in supervisor.get("/reports/").get_data(as_text=True)
    assert supervisor.get(f"/reports/run/{run.token}").status_code == 404


def test_a_failed_report_says_why_and_runs_again(app, report_book, queue, monkeypatch):
    def broken(context):
        raise RuntimeError("out of paper")

    fine = REPORTS["aging"].run
    monkeypatch.setattr(REPORTS["aging"], "run", broken)
    client = sign_in(app, "supervisor1")
    token = RUN_URL.search(ask(client, "aging").headers["Location"]).group(1)
    work(queue)
    page = client.get(f"/reports/run/{token}").get_data(as_text=True)
    assert "RuntimeError: out of paper" in page and 'id="retry-button"' in page
    monkeypatch.setattr(REPORTS["aging"], "run", fine)
    again = client.post(f"/reports/run/{token}/retry")
    assert again.status_code == 302
    assert client.get(f"/reports/run/{token}/progress").get_json()["status"] == "queued"
    work(queue)
    assert client.get(f"/reports/run/{token}/progress").get_json()["status"] == "finished"
    assert client.post(f"/reports/run/{token}/retry").status_code == 302, "refused, with a message"


def test_a_run_whose_worker_died_is_failed_when_its_page_is_shown(app, report_book, queue, engine):
    client = sign_in(app, "admin")
    token = RUN_URL.search(ask(client, "cases").headers["Location"]).group(1)
    with Session(engine) as session, session.begin():
        run = session.scalar(select(ReportRun).where(ReportRun.token == token))
        session.execute(
            update(ReportRun)
            .where(ReportRun.id == run.id)
            .values(status=ReportStatus.RUNNING, heartbeat_at=utcnow() - timedelta(hours=1))
        )
        job_id = run.job_id
    Job.fetch(job_id, connection=queue.connection).delete()  # and its job is gone
    progress = client.get(f"/reports/run/{token}/progress").get_json()
    assert progress["status"] == "failed"
    assert progress["error"].startswith("no heartbeat since")


def test_an_expired_report_is_gone(app, report_book, queue, engine):
    client = sign_in(app, "admin")
    token = RUN_URL.search(ask(client, "cases").headers["Location"]).group(1)
    work(queue)
    jobs.purge_expired(engine, now=utcnow() + timedelta(days=400))
    assert client.get(f"/reports/run/{token}/download").status_code == 410
    assert client.get("/reports/run/not-a-token").status_code == 404
