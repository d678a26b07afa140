"""The re-evaluation runs page: how far each run has come, what fails, which versions were
isolated, for those who read the rules."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from rules_service import bulk_decide
from rules_service.bulk_decide import Reevaluator
from rules_service.decision_table import Kind
from rules_service.policy import Policy, publish_defaults
from rules_service.reevaluation import request_reevaluation, runs_progress
from rules_service.relay import Relay
from tests.console.conftest import sign_in


@pytest.fixture
def half_done(engine, assigned, monkeypatch):
    """The defaults published and their run worked off; then a run of one chunk per case whose
    first chunk the rules service decides and whose second fails (and is retried)."""
    with Session(engine) as session, session.begin():
        publish_defaults(session, by="analyst")
    policy = Policy()
    with Session(engine) as session:
        policy.refresh(session)
    reevaluator = Reevaluator(engine, policy)
    reevaluator.work()
    with Session(engine) as session, session.begin():
        run_id = request_reevaluation(
            session, "每日批处理 daily tick", by="scheduler", chunk_size=1
        ).id
    assert reevaluator.work_chunk().run_id == run_id

    def connection_lost(*args, **kwargs):
        raise RuntimeError("数据库连接中断 connection lost")

    monkeypatch.setattr(bulk_decide, "decide_cases", connection_lost)
    failed = reevaluator.work_chunk()
    assert failed.run_id == 0  # failed: retried later, the service carries on
    return run_id


def listed_runs(html: str) -> list[str]:
    return re.findall(r'class="run[^"]*" data-run="(\d+)"', html)


def test_a_run_shows_its_progress_and_the_chunk_that_keeps_failing(app, engine, half_done):
    with Session(engine) as session:
        [progress] = [run for run in runs_progress(session) if run.id == half_done]
    assert progress.chunks == progress.cases >= 2
    assert (progress.chunks_done, progress.evaluated, progress.failing) == (1, 1, 1)
    assert progress.percent == 100 // progress.chunks and progress.finished_at is None
    assert "connection lost" in progress.last_error

    response = sign_in(app, "analyst").get("/rules/reevaluation/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert listed_runs(html)[0] == str(half_done)  # the newest first
    row = html[html.index(f'data-run="{half_done}"') :]
    row = row[: row.index("</tr>")]
    assert "每日批处理 daily tick" in row and "scheduler" in row
    assert f"1 / {progress.cases}" in row  # cases decided of the cases in the run
    assert "数据库连接中断 connection lost" in row and "danger" in html
    # Unfinished runs: the page says so and refreshes itself.
    assert 'id="working"' in html and "location.reload" in html


def test_an_isolated_version_is_listed_with_the_version_running_instead(app, engine, assigned):
    with Session(engine) as session, session.begin():
        publish_defaults(session, by="analyst")
    relay = Relay(engine)
    relay.refresh()
    priority = relay.policy.current[Kind.PRIORITY]
    relay.policy.isolate(priority, "durable-rules error 111 in priority")
    relay.refresh()  # reports the isolation in the audit trail

    html = sign_in(app, "auditor").get("/rules/reevaluation/").get_data(as_text=True)
    isolations = html[html.index('id="isolations"') :]
    assert "durable-rules error 111 in priority" in isolations
    assert f"v{priority.table.version}" in isolations
    assert 'id="no-isolations"' not in html


def test_the_page_speaks_chinese_and_is_closed_to_collectors(app, half_done):
    html = sign_in(app, "supervisor1").get("/rules/reevaluation/").get_data(as_text=True)
    assert "重新评估" in html
    collector = sign_in(app, "collector1").get("/rules/reevaluation/")
    assert collector.status_code in (302, 403)
