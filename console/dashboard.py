"""The dashboard (仪表盘): KPI tiles and charts of the collection metrics, per role, live.

Every role lands here after signing in and sees its own data scope (console/scope.py): a
collector their own cases' numbers, a supervisor their teams', analysts, auditors and admins
everything. Filters: the period (start, end), a team (among those the user may see), a product
and a region. The tiles — overdue rate, recovery rate, average collection cycle, promise-kept
rate, right-party-contact rate, collected — and the charts — recovery rate per team (bars), the
overdue-rate trend (line), DPD aging (stacked bars), the roll-rate heat map and the collector
league table — come from ``reports.metrics``; the charts are drawn on the server by
``reports.charts`` (SVG; PNG with ``.png``) and nothing is loaded from the internet.

Numbers follow the facts: metric results and charts are cached under the data version
(``reports.metrics.data_version``: the business date, the latest snapshot and the newest row of
every table the metrics read), so a payment, a logged call or the daily tick shows at the next
request, and an unchanged dashboard is served from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from flask import Response, abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder import IndexView as AppBuilderIndexView
from flask_appbuilder.security.decorators import permission_name
from flask_babel import get_locale, gettext, lazy_gettext
from sqlalchemy import select

from casedb.models import Collector, Customer, Product, Team
from console.roles import COLLECTOR, SEE_ALL_CASES, SUPERVISOR
from console.scope import current_roles
from reports import charts, metrics
from reports.metrics import Scope
from reports.snapshots import business_date

# Months the default period reaches back (the business date's month and the five before it).
DEFAULT_MONTHS = 6
PRODUCT_LABELS = {
    Product.CREDIT_CARD.value: lazy_gettext("Credit card"),
    Product.CASH_LOAN.value: lazy_gettext("Cash loan"),
    Product.CONSUMER_LOAN.value: lazy_gettext("Consumer loan"),
    Product.MORTGAGE.value: lazy_gettext("Mortgage"),
    Product.AUTO_LOAN.value: lazy_gettext("Auto loan"),
}
CHART_TITLES = {
    "team_recovery": lazy_gettext("Recovery rate by team"),
    "overdue_trend": lazy_gettext("Overdue rate trend"),
    "aging": lazy_gettext("Open cases by DPD bucket"),
    "roll_rates": lazy_gettext("Roll rates"),
    "league": lazy_gettext("Collector league table"),
}


class FilterError(ValueError):
    """A filter the dashboard cannot take, with the message to show."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking and what they may see."""

    roles: frozenset[str]
    username: str
    teams: tuple[tuple[int, str], ...]
    sees_all: bool
    collector_id: int | None

    @property
    def is_collector_only(self) -> bool:
        return not self.sees_all and SUPERVISOR not in self.roles


def viewer(session: Any) -> Viewer:
    roles, username = current_roles()
    sees_all = bool(roles & SEE_ALL_CASES)
    query = select(Team.id, Team.name).order_by(Team.name)
    if not sees_all:
        if SUPERVISOR in roles:
            query = query.where(Team.supervisor_username == username)
        else:
            query = query.where(Team.id.is_(None))
    teams = tuple((row.id, row.name) for row in session.execute(query))
    collector_id = None
    if not sees_all and SUPERVISOR not in roles and COLLECTOR in roles:
        collector_id = session.scalar(select(Collector.id).where(Collector.username == username))
    return Viewer(frozenset(roles), username, teams, sees_all, collector_id)


def _month_start(day: date, months_back: int) -> date:
    month = day.month - months_back
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1)


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise FilterError(gettext("%(what)s: a date as YYYY-MM-DD", what=what)) from error


def parse_scope(args: Any, who: Viewer, today: date) -> Scope:
    """The scope the request asks for, within what the viewer may see; raises FilterError."""
    start_text = args.get("start", "").strip()
    end_text = args.get("end", "").strip()
    end = _day(end_text, gettext("End")) if end_text else today
    start = (
        _day(start_text, gettext("Start")) if start_text else _month_start(end, DEFAULT_MONTHS - 1)
    )
    if start > end:
        raise FilterError(gettext("The period starts after it ends"))
    team_id = None
    team_text = args.get("team", "").strip()
    if team_text:
        if not team_text.isdigit() or int(team_text) not in {t for t, _ in who.teams}:
            raise FilterError(gettext("Team: choose one of the listed teams"))
        team_id = int(team_text)
    product = args.get("product", "").strip() or None
    if product is not None and product not in PRODUCT_LABELS:
        raise FilterError(gettext("Product: choose one of the listed products"))
    region = args.get("region", "").strip() or None
    if region is not None and len(region) > 32:
        raise FilterError(gettext("Region: at most 32 characters"))
    scope = Scope(start, end, team_id=team_id, product=product, region=region)
    if who.sees_all:
        return scope
    if SUPERVISOR in who.roles:
        return replace(scope, team_ids=tuple(t for t, _ in who.teams))
    # A collector (or a role with no case scope): their own cases only; -1 matches nothing.
    return replace(scope, collector_id=who.collector_id if who.collector_id else -1)


def _texts() -> dict[str, str]:
    return {
        "team_recovery": gettext("Recovery rate by team"),
        "overdue_trend": gettext("Overdue rate trend"),
        "by_count": gettext("by count"),
        "by_balance": gettext("by balance"),
        "aging": gettext("Open cases by DPD bucket"),
        "roll_rates": gettext("Roll rates"),
        "from": gettext("from"),
        "to": gettext("to"),
        "league": gettext("Collected by collector"),
        "recovery": gettext("recovery"),
        "none": gettext("(none)"),
        "no_data": gettext("No data"),
    }


def _aging_group(scope: Scope, who: Viewer) -> str:
    """Stack aging by team when the scope spans teams, else by collector."""
    if scope.team_id is not None or scope.collector_id is not None:
        return "collector"
    if not who.sees_all and len(who.teams) <= 1:
        return "collector"
    return "team"


class Dashboard:
    """The metrics of one scope, each computed once per data version (cached)."""

    def __init__(self, connection: Any, scope: Scope, who: Viewer) -> None:
        self.connection = connection
        self.scope = scope
        self.who = who
        self.version = metrics.data_version(connection)

    def metric(self, name: str) -> Any:
        compute = {
            "tiles": lambda: metrics.dashboard_tiles(self.connection, self.scope),
            "team_recovery": lambda: metrics.recovery_rate(
                self.connection, self.scope, group_by="team"
            ),
            "overdue_trend": lambda: metrics.overdue_rate_trend(self.connection, self.scope),
            "aging": lambda: metrics.dpd_bucket_aging(
                self.connection, self.scope, group_by=_aging_group(self.scope, self.who)
            ),
            "roll_rates": lambda: metrics.roll_rates(self.connection, self.scope),
            "league": lambda: metrics.collector_league_table(self.connection, self.scope),
        }[name]
        key = charts.cache_key(name, self.scope.key(), self.version, self._group())
        return charts.METRICS.get(key, compute)

    def _group(self) -> str:
        return _aging_group(self.scope, self.who)

    def chart(self, name: str, fmt: str) -> tuple[bytes, str]:
        """The chart's bytes and its cache key (the ETag)."""
        language = str(get_locale() or "")
        key = charts.cache_key("chart", name, self.scope.key(), self.version, self._group())
        key = charts.cache_key(key, language, fmt)
        draw = {
            "team_recovery": charts.team_recovery_bars,
            "overdue_trend": charts.overdue_trend_line,
            "aging": charts.aging_stacked_bars,
            "league": charts.league_chart,
        }
        texts = _texts()
        if name == "roll_rates":
            body = charts.CHARTS.get(
                key,
                lambda: charts.roll_rate_heatmap(self.metric(name), texts=texts, fmt=fmt),
            )
        else:
            body = charts.CHARTS.get(key, lambda: draw[name](self.metric(name), texts, fmt))
        return body, key


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _money(value: Any) -> str:
    return f"{value:,.2f}"


def tiles_for(tiles: dict[str, Any]) -> list[dict[str, Any]]:
    """The KPI tiles as the template shows them: id, label, value, raw value, detail."""
    overdue = tiles["overdue_rate"]
    recovery = tiles["recovery_rate"]
    cycle = tiles["average_collection_cycle"]
    promises = tiles["promise_kept_rate"]
    contacts = tiles["right_party_contact_rate"]
    return [
        {
            "id": "overdue-rate",
            "label": gettext("Overdue rate"),
            "value": _percent(overdue.by_count),
            "raw": overdue.by_count,
            "detail": gettext(
                "by balance %(rate)s; %(late)s of %(accounts)s accounts on %(day)s",
                rate=_percent(overdue.by_balance),
                late=overdue.overdue_accounts,
                accounts=overdue.accounts,
                day=overdue.as_of or "—",
            ),
        },
        {
            "id": "recovery-rate",
            "label": gettext("Recovery rate"),
            "value": _percent(recovery.rate),
            "raw": recovery.rate,
            "detail": gettext(
                "%(collected)s of %(base)s overdue at entry",
                collected=_money(recovery.collected),
                base=_money(recovery.overdue_at_entry),
            ),
        },
        {
            "id": "average-cycle",
            "label": gettext("Average collection cycle"),
            "value": "—"
            if cycle.average_days is None
            else gettext("%(days).1f days", days=cycle.average_days),
            "raw": cycle.average_days,
            "detail": gettext(
                "%(closed)s cases closed; open cases %(age)s days old on average",
                closed=cycle.closed_cases,
                age="—" if cycle.open_average_age is None else f"{cycle.open_average_age:.1f}",
            ),
        },
        {
            "id": "promise-kept-rate",
            "label": gettext("Promise-kept rate"),
            "value": _percent(promises.kept_rate),
            "raw": promises.kept_rate,
            "detail": gettext(
                "%(kept)s kept, %(partly)s partly, %(broken)s broken; %(made)s made",
                kept=promises.kept,
                partly=promises.partly_kept,
                broken=promises.broken,
                made=promises.made,
            ),
        },
        {
            "id": "rpc-rate",
            "label": gettext("Right-party-contact rate"),
            "value": _percent(contacts.rate),
            "raw": contacts.rate,
            "detail": gettext(
                "%(rpc)s of %(dials)s calls and visits; %(contacts)s contacts",
                rpc=contacts.right_party_contacts,
                dials=contacts.dials,
                contacts=contacts.contacts,
            ),
        },
        {
            "id": "collected",
            "label": gettext("Collected"),
            "value": _money(tiles["collected"]),
            "raw": float(tiles["collected"]),
            "detail": gettext("on loans under collection, in the period"),
        },
    ]


class IndexView(AppBuilderIndexView):
    """The landing page: the dashboard for whoever may see it, Flask-AppBuilder's index else."""

    @expose("/")
    def index(self) -> Any:
        user = getattr(g, "user", None)
        if getattr(user, "is_authenticated", False) and self.appbuilder.sm.has_access(
            "can_read", "DashboardView"
        ):
            return redirect(url_for("DashboardView.index"))
        return super().index()


class DashboardView(BaseView):
    route_base = "/dashboard"
    default_view = "index"

    def _prepare(self) -> tuple[Dashboard | None, Viewer, dict[str, str], str, date]:
        session = self.appbuilder.session
        who = viewer(session)
        today = business_date(session.connection())
        args = {key: request.args.get(key, "") for key in ("start", "end", "team", "product")}
        args["region"] = request.args.get("region", "")
        try:
            scope = parse_scope(request.args, who, today)
        except FilterError as bad:
            return None, who, args, str(bad), today
        return Dashboard(session.connection(), scope, who), who, args, "", today

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self) -> Response:
        dashboard, who, args, error, today = self._prepare()
        session = self.appbuilder.session

        def regions_now() -> list[str]:
            query = select(Customer.region).where(Customer.region.is_not(None)).distinct()
            return sorted(session.scalars(query))

        regions = (
            charts.METRICS.get(charts.cache_key("regions", dashboard.version), regions_now)
            if dashboard is not None
            else regions_now()
        )
        context: dict[str, Any] = {
            "args": args,
            "error": error,
            "today": today,
            "teams": who.teams,
            "team_choice": who.sees_all or SUPERVISOR in who.roles,
            "products": [(value, str(label)) for value, label in PRODUCT_LABELS.items()],
            "regions": regions,
            "chart_titles": {name: str(title) for name, title in CHART_TITLES.items()},
        }
        if dashboard is not None:
            scope = dashboard.scope
            context.update(
                scope=scope,
                tiles=tiles_for(dashboard.metric("tiles")),
                league=dashboard.metric("league"),
                query={
                    key: value
                    for key, value in (
                        ("start", scope.start.isoformat()),
                        ("end", scope.end.isoformat()),
                        ("team", scope.team_id),
                        ("product", scope.product),
                        ("region", scope.region),
                    )
                    if value is not None
                },
                whose=self._whose(who),
            )
        html = self.render_template("dashboard.html", **context)
        return Response(html, status=400 if error else 200)

    def _whose(self, who: Viewer) -> str:
        if who.sees_all:
            return gettext("the whole portfolio")
        if SUPERVISOR in who.roles:
            return gettext("your teams: %(teams)s", teams="、".join(n for _, n in who.teams))
        return gettext("your own cases")

    @expose("/chart/<name>.<fmt>")
    @has_access
    @permission_name("read")
    def chart(self, name: str, fmt: str) -> Response:
        if name not in charts.chart_names() or fmt not in charts.FORMATS:
            abort(404)
        dashboard, _who, _args, error, _today = self._prepare()
        if dashboard is None:
            return Response(error, status=400, mimetype="text/plain")
        body, key = dashboard.chart(name, fmt)
        response = Response(body, mimetype=charts.FORMATS[fmt])
        response.set_etag(key)
        response.headers["Cache-Control"] = "private, no-cache"
        return response.make_conditional(request)
