"""Re-evaluation runs and isolated versions: is the rules service keeping up, and with what?

A publish or the daily tick asks for every open case to be decided again; the rules-service
processes work the run in chunks (``rules_service.bulk_decide``). This page shows each run's
progress (chunks and cases done, changes and decisions written, time taken), the chunks that
failed and are being retried with their error, and the versions a process stopped running
because they failed inside the engine, with the version running instead. Analysts, supervisors
and auditors read it; it holds no case data.
"""

from __future__ import annotations

from flask import Response
from flask_appbuilder import BaseView, expose, has_access

from console.rules_catalogue import kind_label
from rules_service.decision_table import Kind
from rules_service.reevaluation import isolations, runs_progress

RUNS_SHOWN = 20


class ReevaluationRunsView(BaseView):
    """The newest re-evaluation runs with their progress, and the isolated versions."""

    route_base = "/rules/reevaluation"
    default_view = "list"

    @expose("/")
    @has_access
    def list(self) -> Response:
        session = self.appbuilder.session
        runs = runs_progress(session, RUNS_SHOWN)
        return Response(
            self.render_template(
                "rules_reevaluation.html",
                runs=runs,
                isolated=isolations(session, RUNS_SHOWN),
                working=any(run.finished_at is None for run in runs),
                kind_label=lambda value: kind_label(Kind(value)),
            )
        )
