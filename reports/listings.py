"""The list-shaped named reports, read straight from the case database and streamed row by row:
the case list export (any filter of the console's case list), promises to pay, the compliance
log, the audit trail and alerts.

Each counts its rows first (for progress, and to say "no data matches" on an empty workbook),
then streams them from a server-side cursor in the order the console lists them. Every query
carries the asker's data scope. Times are shown in ``config.DEFAULT_TIMEZONE``; a period
``start``..``end`` is whole local days, both included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

import config
from casedb.delinquency import bucket_labels
from casedb.models import (
    Alert,
    AlertStatus,
    AuditEntry,
    CollectionCase,
    Collector,
    ComplianceCheck,
    ContactKind,
    ContactPoint,
    Customer,
    Loan,
    PromiseStatus,
    PromiseToPay,
    Team,
)
from casedb.pii import mask_id_number, mask_phone
from reports.labels import VALUES, value_label
from reports.parameters import (
    CHOICE,
    CHOICES,
    DATE,
    DECIMAL,
    INT,
    TEXT,
    Param,
    ParamSet,
    Phrase,
    ReportError,
)
from reports.report import (
    ADMIN,
    AUDITOR,
    PII_PARAM,
    STATUS_OPTIONS,
    SUPERVISOR,
    Report,
    RunContext,
    case_scope,
    collector_param,
    end_param,
    ids_of,
    local_time,
    product_param,
    start_param,
    team_param,
)
from reports.result import (
    BAR,
    DATETIME,
    Chart,
    Column,
    ReportResult,
    Table,
)
from reports.result import DATE as DATE_COLUMN
from reports.result import INT as INT_COLUMN
from reports.result import MONEY as MONEY_COLUMN
from reports.result import PERCENT as PERCENT_COLUMN

STREAM_CHUNK = 2_000
SEVERAL = ("Comma-separated", "多个用逗号分隔")


def _stream(session: Session, statement: Select[Any]) -> Iterator[Any]:
    """Rows of ``statement`` from a server-side cursor (PostgreSQL) in chunks."""
    connection = session.connection().execution_options(stream_results=True, yield_per=STREAM_CHUNK)
    yield from connection.execute(statement)


def _count(session: Session, statement: Select[Any]) -> int:
    return (
        session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    )


def period_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """The instants of local midnight starting ``start`` and ending ``end`` (end excluded)."""
    zone = ZoneInfo(config.DEFAULT_TIMEZONE)
    low = datetime.combine(start, time(), zone) if start else None
    high = datetime.combine(end + timedelta(days=1), time(), zone) if end else None
    return low, high


def _in_period(column: Any, start: date | None, end: date | None) -> list[Any]:
    low, high = period_bounds(start, end)
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column < high)
    return conditions


def _yes_no() -> list[tuple[str, Any]]:
    return [("yes", ("yes", "是")), ("no", ("no", "否"))]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _bucket_options(_session: Any = None) -> list[tuple[str, str]]:
    return [(label, label) for label in bucket_labels()]


def _check_range(values: dict[str, Any], low: str, high: str, what: tuple[str, str]) -> None:
    if values.get(low) is not None and values.get(high) is not None and values[low] > values[high]:
        raise ReportError(
            (
                "the {what} range is empty: {low} is more than {high}",
                "{what}范围为空：下限 {low} 大于上限 {high}",
            ),
            param=low,
            what=Phrase(what),
            low=values[low],
            high=values[high],
        )


NO_CASE = ("No case matches the filters.", "没有符合筛选条件的案件。")


# --- the case list export ----------------------------------------------------------------


class CaseList(Report):
    name = "cases"
    title = ("Case list export", "案件清单导出")
    description = (
        "Every case that matches the filters, with its debtor, loan, delinquency and assignment.",
        "符合筛选条件的全部案件：债务人、借据、逾期与分派信息。",
    )
    params = ParamSet(
        (
            Param("status", CHOICES, ("Status", "状态"), options=STATUS_OPTIONS),
            Param("bucket", CHOICES, ("Bucket", "逾期阶段"), options=_bucket_options),
            team_param(multiple=True),
            collector_param(multiple=True),
            product_param(multiple=True),
            Param("region", TEXT, ("Region", "地区"), SEVERAL),
            Param("dpd_min", INT, ("DPD from", "逾期天数下限"), minimum=0, maximum=100_000),
            Param("dpd_max", INT, ("DPD to", "逾期天数上限"), minimum=0, maximum=100_000),
            Param("overdue_min", DECIMAL, ("Overdue from", "逾期金额下限"), minimum=0),
            Param("overdue_max", DECIMAL, ("Overdue to", "逾期金额上限"), minimum=0),
            Param("opened_from", DATE, ("Opened from", "入催日期起")),
            Param("opened_to", DATE, ("Opened to", "入催日期止")),
            Param("risk_level", TEXT, ("Risk level", "风险等级"), SEVERAL),
            Param("priority_level", TEXT, ("Priority", "优先级"), SEVERAL),
            Param("strategy", TEXT, ("Strategy", "催收策略"), SEVERAL),
            Param("on_hold", CHOICE, ("On hold", "暂停"), options=_yes_no()),
            Param("case_no", TEXT, ("Case no. starts with", "案件号前缀")),
            PII_PARAM,
        )
    )

    def check(self, values: dict[str, Any], session: Session, requester: Any) -> None:
        _check_range(values, "dpd_min", "dpd_max", ("DPD", "逾期天数"))
        _check_range(values, "overdue_min", "overdue_max", ("overdue amount", "逾期金额"))
        if (
            values.get("opened_from")
            and values.get("opened_to")
            and values["opened_from"] > values["opened_to"]
        ):
            raise ReportError(
                (
                    "the opening period is empty: {start} is after {end}",
                    "入催期间为空：{start} 晚于 {end}",
                ),
                param="opened_from",
                start=values["opened_from"].isoformat(),
                end=values["opened_to"].isoformat(),
            )

    def columns(self, language: str) -> tuple[Column, ...]:
        return (
            Column("case_no", ("Case no.", "案件号"), width=18),
            Column("customer", ("Customer", "客户"), width=12),
            Column("id_number", ("ID number", "证件号"), width=22),
            Column("phone", ("Mobile", "手机号"), width=15),
            Column("loan_no", ("Loan no.", "借据号"), width=18),
            Column("product", ("Product", "产品")),
            Column("region", ("Region", "地区")),
            Column("status", ("Status", "状态")),
            Column("opened_on", ("Case opened on", "入催日期"), DATE_COLUMN),
            Column("closed_on", ("Closed on", "结案日期"), DATE_COLUMN),
            Column("dpd", ("DPD", "逾期天数"), INT_COLUMN),
            Column("bucket", ("Bucket", "逾期阶段")),
            Column("overdue_principal", ("Overdue principal", "逾期本金"), MONEY_COLUMN, True),
            Column("overdue_interest", ("Overdue interest", "逾期利息"), MONEY_COLUMN, True),
            Column("overdue_fees", ("Overdue fees", "逾期费用"), MONEY_COLUMN, True),
            Column("overdue", ("Overdue", "逾期金额"), MONEY_COLUMN, True),
            Column("overdue_at_entry", ("Overdue at entry", "入催金额"), MONEY_COLUMN, True),
            Column("balance", ("Balance", "余额"), MONEY_COLUMN, True),
            Column("currency", ("Currency", "币种"), width=8),
            Column("risk_level", ("Risk level", "风险等级")),
            Column("priority_score", ("Priority score", "优先级分数"), INT_COLUMN),
            Column("priority_level", ("Priority", "优先级")),
            Column("team", ("Team", "团队")),
            Column("collector", ("Collector", "催收员")),
            Column("strategy", ("Strategy", "催收策略"), width=18),
            Column("next_action", ("Next action", "下一步行动"), width=16),
            Column("next_action_due_at", ("Next action due", "下一步到期"), DATETIME),
            Column("on_hold", ("On hold", "暂停")),
        )

    def statement(self, context: RunContext) -> Select[Any]:
        values, session = context.params, context.session
        full = values.get("pii") == "full"
        phones = (
            select(
                ContactPoint.customer_id,
                func.min(ContactPoint.value if full else ContactPoint.value_masked).label("phone"),
            )
            .where(ContactPoint.kind == ContactKind.MOBILE, ContactPoint.is_primary.is_(True))
            .group_by(ContactPoint.customer_id)
            .subquery("primary_phone")
        )
        team, collector = aliased(Team), aliased(Collector)
        case = CollectionCase
        statement = (
            select(
                case.case_no,
                Customer.name,
                Customer.id_number if full else Customer.id_number_masked,
                phones.c.phone,
                Loan.loan_no,
                Loan.product,
                Customer.region,
                case.status,
                case.opened_on,
                case.closed_on,
                case.dpd,
                case.bucket,
                case.overdue_principal,
                case.overdue_interest,
                case.overdue_fees,
                case.overdue_at_entry,
                case.outstanding_balance,
                case.currency,
                case.risk_level,
                case.priority_score,
                case.priority_level,
                team.name,
                collector.name,
                case.strategy,
                case.next_action,
                case.next_action_due_at,
                case.on_hold,
            )
            .join(Customer, Customer.id == case.customer_id)
            .join(Loan, Loan.id == case.loan_id)
            .outerjoin(phones, phones.c.customer_id == case.customer_id)
            .outerjoin(team, team.id == case.team_id)
            .outerjoin(collector, collector.id == case.collector_id)
            .where(case_scope(context.requester))
        )
        overdue = case.overdue_principal + case.overdue_interest + case.overdue_fees
        filters = []
        if values.get("status"):
            filters.append(case.status.in_(values["status"]))
        if values.get("bucket"):
            filters.append(case.bucket.in_(values["bucket"]))
        if values.get("team"):
            filters.append(case.team_id.in_(ids_of(session, Team, values["team"])))
        if values.get("collector"):
            filters.append(case.collector_id.in_(ids_of(session, Collector, values["collector"])))
        if values.get("product"):
            filters.append(Loan.product.in_(values["product"]))
        if values.get("region"):
            filters.append(Customer.region.in_(_split(values["region"])))
        if values.get("dpd_min") is not None:
            filters.append(case.dpd >= values["dpd_min"])
        if values.get("dpd_max") is not None:
            filters.append(case.dpd <= values["dpd_max"])
        if values.get("overdue_min") is not None:
            filters.append(overdue >= values["overdue_min"])
        if values.get("overdue_max") is not None:
            filters.append(overdue <= values["overdue_max"])
        if values.get("opened_from"):
            filters.append(case.opened_on >= values["opened_from"])
        if values.get("opened_to"):
            filters.append(case.opened_on <= values["opened_to"])
        for name in ("risk_level", "priority_level", "strategy"):
            if values.get(name):
                filters.append(getattr(case, name).in_(_split(values[name])))
        if values.get("on_hold"):
            filters.append(case.on_hold.is_(values["on_hold"] == "yes"))
        if values.get("case_no"):
            filters.append(case.case_no.startswith(values["case_no"], autoescape=True))
        return statement.where(*filters).order_by(case.priority_score.desc(), case.id.desc())

    def run(self, context: RunContext) -> ReportResult:
        statement = self.statement(context)
        language = context.language
        context.stage("counting")
        count = _count(context.session, statement)

        def rows() -> Iterator[Sequence[Any]]:
            for row in _stream(context.session, statement):
                (
                    case_no, customer, id_number, phone, loan_no, product, region, status,
                    opened_on, closed_on, dpd, bucket, principal, interest, fees, at_entry,
                    balance, currency, risk, score, level, team, collector, strategy,
                    next_action, next_due, on_hold,
                ) = row  # fmt: skip
                yield (
                    case_no,
                    customer,
                    id_number,
                    phone,
                    loan_no,
                    value_label("product", product, language),
                    region,
                    value_label("case_status", status, language),
                    opened_on,
                    closed_on,
                    dpd,
                    bucket,
                    principal,
                    interest,
                    fees,
                    principal + interest + fees,
                    at_entry,
                    balance,
                    currency,
                    risk,
                    score,
                    level,
                    team,
                    collector,
                    strategy,
                    next_action,
                    local_time(next_due),
                    value_label("bool", str(bool(on_hold)), language),
                )

        table = Table(
            "cases",
            ("Cases", "案件清单"),
            self.columns(language),
            rows(),
            count=count,
            totals=True,
        )
        return ReportResult(
            [table],
            summary=[(("Cases", "案件数"), count)],
            empty_message=None if count else NO_CASE,
        )


KEPT_RATE = ("Kept rate (kept / resolved)", "兑现率（兑现 / 已判定）")


# --- promises to pay ---------------------------------------------------------------------


class Promises(Report):
    name = "promises"
    title = ("Promises to pay", "承诺还款")
    description = (
        "Promises falling due in the period (kept, partly kept, broken, pending), the kept rate.",
        "期间内到期的承诺还款：兑现、部分兑现、跳票或待履约，以及兑现率。",
    )
    params = ParamSet(
        (
            start_param(),
            end_param(),
            Param(
                "status",
                CHOICES,
                ("Status", "状态"),
                options=[(s.value, VALUES["promise_status"][s.value]) for s in PromiseStatus],
            ),
            team_param(multiple=True),
            collector_param(multiple=True),
        )
    )

    def statement(self, context: RunContext) -> Select[Any]:
        values, session = context.params, context.session
        case, promise = CollectionCase, PromiseToPay
        team, collector = aliased(Team), aliased(Collector)
        statement = (
            select(
                promise.promise_no,
                case.case_no,
                Customer.name,
                collector.name,
                team.name,
                promise.amount,
                promise.promised_for,
                promise.status,
                promise.amount_paid,
                promise.resolved_on,
                promise.created_at,
            )
            .join(case, case.id == promise.case_id)
            .join(Customer, Customer.id == case.customer_id)
            .outerjoin(collector, collector.id == promise.collector_id)
            .outerjoin(team, team.id == case.team_id)
            .where(case_scope(context.requester))
        )
        if values.get("start"):
            statement = statement.where(promise.promised_for >= values["start"])
        if values.get("end"):
            statement = statement.where(promise.promised_for <= values["end"])
        if values.get("status"):
            statement = statement.where(promise.status.in_(values["status"]))
        if values.get("team"):
            statement = statement.where(case.team_id.in_(ids_of(session, Team, values["team"])))
        if values.get("collector"):
            statement = statement.where(
                promise.collector_id.in_(ids_of(session, Collector, values["collector"]))
            )
        return statement.order_by(promise.promised_for, promise.id)

    def run(self, context: RunContext) -> ReportResult:
        language = context.language
        statement = self.statement(context)
        sub = statement.subquery()
        by_status = dict(
            context.session.execute(select(sub.c.status, func.count()).group_by(sub.c.status)).all()
        )
        count = sum(by_status.values())

        def rows() -> Iterator[Sequence[Any]]:
            for row in _stream(context.session, statement):
                yield (
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    row[6],
                    value_label("promise_status", row[7], language),
                    row[8],
                    row[9],
                    local_time(row[10]),
                )

        columns = (
            Column("promise_no", ("Promise no.", "承诺编号"), width=18),
            Column("case_no", ("Case no.", "案件号"), width=18),
            Column("customer", ("Customer", "客户")),
            Column("collector", ("Collector", "催收员")),
            Column("team", ("Team", "团队")),
            Column("amount", ("Amount promised", "承诺金额"), MONEY_COLUMN, True),
            Column("promised_for", ("Promised for", "承诺日期"), DATE_COLUMN),
            Column("status", ("Status", "状态")),
            Column("amount_paid", ("Paid", "已还金额"), MONEY_COLUMN, True),
            Column("resolved_on", ("Resolved on", "判定日期"), DATE_COLUMN),
            Column("created_at", ("Made at", "承诺时间"), DATETIME),
        )
        kept = by_status.get(PromiseStatus.KEPT, 0) + by_status.get("kept", 0)
        partly = by_status.get(PromiseStatus.PARTLY_KEPT, 0) + by_status.get("partly_kept", 0)
        broken = by_status.get(PromiseStatus.BROKEN, 0) + by_status.get("broken", 0)
        resolved = kept + partly + broken
        status_rows = [
            (value_label("promise_status", status, language), n, n / count if count else 0.0)
            for status, n in sorted(by_status.items(), key=lambda item: str(item[0]))
        ]
        summary_table = Table(
            "by_status",
            ("By status", "按状态"),
            (
                Column("status", ("Status", "状态")),
                Column("promises", ("Promises", "笔数"), INT_COLUMN, True),
                Column("share", ("Share", "占比"), PERCENT_COLUMN),
            ),
            status_rows,
            count=len(status_rows),
            totals=True,
            chart=Chart(BAR, ("Promises by status", "承诺还款按状态"), "status", ("promises",)),
        )
        return ReportResult(
            [
                Table("promises", ("Promises", "承诺明细"), columns, rows(), count, totals=True),
                summary_table,
            ],
            summary=[
                (("Promises", "承诺笔数"), count),
                (KEPT_RATE, kept / resolved if resolved else 0.0),
            ],
            empty_message=None
            if count
            else ("No promise falls due in this period.", "此期间没有到期的承诺还款。"),
        )


# --- the compliance log ------------------------------------------------------------------


class ComplianceLog(Report):
    name = "compliance_log"
    title = ("Compliance log", "合规检查日志")
    description = (
        "Every question the contact gate answered in the period, with its verdict and reasons.",
        "期间内合规拦截的每一次检查：结论与原因。",
    )
    roles = frozenset({ADMIN, AUDITOR, SUPERVISOR})
    clock = "calendar"
    params = ParamSet(
        (
            start_param("today-7"),
            end_param(),
            Param(
                "verdict",
                CHOICES,
                ("Verdict", "结论"),
                options=list(VALUES["verdict"].items()),
            ),
            Param("channel", CHOICES, ("Channel", "渠道"), options=list(VALUES["channel"].items())),
            Param("actor", TEXT, ("Asked by", "发起人")),
            Param("rule", TEXT, ("Blocking rule", "拦截规则")),
        )
    )

    def statement(self, context: RunContext) -> Select[Any]:
        values = context.params
        check = ComplianceCheck
        case = CollectionCase
        statement = select(
            check.checked_at,
            check.contact_at,
            case.case_no,
            check.actor,
            check.origin,
            check.agent,
            check.channel,
            check.party,
            check.target,
            check.policy,
            check.policy_version,
            check.verdict,
            check.blocking_rule,
            check.reasons,
            check.earliest_allowed_at,
        ).outerjoin(case, case.id == check.case_id)
        if not context.requester.sees_all:
            statement = statement.where(check.case_id.is_not(None), case_scope(context.requester))
        statement = statement.where(*_in_period(check.checked_at, values["start"], values["end"]))
        if values.get("verdict"):
            statement = statement.where(check.verdict.in_(values["verdict"]))
        if values.get("channel"):
            statement = statement.where(check.channel.in_(values["channel"]))
        if values.get("actor"):
            statement = statement.where(check.actor == values["actor"])
        if values.get("rule"):
            statement = statement.where(check.blocking_rule == values["rule"])
        return statement.order_by(check.checked_at, check.id)

    def run(self, context: RunContext) -> ReportResult:
        language = context.language
        statement = self.statement(context)
        sub = statement.subquery()
        counts = context.session.execute(
            select(sub.c.verdict, sub.c.blocking_rule, func.count())
            .group_by(sub.c.verdict, sub.c.blocking_rule)
            .order_by(func.count().desc())
        ).all()
        count = sum(n for _, _, n in counts)

        def reasons(items: Any) -> str:
            parts = []
            for item in items or []:
                message = item.get("message_zh") if language == "zh" else None
                parts.append(f"{item.get('id', '')}: {message or item.get('message', '')}")
            return "; ".join(parts)

        def rows() -> Iterator[Sequence[Any]]:
            for row in _stream(context.session, statement):
                yield (
                    local_time(row[0]),
                    local_time(row[1]),
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    value_label("channel", row[6], language),
                    row[7],
                    row[8],
                    row[9],
                    row[10],
                    value_label("verdict", row[11], language),
                    row[12],
                    reasons(row[13]),
                    local_time(row[14]),
                )

        columns = (
            Column("checked_at", ("Checked at", "检查时间"), DATETIME),
            Column("contact_at", ("Contact at", "拟联系时间"), DATETIME),
            Column("case_no", ("Case no.", "案件号"), width=18),
            Column("actor", ("Asked by", "发起人")),
            Column("origin", ("Origin", "来源")),
            Column("agent", ("Agent", "执行方")),
            Column("channel", ("Channel", "渠道")),
            Column("party", ("Party", "联系对象")),
            Column("target", ("Target (masked)", "联系目标（脱敏）"), width=18),
            Column("policy", ("Policy", "合规策略")),
            Column("policy_version", ("Version", "版本"), INT_COLUMN),
            Column("verdict", ("Verdict", "结论")),
            Column("blocking_rule", ("Blocking rule", "拦截规则"), width=18),
            Column("reasons", ("Reasons", "原因"), width=60),
            Column("earliest_allowed_at", ("Earliest allowed", "最早可联系时间"), DATETIME),
        )
        by_rule = [
            (value_label("verdict", verdict, language), rule or "-", n)
            for verdict, rule, n in counts
        ]
        return ReportResult(
            [
                Table("checks", ("Checks", "检查明细"), columns, rows(), count),
                Table(
                    "by_rule",
                    ("By verdict and rule", "按结论与规则"),
                    (
                        Column("verdict", ("Verdict", "结论")),
                        Column("rule", ("Blocking rule", "拦截规则"), width=24),
                        Column("checks", ("Checks", "次数"), INT_COLUMN, True),
                    ),
                    by_rule,
                    len(by_rule),
                    totals=True,
                ),
            ],
            summary=[
                (("Checks", "检查次数"), count),
                (
                    ("Blocked", "拦截次数"),
                    sum(n for verdict, _, n in counts if verdict == "blocked"),
                ),
            ],
            empty_message=None
            if count
            else ("The gate answered no question in this period.", "此期间没有合规检查记录。"),
        )


# --- the audit trail ---------------------------------------------------------------------

# Keys of audited values that hold personal data, masked unless pii=full.
PII_KEYS = {"id_number": mask_id_number, "phone": mask_phone, "recipient": mask_phone}
PII_VALUE_TABLES = {"contact_point"}


def _mask_values(table: str, values: dict[str, Any] | None) -> dict[str, Any] | None:
    if not values:
        return values
    masked = dict(values)
    for key, mask in PII_KEYS.items():
        if isinstance(masked.get(key), str) and masked[key]:
            masked[key] = mask(masked[key])
    if table in PII_VALUE_TABLES and isinstance(masked.get("value"), str):
        masked["value"] = masked.get("value_masked") or "***"
    return masked


class AuditTrail(Report):
    name = "audit_trail"
    title = ("Audit trail", "审计日志")
    description = (
        "Who changed what and when, with the values before and after.",
        "谁在何时修改了什么，及修改前后的值。",
    )
    roles = frozenset({ADMIN, AUDITOR})
    clock = "calendar"
    params = ParamSet(
        (
            start_param("today-7"),
            end_param(),
            Param("actor", TEXT, ("Who", "操作人")),
            Param("table", TEXT, ("Table", "数据表")),
            Param("action", TEXT, ("Action", "操作"), ("insert, update, delete, import ...", "")),
            PII_PARAM,
        )
    )

    def statement(self, context: RunContext) -> Select[Any]:
        values = context.params
        entry = AuditEntry
        statement = select(
            entry.id,
            entry.occurred_at,
            entry.actor,
            entry.action,
            entry.table_name,
            entry.row_id,
            entry.before,
            entry.after,
            entry.entry_hash,
        ).where(*_in_period(entry.occurred_at, values["start"], values["end"]))
        if values.get("actor"):
            statement = statement.where(entry.actor == values["actor"])
        if values.get("table"):
            statement = statement.where(entry.table_name == values["table"])
        if values.get("action"):
            statement = statement.where(entry.action == values["action"])
        return statement.order_by(entry.id)

    def run(self, context: RunContext) -> ReportResult:
        statement = self.statement(context)
        count = _count(context.session, statement)
        full = context.params.get("pii") == "full"

        def text(table: str, values: Any) -> str | None:
            if values is None:
                return None
            shown = values if full else _mask_values(table, values)
            return json.dumps(shown, ensure_ascii=False, sort_keys=True)

        def rows() -> Iterator[Sequence[Any]]:
            for row in _stream(context.session, statement):
                yield (
                    row[0],
                    local_time(row[1]),
                    row[2],
                    row[3],
                    row[4],
                    row[5],
                    text(row[4], row[6]),
                    text(row[4], row[7]),
                    row[8],
                )

        columns = (
            Column("id", ("Entry", "序号"), INT_COLUMN),
            Column("occurred_at", ("When", "时间"), DATETIME),
            Column("actor", ("Who", "操作人")),
            Column("action", ("Action", "操作")),
            Column("table_name", ("Table", "数据表"), width=18),
            Column("row_id", ("Row", "行号")),
            Column("before", ("Before", "修改前"), width=50),
            Column("after", ("After", "修改后"), width=50),
            Column("entry_hash", ("Entry hash", "条目哈希"), width=20),
        )
        return ReportResult(
            [Table("entries", ("Audit entries", "审计条目"), columns, rows(), count)],
            summary=[(("Entries", "条目数"), count)],
            empty_message=None
            if count
            else ("No change was recorded in this period.", "此期间没有变更记录。"),
        )


# --- alerts ------------------------------------------------------------------------------


class Alerts(Report):
    name = "alerts"
    title = ("Alerts", "预警")
    description = (
        "Early warnings raised in the period, by type, and what was done with them.",
        "期间内触发的风险预警（按类型）及处理情况。",
    )
    clock = "calendar"
    params = ParamSet(
        (
            start_param(),
            end_param(),
            Param(
                "status",
                CHOICES,
                ("Status", "状态"),
                options=[(s.value, VALUES["alert_status"][s.value]) for s in AlertStatus],
            ),
            Param(
                "severity",
                CHOICES,
                ("Severity", "严重程度"),
                options=list(VALUES["severity"].items()),
            ),
            Param("kind", TEXT, ("Alert type", "预警类型")),
            team_param(multiple=True),
        )
    )

    def statement(self, context: RunContext) -> Select[Any]:
        values = context.params
        alert, case = Alert, CollectionCase
        statement = (
            select(
                alert.id,
                alert.raised_at,
                case.case_no,
                alert.kind,
                alert.severity,
                alert.status,
                alert.message,
                alert.ruleset,
                alert.version,
                alert.row,
                alert.assigned_to,
                alert.acknowledged_by,
                alert.acknowledged_at,
                alert.resolved_by,
                alert.resolved_at,
                alert.resolution_note,
            )
            .join(case, case.id == alert.case_id)
            .where(case_scope(context.requester))
            .where(*_in_period(alert.raised_at, values["start"], values["end"]))
        )
        if values.get("status"):
            statement = statement.where(alert.status.in_(values["status"]))
        if values.get("severity"):
            statement = statement.where(alert.severity.in_(values["severity"]))
        if values.get("kind"):
            statement = statement.where(alert.kind.in_(_split(values["kind"])))
        if values.get("team"):
            statement = statement.where(
                case.team_id.in_(ids_of(context.session, Team, values["team"]))
            )
        return statement.order_by(alert.raised_at, alert.id)

    def run(self, context: RunContext) -> ReportResult:
        language = context.language
        statement = self.statement(context)
        sub = statement.subquery()
        unresolved = sub.c.status != AlertStatus.RESOLVED.value
        by_kind = context.session.execute(
            select(sub.c.kind, func.count(), func.sum(sql_case((unresolved, 1), else_=0)))
            .group_by(sub.c.kind)
            .order_by(func.count().desc(), sub.c.kind)
        ).all()
        count = sum(row[1] for row in by_kind)

        def rows() -> Iterator[Sequence[Any]]:
            for row in _stream(context.session, statement):
                yield (
                    row[0],
                    local_time(row[1]),
                    row[2],
                    row[3],
                    value_label("severity", row[4], language),
                    value_label("alert_status", row[5], language),
                    row[6],
                    f"{row[7]} v{row[8]} / {row[9]}",
                    row[10],
                    row[11],
                    local_time(row[12]),
                    row[13],
                    local_time(row[14]),
                    row[15],
                )

        columns = (
            Column("id", ("Alert", "预警编号"), INT_COLUMN),
            Column("raised_at", ("Raised at", "触发时间"), DATETIME),
            Column("case_no", ("Case no.", "案件号"), width=18),
            Column("kind", ("Type", "类型"), width=22),
            Column("severity", ("Severity", "严重程度")),
            Column("status", ("Status", "状态")),
            Column("message", ("Message", "说明"), width=40),
            Column("rule", ("Raised by (table / row)", "触发规则（决策表 / 行）"), width=28),
            Column("assigned_to", ("Assigned to", "分派给")),
            Column("acknowledged_by", ("Acknowledged by", "确认人")),
            Column("acknowledged_at", ("Acknowledged at", "确认时间"), DATETIME),
            Column("resolved_by", ("Resolved by", "解决人")),
            Column("resolved_at", ("Resolved at", "解决时间"), DATETIME),
            Column("resolution_note", ("Resolution", "处理说明"), width=30),
        )
        kinds = [(kind, n, int(still or 0)) for kind, n, still in by_kind]
        return ReportResult(
            [
                Table(
                    "by_type",
                    ("By type", "按类型"),
                    (
                        Column("kind", ("Type", "类型"), width=24),
                        Column("alerts", ("Alerts", "预警数"), INT_COLUMN, True),
                        Column("unresolved", ("Unresolved", "未解决"), INT_COLUMN, True),
                    ),
                    kinds,
                    len(kinds),
                    totals=True,
                    chart=Chart(
                        BAR,
                        ("Alerts by type", "预警按类型"),
                        "kind",
                        ("alerts", "unresolved"),
                    ),
                ),
                Table("alerts", ("Alerts", "预警明细"), columns, rows(), count),
            ],
            summary=[(("Alerts", "预警数"), count)],
            empty_message=None
            if count
            else ("No alert was raised in this period.", "此期间没有触发预警。"),
        )


LISTINGS: tuple[type[Report], ...] = (CaseList, Promises, ComplianceLog, AuditTrail, Alerts)
