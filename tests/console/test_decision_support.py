"""The Decision support page: who may see it, what it says without a model or history, a stale
model flagged beside its scores, the simulation form's plain-words refusal, and training queued
as an RQ job."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

import config
from casedb.models import (
    CasePropensity,
    CollectionCase,
    ImportBatch,
    ImportStatus,
    PropensityModel,
)
from casedb.session import transaction
from casedb.types import utcnow
from tests.console.conftest import sign_in

PAGES = ("/decision-support/", "/decision-support/behaviour", "/decision-support/forecast")


@pytest.mark.parametrize("username", ["admin", "analyst", "supervisor1"])
def test_analysts_supervisors_and_admins_see_every_tab(app, portfolio, username):
    client = sign_in(app, username)
    for page in (*PAGES, "/decision-support/simulate"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["collector1", "auditor"])
def test_collectors_and_auditors_do_not(app, username):
    client = sign_in(app, username)
    for page in PAGES:
        assert client.get(page).status_code in (302, 403, 404), page
    assert client.post("/decision-support/train").status_code in (302, 403, 404)


def test_without_a_model_or_history_the_page_says_so(app, portfolio):
    client = sign_in(app, "analyst")
    models = client.get("/decision-support/?_l=en").get_data(as_text=True)
    assert 'id="no-model"' in models
    assert "0 of 1 open cases have a score" in models or 'id="score-summary"' in models
    forecast = client.get("/decision-support/forecast").get_data(as_text=True)
    assert "too little history to forecast: 0 month(s) of statements" in forecast
    behaviour = client.get("/decision-support/behaviour").get_data(as_text=True)
    assert "no payment with a known day in the period" in behaviour
    simulated = client.post(
        "/decision-support/simulate", data={"move_from": "a", "move_to": "b", "share": "50"}
    ).get_data(as_text=True)
    assert 'id="simulation-error"' in simulated
    assert "has a repayment-propensity score" in simulated


def _model(session, version: int = 1) -> PropensityModel:
    bins = [
        {"bin": b, "rows": 10, "low": 0.1, "high": 0.9, "predicted": 0.5, "observed": 0.5}
        for b in range(1, 11)
    ]
    test = {
        "rows": 100,
        "paid": 50,
        "auc": 0.7421,
        "brier": 0.15,
        "error_rate": 0.19,
        "area_ratio": 0.48,
        "calibration_error": 0.05,
        "calibration": bins,
    }
    model = PropensityModel(
        version=version,
        method="logistic",
        seed=1,
        trained_at=utcnow() - timedelta(days=1),
        trained_by="analyst",
        data_as_of=date(2005, 9, 30),
        data_through=date(2005, 9, 30),
        features=["mpd_0", "utilisation_0"],
        unused_features={"credit_score": "no data in the training months"},
        split={"train": ["2005-04"], "calibration": "2005-05", "test": "2005-06", "rows": {}},
        metrics={"test": test, "train": test, "calibration": test},
        estimator=b"not used here",
        estimator_sha256="0" * 64,
    )
    session.add(model)
    session.flush()
    return model


def test_a_model_trained_before_the_latest_import_is_flagged_beside_its_scores(
    app, engine, portfolio
):
    with transaction(engine) as session:
        model = _model(session)
        case_id = session.scalar(select(CollectionCase.id))
        session.add(
            CasePropensity(case_id=case_id, model_id=model.id, score=0.3, as_of=date(2005, 9, 30))
        )
        session.add(
            ImportBatch(
                kind="payments",
                filename="p.csv",
                sha256="0" * 64,
                status=ImportStatus.COMPLETED,
                finished_at=utcnow(),
            )
        )
    page = sign_in(app, "supervisor1").get("/decision-support/").get_data(as_text=True)
    assert "0.7421" in page
    assert 'id="calibration-table"' in page
    assert 'class="label label-warning stale-flag"' in page
    assert 'id="stale-model"' in page
    assert 'class="alert alert-warning stale-scores"' in page
    assert "before the latest data import" in page
    assert "credit_score (no data in the training months)" in page


def test_training_and_scoring_are_queued_for_a_worker(app, portfolio, redis_connection):
    client = sign_in(app, "analyst")
    response = client.post("/decision-support/train", data={"method": "gbm", "seed": "3"})
    assert response.status_code == 302
    queue = Queue(config.WORKER_QUEUES[-1], connection=redis_connection)
    (job,) = queue.jobs
    assert job.func_name == "rules_service.propensity.training_job"
    assert job.args == ("gbm", 3, 150, "analyst")
    client.post("/decision-support/score")
    assert [j.func_name for j in queue.jobs][-1] == "rules_service.propensity.scoring_job"
    page = client.get("/decision-support/").get_data(as_text=True)
    assert "训练任务已排队" in page  # the console speaks Chinese by default
