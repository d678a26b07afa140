"""The chart-shaped named reports, made from the collection metrics (:mod:`reports.metrics`, one
definition per metric, the same the dashboard shows): DPD bucket aging, roll rates, team
performance, collector performance and strategy effectiveness.

Each turns a metric's result into tables with native charts (bars per bucket, team or arm; lines
for month-on-month roll rates and the overdue-rate trend) and headline numbers for the cover. The
metrics' scope is the asker's: a supervisor's figures are those of the teams they supervise
(``Scope.team_ids``); they may narrow it to one of them. Roll rates written as JSON are exactly
``RollRates.as_json()``: ``{"months": [...], "buckets": [...], "transitions": {"2005-04->2005-05":
{"from": {"to": count}}}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casedb.models import (
    OPEN_STATUSES,
    CaseStatus,
    CollectionCase,
    Collector,
    RepaymentTransaction,
    Team,
)
from reports import metrics
from reports.labels import Text
from reports.listings import period_bounds
from reports.parameters import CHOICE, TEXT, Param, ParamSet, ReportError
from reports.report import (
    OVERSIGHT,
    PRODUCT_OPTIONS,
    SUPERVISOR,
    Report,
    Requester,
    RunContext,
    case_scope,
    collector_param,
    end_param,
    ids_of,
    start_param,
    team_param,
)
from reports.result import (
    BAR,
    INT,
    LINE,
    MONEY,
    NUMBER,
    PERCENT,
    Chart,
    Column,
    ReportResult,
    Table,
)

FILTERS = (
    team_param(),
    Param("product", CHOICE, ("Product", "产品"), options=PRODUCT_OPTIONS),
    Param("region", TEXT, ("Region", "地区")),
)
NO_DATA: Text = ("No data for this period and these filters.", "此期间与筛选条件下没有数据。")


def supervised_team_ids(session: Session, username: str) -> tuple[int, ...]:
    return tuple(session.scalars(select(Team.id).where(Team.supervisor_username == username)))


def metric_scope(context: RunContext, start: date, end: date) -> metrics.Scope:
    """The metrics' :class:`Scope` for the run: its period and filters, within the asker's
    data scope."""
    values, session, requester = context.params, context.session, context.requester
    team = ids_of(session, Team, values.get("team"))
    collector = ids_of(session, Collector, values.get("collector"))
    team_ids = None
    if not requester.sees_all:
        team_ids = (
            supervised_team_ids(session, requester.username)
            if SUPERVISOR in requester.roles
            else ()
        )
    return metrics.Scope(
        start=start,
        end=end,
        team_id=team[0] if team else (None if values.get("team") is None else -1),
        collector_id=collector[0] if collector else (None if not values.get("collector") else -1),
        product=values.get("product"),
        region=values.get("region") or None,
        team_ids=team_ids,
    )


def _check_team(values: dict[str, Any], session: Session, requester: Requester) -> None:
    """A supervisor may narrow their figures to one of their teams, not look at another's."""
    if requester.sees_all or not values.get("team"):
        return
    mine = {
        code
        for (code,) in session.execute(
            select(Team.code).where(Team.supervisor_username == requester.username)
        )
    }
    if values["team"] not in mine:
        raise ReportError(
            (
                "team {team} is not one of yours ({mine})",
                "团队 {team} 不在您主管的团队中（{mine}）",
            ),
            param="team",
            team=values["team"],
            mine=", ".join(sorted(mine)) or "-",
        )


def _note(note: str | None) -> Text:
    if not note:
        return NO_DATA
    return (f"No data: {note}.", f"没有数据：{note}。")


class _MetricReport(Report):
    roles = OVERSIGHT
    chart = True

    def check(self, values: dict[str, Any], session: Session, requester: Requester) -> None:
        _check_team(values, session, requester)


# --- DPD bucket aging ----------------------------------------------------------------------

GROUP_OPTIONS = [
    ("team", ("team", "团队")),
    ("collector", ("collector", "催收员")),
    ("product", ("product", "产品")),
    ("region", ("region", "地区")),
]


class Aging(_MetricReport):
    name = "aging"
    title = ("DPD bucket aging", "账龄分析")
    description = (
        "Accounts, balance, open cases and overdue amount per DPD bucket at the end of the period.",
        "期末各逾期阶段的账户数、余额、在催案件数与逾期金额。",
    )
    params = ParamSet(
        (
            start_param("today"),
            end_param(),
            *FILTERS,
            Param("group_by", CHOICE, ("Split by", "细分维度"), options=GROUP_OPTIONS),
        )
    )

    def run(self, context: RunContext) -> ReportResult:
        values = context.params
        scope = metric_scope(context, values["start"], values["end"])
        aging = metrics.dpd_bucket_aging(
            context.session.connection(), scope, group_by=values.get("group_by")
        )
        accounts = sum(b.accounts for b in aging.buckets)
        rows = [
            (
                b.bucket,
                b.accounts,
                b.accounts / accounts if accounts else 0.0,
                b.balance,
                b.cases,
                b.overdue_amount,
            )
            for b in aging.buckets
        ]
        tables = [
            Table(
                "aging",
                ("Aging", "账龄分布"),
                (
                    Column("bucket", ("Bucket", "逾期阶段")),
                    Column("accounts", ("Accounts", "账户数"), INT, True),
                    Column("share", ("Share of accounts", "账户占比"), PERCENT),
                    Column("balance", ("Balance", "余额"), MONEY, True),
                    Column("cases", ("Open cases", "在催案件数"), INT, True),
                    Column("overdue", ("Overdue amount", "逾期金额"), MONEY, True),
                ),
                rows,
                len(rows),
                totals=True,
                chart=Chart(
                    BAR,
                    ("Open cases by DPD bucket", "各逾期阶段在催案件数"),
                    "bucket",
                    ("cases",),
                    y_title=("Cases", "案件数"),
                    x_title=("Bucket", "逾期阶段"),
                ),
            )
        ]
        if aging.group_by and aging.groups:
            buckets = [b.bucket for b in aging.buckets]
            grouped = [
                (group, *(per.get(bucket, 0) for bucket in buckets), sum(per.values()))
                for group, per in aging.groups.items()
            ]
            label = dict(GROUP_OPTIONS)[aging.group_by]
            tables.append(
                Table(
                    "by_group",
                    (f"Cases by {label[0]}", f"按{label[1]}"),
                    (
                        Column("group", label),
                        *(Column(b, (b, b), INT, True) for b in buckets),
                        Column("total", ("Total", "合计"), INT, True),
                    ),
                    grouped,
                    len(grouped),
                    totals=True,
                    chart=Chart(
                        BAR,
                        (f"Open cases per {label[0]} and bucket", f"各{label[1]}各阶段在催案件数"),
                        "group",
                        tuple(buckets),
                        stacked=True,
                    ),
                )
            )
        empty = not any(b.accounts or b.cases for b in aging.buckets)
        return ReportResult(
            tables,
            summary=[
                (("Snapshot day", "快照日期"), aging.as_of),
                (("Accounts", "账户数"), accounts),
                (("Open cases", "在催案件数"), sum(b.cases for b in aging.buckets)),
            ],
            empty_message=_note(aging.note) if empty else None,
        )


# --- roll rates ----------------------------------------------------------------------------


class RollRates(_MetricReport):
    name = "roll_rates"
    title = ("Roll rates", "迁徙率")
    description = (
        "Accounts moving between DPD buckets from one month end to the next, and the roll rates.",
        "各月末之间账户在逾期阶段间的迁移及迁徙率。",
    )
    params = ParamSet((start_param("today-365"), end_param(), *FILTERS, collector_param()))

    def run(self, context: RunContext) -> ReportResult:
        values = context.params
        scope = metric_scope(context, values["start"], values["end"])
        connection = context.session.connection()
        rolls = metrics.roll_rates(connection, scope)
        cures = metrics.cure_rates(connection, scope, rolls)
        buckets = list(rolls.buckets)
        matrix = [
            (pair, source, *(rolls.counts[pair][source][t] for t in buckets), sum(row.values()))
            for pair in rolls.pairs
            for source, row in rolls.counts[pair].items()
        ]
        steps = list(pairwise(buckets))
        forward = [
            (pair, *(rolls.roll_forward(pair)[source] for source, _ in steps))
            for pair in rolls.pairs
        ]
        cure_rows = [(c.pair, c.bucket, c.accounts, c.cured, c.rate) for c in cures.overall]
        step_keys = tuple(f"{a}->{b}" for a, b in steps)
        tables = [
            Table(
                "roll_forward",
                ("Roll rates", "迁徙率"),
                (
                    Column("pair", ("Months", "月份"), width=18),
                    *(
                        Column(k, (f"{a}→{b}", f"{a}→{b}"), PERCENT)
                        for k, (a, b) in zip(step_keys, steps, strict=True)
                    ),
                ),
                forward,
                len(forward),
                chart=Chart(
                    LINE,
                    ("Roll rates month on month", "逐月迁徙率"),
                    "pair",
                    step_keys,
                    y_title=("Share of accounts", "账户占比"),
                ),
                note=(
                    "Share of the accounts in a bucket at a month end found in the next bucket "
                    "at the next month end.",
                    "某月末处于某逾期阶段的账户中，下月末进入下一阶段的比例。",
                ),
            ),
            Table(
                "transitions",
                ("Transitions (accounts)", "迁移矩阵（账户数）"),
                (
                    Column("pair", ("Months", "月份"), width=18),
                    Column("from", ("From bucket", "期初阶段")),
                    *(Column(f"to_{t}", (f"to {t}", f"至 {t}"), INT, True) for t in buckets),
                    Column("total", ("Total", "合计"), INT, True),
                ),
                matrix,
                len(matrix),
                totals=True,
            ),
            Table(
                "cure",
                ("Cure rates", "回滚率"),
                (
                    Column("pair", ("Months", "月份"), width=18),
                    Column("bucket", ("From", "期初阶段")),
                    Column("accounts", ("Delinquent accounts", "逾期账户数"), INT),
                    Column("cured", ("Back to current", "回到正常"), INT),
                    Column("rate", ("Cure rate", "回滚率"), PERCENT),
                ),
                cure_rows,
                len(cure_rows),
                chart=Chart(BAR, ("Cure rate by month", "逐月回滚率"), "pair", ("rate",)),
            ),
        ]
        return ReportResult(
            tables,
            summary=[(("Months", "月份"), ", ".join(rolls.months))],
            empty_message=_note(rolls.note) if not matrix or rolls.note else None,
            document=rolls.as_json,
        )


# --- team and collector performance --------------------------------------------------------


class TeamPerformance(_MetricReport):
    name = "team_performance"
    title = ("Team performance", "团队业绩")
    description = (
        "Overdue rate, recovery rate, average collection cycle, collected and promise-kept rate "
        "per team, with the overdue-rate trend.",
        "各团队的逾期率、回收率、平均催收周期、回款金额与承诺兑现率，以及逾期率走势。",
    )
    params = ParamSet(
        (
            start_param("month-start"),
            end_param(),
            Param("product", CHOICE, ("Product", "产品"), options=PRODUCT_OPTIONS),
            Param("region", TEXT, ("Region", "地区")),
        )
    )

    def run(self, context: RunContext) -> ReportResult:
        values = context.params
        scope = metric_scope(context, values["start"], values["end"])
        connection = context.session.connection()
        recovery = metrics.recovery_rate(connection, scope, group_by="team")
        collected = {
            row["name"]: row["collected"]
            for row in metrics.collected_by_team(connection, scope).rows
        }
        teams = context.session.execute(select(Team.id, Team.code, Team.name).order_by(Team.code))
        wanted = set(scope.team_ids) if scope.team_ids is not None else None
        rows = []
        for team_id, code, name in teams:
            if wanted is not None and team_id not in wanted:
                continue
            one = metrics.Scope(
                scope.start, scope.end, team_id, None, scope.product, scope.region, None
            )
            overdue = metrics.overdue_rate(connection, one)
            cycle = metrics.average_collection_cycle(connection, one)
            promises = metrics.promise_kept_rate(connection, one)
            recovered = next((g for g in recovery.groups if g.group == name), None)
            rows.append(
                (
                    code,
                    name,
                    overdue.accounts,
                    overdue.by_count,
                    overdue.by_balance,
                    recovered.rate if recovered else None,
                    collected.get(name, Decimal(0)),
                    cycle.closed_cases,
                    cycle.average_days,
                    promises.kept_rate,
                )
            )
        trend = metrics.overdue_rate_trend(connection, scope)
        points = [(p.as_of, p.by_count, p.by_balance) for p in trend.points]
        tables = [
            Table(
                "teams",
                ("Teams", "团队业绩"),
                (
                    Column("code", ("Team", "团队编号")),
                    Column("name", ("Name", "团队名称")),
                    Column("accounts", ("Accounts", "账户数"), INT, True),
                    Column("overdue_count", ("Overdue rate (count)", "逾期率（户数）"), PERCENT),
                    Column(
                        "overdue_balance", ("Overdue rate (balance)", "逾期率（余额）"), PERCENT
                    ),
                    Column("recovery", ("Recovery rate", "回收率"), PERCENT),
                    Column("collected", ("Collected", "回款金额"), MONEY, True),
                    Column("closed", ("Cases closed", "结案数"), INT, True),
                    Column("cycle", ("Average cycle (days)", "平均催收周期（天）"), NUMBER),
                    Column("kept", ("Promise-kept rate", "承诺兑现率"), PERCENT),
                ),
                rows,
                len(rows),
                totals=True,
                chart=Chart(
                    BAR,
                    ("Recovery rate by team", "各团队回收率"),
                    "name",
                    ("recovery",),
                    y_title=("Recovery rate", "回收率"),
                ),
            ),
            Table(
                "trend",
                ("Overdue-rate trend", "逾期率走势"),
                (
                    Column("as_of", ("Day", "日期"), "date"),
                    Column("by_count", ("Overdue rate (count)", "逾期率（户数）"), PERCENT),
                    Column("by_balance", ("Overdue rate (balance)", "逾期率（余额）"), PERCENT),
                ),
                points,
                len(points),
                chart=Chart(
                    LINE,
                    ("Overdue-rate trend", "逾期率走势"),
                    "as_of",
                    ("by_count", "by_balance"),
                    y_title=("Overdue rate", "逾期率"),
                ),
            ),
        ]
        return ReportResult(
            tables,
            summary=[
                (("Recovery rate", "回收率"), recovery.rate),
                (("Collected", "回款金额"), recovery.collected),
            ],
            empty_message=_note(recovery.note or trend.note)
            if not rows or not any(r[2] for r in rows)
            else None,
        )


class CollectorPerformance(_MetricReport):
    name = "collector_performance"
    title = ("Collector performance", "催收员业绩")
    description = (
        "Per collector: collected, recovery rate, contacts, right-party-contact rate, promises, "
        "promise-kept rate, open cases and average collection cycle.",
        "各催收员的回款金额、回收率、联系次数、有效联系率、承诺及兑现率、在催案件与平均催收周期。",
    )
    params = ParamSet((start_param("month-start"), end_param(), *FILTERS))

    def run(self, context: RunContext) -> ReportResult:
        values = context.params
        scope = metric_scope(context, values["start"], values["end"])
        connection = context.session.connection()
        league = metrics.collector_league_table(connection, scope)
        codes = dict(context.session.execute(select(Collector.id, Collector.code)).all())
        rows = []
        for row in league.rows:
            one = metrics.Scope(
                scope.start,
                scope.end,
                scope.team_id,
                row.collector_id,
                scope.product,
                scope.region,
                scope.team_ids,
            )
            cycle = metrics.average_collection_cycle(connection, one)
            rows.append(
                (
                    row.rank,
                    codes.get(row.collector_id, str(row.collector_id)),
                    row.name,
                    row.team,
                    row.open_cases,
                    row.collected,
                    row.recovery_rate,
                    row.contacts,
                    row.dials,
                    row.rpc_rate,
                    row.promises_made,
                    row.promise_kept_rate,
                    cycle.average_days,
                )
            )
        table = Table(
            "collectors",
            ("Collectors", "催收员业绩"),
            (
                Column("rank", ("Rank", "排名"), INT),
                Column("code", ("Collector", "催收员编号")),
                Column("name", ("Name", "姓名")),
                Column("team", ("Team", "团队")),
                Column("open_cases", ("Open cases", "在催案件数"), INT, True),
                Column("collected", ("Collected", "回款金额"), MONEY, True),
                Column("recovery", ("Recovery rate", "回收率"), PERCENT),
                Column("contacts", ("Contacts", "联系次数"), INT, True),
                Column("dials", ("Calls and visits", "外呼与外访"), INT, True),
                Column("rpc", ("RPC rate", "有效联系率"), PERCENT),
                Column("promises", ("Promises made", "承诺笔数"), INT, True),
                Column("kept", ("Promise-kept rate", "承诺兑现率"), PERCENT),
                Column("cycle", ("Average cycle (days)", "平均催收周期（天）"), NUMBER),
            ),
            rows,
            len(rows),
            totals=True,
            chart=Chart(
                BAR,
                ("Collected by collector", "各催收员回款金额"),
                "name",
                ("collected",),
                y_title=("Collected", "回款金额"),
            ),
        )
        return ReportResult(
            [table],
            summary=[(("Collectors", "催收员人数"), len(rows))],
            empty_message=_note(league.note) if not rows else None,
        )


# --- strategy effectiveness ----------------------------------------------------------------


class StrategyEffectiveness(_MetricReport):
    name = "strategy"
    title = ("Strategy effectiveness", "策略效果")
    description = (
        "Champion against challenger: cases, cure rate and money collected per arm with the "
        "difference and its 95 % interval; and per treatment strategy.",
        "冠军/挑战者：各组案件数、治愈率与人均回款，差异及其 95% 置信区间；以及各催收策略的效果。",
    )
    params = ParamSet(
        (
            start_param("today-30"),
            end_param(),
            *FILTERS,
            Param("champion", TEXT, ("Champion arm", "冠军组"), default="champion"),
            Param("challenger", TEXT, ("Challenger arm", "挑战者组"), default="challenger"),
        )
    )

    def run(self, context: RunContext) -> ReportResult:
        values = context.params
        scope = metric_scope(context, values["start"], values["end"])
        connection = context.session.connection()
        arms = metrics.strategy_arm_results(
            connection, scope, values["champion"], values["challenger"]
        )
        arm_rows = [
            (a.arm, a.cases, a.cured, a.cure_rate, a.collected, a.mean_collected, a.sd_collected)
            for a in arms.arms
        ]
        by_strategy = self._by_strategy(context)
        tables = [
            Table(
                "arms",
                ("Champion vs challenger", "冠军与挑战者"),
                (
                    Column("arm", ("Arm", "分组")),
                    Column("cases", ("Cases", "案件数"), INT, True),
                    Column("cured", ("Cured", "治愈数"), INT, True),
                    Column("cure_rate", ("Cure rate", "治愈率"), PERCENT),
                    Column("collected", ("Collected", "回款金额"), MONEY, True),
                    Column("mean", ("Collected per case", "案均回款"), NUMBER),
                    Column("sd", ("Standard deviation", "标准差"), NUMBER),
                ),
                arm_rows,
                len(arm_rows),
                totals=True,
                chart=Chart(BAR, ("Cure rate by arm", "各组治愈率"), "arm", ("cure_rate",)),
            ),
            Table(
                "strategies",
                ("By strategy", "按催收策略"),
                (
                    Column("strategy", ("Strategy", "催收策略"), width=22),
                    Column("cases", ("Cases", "案件数"), INT, True),
                    Column("open", ("Still open", "仍在催"), INT, True),
                    Column("cured", ("Paid or settled in the period", "期内还清或结清"), INT, True),
                    Column("cure_rate", ("Cure rate", "治愈率"), PERCENT),
                    Column("collected", ("Collected in the period", "期内回款"), MONEY, True),
                ),
                by_strategy,
                len(by_strategy),
                totals=True,
                chart=Chart(
                    BAR, ("Cure rate by strategy", "各策略治愈率"), "strategy", ("cure_rate",)
                ),
            ),
        ]
        summary: list[tuple[Text, Any]] = []
        if arms.cure_rate_difference is not None:
            summary.append(
                (
                    ("Cure rate difference (challenger − champion)", "治愈率差异（挑战者 − 冠军）"),
                    arms.cure_rate_difference,
                )
            )
            if arms.cure_rate_ci:
                summary.append(
                    (("95 % interval", "95% 置信区间"), _interval(arms.cure_rate_ci, percent=True))
                )
        if arms.collected_difference is not None:
            summary.append(
                (
                    ("Collected per case difference", "案均回款差异"),
                    round(arms.collected_difference, 2),
                )
            )
            if arms.collected_ci:
                summary.append((("95 % interval", "95% 置信区间"), _interval(arms.collected_ci)))
        if arms.note:
            summary.append((("Note", "说明"), arms.note))
        return ReportResult(
            tables,
            summary=summary,
            empty_message=_note(arms.note) if not arm_rows and not by_strategy else None,
        )

    def _by_strategy(self, context: RunContext) -> list[tuple[Any, ...]]:
        """Per strategy the cases hold: cases, still open, paid or settled in the period, and
        the payments in the period on their loans (within the asker's scope)."""
        values, session = context.params, context.session
        low, high = period_bounds(values["start"], values["end"])
        case = CollectionCase
        paid = (
            select(
                RepaymentTransaction.loan_id,
                func.sum(RepaymentTransaction.amount).label("amount"),
            )
            .where(RepaymentTransaction.paid_at >= low, RepaymentTransaction.paid_at < high)
            .group_by(RepaymentTransaction.loan_id)
            .subquery("paid")
        )
        cured = case.status.in_([CaseStatus.PAID, CaseStatus.SETTLED]) & case.closed_on.between(
            values["start"], values["end"]
        )
        still_open = case.status.in_(OPEN_STATUSES)
        statement = (
            select(
                case.strategy,
                func.count(),
                func.sum(_flag(still_open)),
                func.sum(_flag(cured)),
                func.coalesce(func.sum(paid.c.amount), 0),
            )
            .outerjoin(paid, paid.c.loan_id == case.loan_id)
            .where(case.strategy.is_not(None), case_scope(context.requester))
            .group_by(case.strategy)
            .order_by(case.strategy)
        )
        if values.get("team"):
            statement = statement.where(case.team_id.in_(ids_of(session, Team, values["team"])))
        rows = []
        for strategy, cases, open_cases, n_cured, amount in session.execute(statement):
            rows.append(
                (
                    strategy,
                    cases,
                    int(open_cases or 0),
                    int(n_cured or 0),
                    int(n_cured or 0) / cases if cases else None,
                    Decimal(str(amount or 0)).quantize(Decimal("0.01")),
                )
            )
        return rows


def _flag(condition: Any) -> Any:
    return sql_case((condition, 1), else_=0)


def _interval(bounds: Sequence[float], percent: bool = False) -> str:
    low, high = bounds
    if percent:
        return f"[{low * 100:.1f} %, {high * 100:.1f} %]"
    return f"[{low:,.2f}, {high:,.2f}]"


ANALYSES: tuple[type[Report], ...] = (
    Aging,
    RollRates,
    TeamPerformance,
    CollectorPerformance,
    StrategyEffectiveness,
)
