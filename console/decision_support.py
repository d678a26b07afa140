"""The Decision support page (决策支持): for analysts, supervisors and admins.

- **Models** (``/decision-support/``): every repayment-propensity version with its held-out
  metrics (AUC, Brier score, error rate, area ratio) and the calibration table of the one chosen;
  a version trained before the latest data import is flagged stale, here and beside the scores;
  the open cases' scores (how many, which version, deciles); training and scoring are queued as
  RQ jobs; and the champion/challenger readout.
- **Behaviour** (``/decision-support/behaviour``): payday effect, contacts by hour, channel and
  time window, strategy and treatment-step effectiveness, each with its sample size.
- **Forecast** (``/decision-support/forecast``): the roll-rate forecast with its backtest error,
  for the portfolio and each segment.
- **Simulation** (``/decision-support/simulate``): move the cases of one path to another and see
  the expected collected amount and cost of each arm, with intervals.

What cannot be computed (no model yet, too little history, an empty segment) is shown in plain
words on the page, never as a stack trace. Permissions (``DecisionSupportView``): ``can_read``
(the pages, running a simulation, which writes nothing) and ``can_train`` (queue training or
scoring).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select

import config
from casedb.delinquency import bucket_labels
from casedb.models import PropensityModel
from console.scope import current_roles
from reports import behaviour, forecast, strategy_simulation
from rules_service import propensity
from rules_service.propensity import FEATURE_LABELS


def _number(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return min(max(value, low), high)


class DecisionSupportView(BaseView):
    """Propensity models, behaviour patterns, forecast, simulation and the C/C readout."""

    route_base = "/decision-support"
    default_view = "index"

    def _session(self) -> Any:
        return self.appbuilder.session

    def _engine(self) -> Any:
        return self._session().get_bind()

    def _queue(self) -> Queue:
        return Queue(
            config.WORKER_QUEUES[-1], connection=Redis.from_url(current_app.config["REDIS_URL"])
        )

    # -- models and the readout --

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self) -> str:
        session = self._session()
        models = session.scalars(
            select(PropensityModel).order_by(PropensityModel.version.desc())
        ).all()
        chosen = None
        wanted = request.args.get("version", type=int)
        for model in models:
            if chosen is None or model.version == wanted:
                chosen = model
        stale = {m.version: propensity.stale_reason(session, m) for m in models}
        scores = propensity.score_summary(session)
        scored_stale = [stale.get(v) for v in scores["versions"] if stale.get(v)]
        with self._engine().connect() as connection:
            readout = strategy_simulation.challenger_readout(connection)
        return self.render_template(
            "decision_support.html",
            page="models",
            models=models,
            chosen=chosen,
            stale=stale,
            scores=scores,
            scored_stale=scored_stale,
            readout=readout,
            labels=FEATURE_LABELS,
            baselines=_baselines(),
        )

    @expose("/train", methods=["POST"])
    @has_access
    @permission_name("train")
    def train(self) -> Any:
        method = request.form.get("method", propensity.DEFAULT_METHOD)
        seed = _number(request.form.get("seed"), propensity.DEFAULT_SEED, 0, 2**31 - 1)
        _roles, username = current_roles()
        try:
            job = propensity.start_training(
                self._queue(), method, seed, propensity.DEFAULT_MAX_ITER, username
            )
        except propensity.PropensityError as error:
            flash(str(error), "danger")
        except RedisError:
            flash(gettext("The job queue is unavailable; try again later"), "danger")
        else:
            flash(gettext("Training queued (job %(job)s)", job=job.id), "info")
        return redirect(url_for("DecisionSupportView.index"))

    @expose("/score", methods=["POST"])
    @has_access
    @permission_name("train")
    def score(self) -> Any:
        _roles, username = current_roles()
        try:
            job = propensity.start_scoring(self._queue(), None, username)
        except RedisError:
            flash(gettext("The job queue is unavailable; try again later"), "danger")
        else:
            flash(gettext("Scoring queued (job %(job)s)", job=job.id), "info")
        return redirect(url_for("DecisionSupportView.index"))

    # -- behaviour --

    @expose("/behaviour")
    @has_access
    @permission_name("read")
    def behaviour(self) -> str:
        days = _number(request.args.get("days"), behaviour.DEFAULT_ATTRIBUTION_DAYS, 1, 90)
        with self._engine().connect() as connection:
            payday = behaviour.payday_effect(connection)
            contacts = behaviour.contact_patterns(connection, attribution_days=days)
            effect = behaviour.strategy_effectiveness(connection, attribution_days=days)
        return self.render_template(
            "decision_support_behaviour.html",
            page="behaviour",
            payday=payday,
            contacts=contacts,
            effect=effect,
            days=days,
        )

    # -- forecast --

    @expose("/forecast")
    @has_access
    @permission_name("read")
    def forecast(self) -> str:
        segment_by = request.args.get("segment_by") or None
        if segment_by not in (None, *forecast.SEGMENT_DIMENSIONS):
            segment_by = None
        horizon = _number(request.args.get("horizon"), forecast.DEFAULT_HORIZON, 1, 12)
        months = _number(request.args.get("months"), forecast.DEFAULT_MONTHS_AHEAD, 1, 24)
        error, tests, ahead = None, [], []
        try:
            with self._engine().connect() as connection:
                panel = forecast.read_panel(connection, segment_by)
                ahead = forecast.forecast(connection, months, segment_by, panel=panel)
                tests = forecast.backtest(connection, horizon, segment_by, panel=panel)
        except forecast.ForecastError as problem:
            error = str(problem)
        return self.render_template(
            "decision_support_forecast.html",
            page="forecast",
            error=error,
            tests=tests,
            ahead=ahead,
            segment_by=segment_by,
            horizon=horizon,
            months=months,
            dimensions=forecast.SEGMENT_DIMENSIONS,
        )

    # -- simulation --

    @expose("/simulate", methods=["GET", "POST"])
    @has_access
    @permission_name("read")
    def simulate(self) -> str:
        with self._engine().connect() as connection:
            costs = strategy_simulation.path_costs(connection)
        form = request.form if request.method == "POST" else request.args
        given = {
            "move_from": form.get("move_from", ""),
            "move_to": form.get("move_to", ""),
            "share": _number(form.get("share"), 100, 1, 100),
            "bucket": form.get("bucket") or "",
        }
        result, error = None, None
        if request.method == "POST":
            try:
                with self._engine().connect() as connection:
                    result = strategy_simulation.simulate(
                        connection,
                        given["move_from"],
                        given["move_to"],
                        given["share"],
                        given["bucket"] or None,
                    )
            except (strategy_simulation.SimulationError, propensity.PropensityError) as problem:
                error = str(problem)
        return self.render_template(
            "decision_support_simulate.html",
            page="simulate",
            paths=sorted(costs),
            costs=costs,
            buckets=bucket_labels(),
            given=given,
            result=result,
            error=error,
        )


def _baselines() -> list[tuple[str, float]]:
    from reports.decision_support import YEH_LIEN_ERROR_RATES  # noqa: PLC0415

    return list(YEH_LIEN_ERROR_RATES.items())
