"""Every import kind: the columns each file has, and what each row becomes.

Headers are matched case-insensitively, in English or by the Chinese alias shown. A column that
is absent from a file leaves that field as it is on rows already in the database.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb import pii
from casedb.collector_events import collector_changes
from casedb.delinquency import bucket_for
from casedb.importing import fields as f
from casedb.importing.spec import Column, ImportKind, Reference
from casedb.importing.writer import WriteResult, key_in
from casedb.models import (
    CaseStatus,
    Channel,
    CollectionCase,
    Collector,
    Consent,
    ConsumptionSummary,
    ContactAttempt,
    ContactKind,
    ContactPoint,
    CreditSnapshot,
    CreditSource,
    Customer,
    Direction,
    EventKind,
    Installment,
    Loan,
    LoanStatus,
    MonthlyStatement,
    Outcome,
    Party,
    Product,
    PromiseStatus,
    PromiseToPay,
    Relationship,
    RepaymentTransaction,
    Team,
    ThirdPartyContact,
)
from casedb.models.credit import RATING_SCALE
from casedb.models.customers import masked_contact_value
from casedb.promises import match_loan_payments
from casedb.settlements import settle_loan_payments

TZ = config.DEFAULT_TIMEZONE
EVENT_ID_LIST_LIMIT = 50
OPEN_CASE_CACHE_LIMIT = 500_000
RATING_RANK = {rating: rank for rank, rating in enumerate(RATING_SCALE)}


def _customer_ref() -> Reference:
    return Reference("customer_no", Customer, "customer_no", "customer_id")


def _customer_column() -> Column:
    return Column("customer_no", f.text(64), required=True, aliases=("客户号", "客户编号"))


def _loan_column() -> Column:
    return Column("loan_no", f.text(64), required=True, aliases=("借据号", "合同号", "贷款编号"))


def _case_column() -> Column:
    return Column("case_no", f.text(64), required=True, aliases=("案件号", "案件编号"))


def _collector_column() -> Column:
    return Column("collector_code", f.text(64), aliases=("催收员", "催收员编号"))


def _collector_ref() -> Reference:
    return Reference("collector_code", Collector, "code", "collector_id")


def _open_cases_by(
    session: Session, column: str, ids: set[int]
) -> dict[int, list[tuple[int, int, int]]]:
    """Open cases keyed by ``loan_id`` or ``customer_id``: (case id, customer id, loan id).

    Answers are remembered for the session (one import run, which opens no cases through this
    path): a payments file touches the same loans in batch after batch.
    """
    cache: dict[int, list[tuple[int, int, int]]] = session.info.setdefault(
        f"open_cases_by_{column}", {}
    )
    if len(cache) > OPEN_CASE_CACHE_LIMIT:
        cache.clear()
    attribute = getattr(CollectionCase, column)
    ordered = sorted(ids - cache.keys())
    found: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for start in range(0, len(ordered), 2000):
        for case_id, customer_id, loan_id, key in session.execute(
            select(
                CollectionCase.id, CollectionCase.customer_id, CollectionCase.loan_id, attribute
            ).where(
                key_in(session, attribute, ordered[start : start + 2000]),
                CollectionCase.closed_on.is_(None),
            )
        ):
            found[key].append((case_id, customer_id, loan_id))
    for key in ordered:
        cache[key] = found.get(key, [])
    return {key: cache[key] for key in ids}


# --- derived columns ---------------------------------------------------------------------


def _derive_customer(row: dict[str, Any]) -> None:
    if "id_number" in row:
        number = row["id_number"]
        row["id_number_masked"] = pii.mask_id_number(number) if number else None
        row["id_number_digest"] = pii.id_number_digest(number) if number else None


def _derive_contact_point(row: dict[str, Any]) -> None:
    row["value_masked"], row["value_digest"] = masked_contact_value(row["kind"], row["value"])


def _derive_third_party(row: dict[str, Any]) -> None:
    if "phone" in row:
        phone = row["phone"]
        row["phone_masked"] = pii.mask_phone(phone) if phone else None
        row["phone_digest"] = pii.phone_digest(phone) if phone else None


def _derive_statement(row: dict[str, Any]) -> None:
    months = max(row["repayment_status"], 0)
    row["months_past_due"] = months
    row["dpd"] = 30 * months
    row["bucket"] = bucket_for(row["dpd"])


def _derive_case(row: dict[str, Any]) -> None:
    row["bucket"] = bucket_for(row["dpd"])
    parts = ("overdue_principal", "overdue_interest", "overdue_fees")
    row["overdue_at_entry"] = sum((row.get(p) or Decimal(0) for p in parts), Decimal(0))


# --- events ------------------------------------------------------------------------------


def payment_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    """One ``payment_posted`` per loan with an open case, summing the payments of the batch.

    New payments are matched to the pending promises of their loan's case first (in the
    import's transaction; a payment that matches none stays on the loan as it is).
    """
    by_loan: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in result.written:
        by_loan[row.values["loan_id"]].append(row.values)
    new_by_loan: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in result.inserted:
        new_by_loan[row.values["loan_id"]].append(row.values)
    match_loan_payments(session, new_by_loan, actor="import:payments")
    settle_loan_payments(session, new_by_loan, actor="import:payments")
    cases = _open_cases_by(session, "loan_id", set(by_loan))
    events = []
    for loan_id, payments in by_loan.items():
        total = sum((p["amount"] for p in payments), Decimal(0))
        for case_id, customer_id, _ in cases.get(loan_id, []):
            events.append(
                {
                    "kind": EventKind.PAYMENT_POSTED,
                    "case_id": case_id,
                    "customer_id": customer_id,
                    "loan_id": loan_id,
                    "payload": {
                        "count": len(payments),
                        "amount": str(total),
                        "txn_nos": [p["txn_no"] for p in payments[:EVENT_ID_LIST_LIMIT]],
                        "last_paid_at": max(p["paid_at"] for p in payments).isoformat(),
                    },
                }
            )
    return events


def merge_payments(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": earlier["count"] + later["count"],
        "amount": str(Decimal(earlier["amount"]) + Decimal(later["amount"])),
        "txn_nos": (earlier["txn_nos"] + later["txn_nos"])[:EVENT_ID_LIST_LIMIT],
        "last_paid_at": max(earlier["last_paid_at"], later["last_paid_at"]),
    }


def case_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    events = []
    for row in result.inserted:
        v = row.values
        events.append(
            {
                "kind": EventKind.CASE_OPENED,
                "case_id": row.id,
                "customer_id": v["customer_id"],
                "loan_id": v["loan_id"],
                "payload": {"case_no": v["case_no"], "dpd": v["dpd"], "bucket": v["bucket"]},
            }
        )
    for row in result.updated:
        v, old = row.values, row.previous or {}
        base = {"case_id": row.id, "customer_id": v["customer_id"], "loan_id": v["loan_id"]}
        if v["dpd"] != old.get("dpd"):
            payload = {"old_dpd": old.get("dpd"), "dpd": v["dpd"], "bucket": v["bucket"]}
            events.append({**base, "kind": EventKind.DPD_CHANGED, "payload": payload})
        else:
            changed = sorted(k for k in v if k != "id" and v[k] != old.get(k))
            events.append({**base, "kind": EventKind.CASE_UPDATED, "payload": {"changed": changed}})
    return events


def collector_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    """``collector_changed`` for collectors the file gave less room (capacity down, inactive,
    other team): the same event an ORM edit emits (:mod:`casedb.collector_events`)."""
    events = []
    for row in result.updated:
        changes = collector_changes(row.previous or {}, row.values)
        if changes:
            payload = {"collector_id": row.id, "changes": changes}
            events.append({"kind": EventKind.COLLECTOR_CHANGED, "payload": payload})
    return events


def contact_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    return [
        {
            "kind": EventKind.CONTACT_LOGGED,
            "case_id": row.values["case_id"],
            "customer_id": row.values["customer_id"],
            "payload": {
                "attempt_no": row.values["attempt_no"],
                "channel": row.values["channel"],
                "party": row.values.get("party"),
                "outcome": row.values["outcome"],
                "started_at": row.values["started_at"].isoformat(),
            },
        }
        for row in result.inserted
    ]


_PROMISE_EVENT = {
    PromiseStatus.KEPT: EventKind.PROMISE_KEPT,
    PromiseStatus.PARTLY_KEPT: EventKind.PROMISE_KEPT,
    PromiseStatus.BROKEN: EventKind.PROMISE_BROKEN,
}


def promise_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    events = []
    for row in result.written:
        v = row.values
        payload = {
            "promise_no": v["promise_no"],
            "amount": str(v["amount"]),
            "promised_for": v["promised_for"].isoformat(),
            "status": v.get("status") or PromiseStatus.PENDING.value,
        }
        if row.previous is None:
            events.append(
                {"kind": EventKind.PROMISE_MADE, "case_id": v["case_id"], "payload": payload}
            )
        status = v.get("status")
        old_status = (row.previous or {}).get("status")
        if status in _PROMISE_EVENT and status != old_status:
            events.append(
                {"kind": _PROMISE_EVENT[status], "case_id": v["case_id"], "payload": payload}
            )
    return events


def rating_events(session: Session, result: WriteResult) -> list[dict[str, Any]]:
    """``rating_changed`` for each open case of a customer whose new snapshot changes the rating."""
    changes = []
    for row in result.inserted:
        v = row.values
        if not v.get("rating"):
            continue
        previous = session.execute(
            select(CreditSnapshot.rating)
            .where(
                CreditSnapshot.customer_id == v["customer_id"],
                CreditSnapshot.provider == v["provider"],
                CreditSnapshot.reported_on < v["reported_on"],
                CreditSnapshot.rating.is_not(None),
            )
            .order_by(CreditSnapshot.reported_on.desc())
            .limit(1)
        ).scalar()
        if previous is not None and previous != v["rating"]:
            changes.append((v, previous))
    cases = _open_cases_by(session, "customer_id", {v["customer_id"] for v, _ in changes})
    events = []
    for v, previous in changes:
        downgrade = RATING_RANK.get(v["rating"], -1) > RATING_RANK.get(previous, len(RATING_SCALE))
        for case_id, customer_id, loan_id in cases.get(v["customer_id"], []):
            events.append(
                {
                    "kind": EventKind.RATING_CHANGED,
                    "case_id": case_id,
                    "customer_id": customer_id,
                    "loan_id": loan_id,
                    "payload": {
                        "provider": v["provider"],
                        "old_rating": previous,
                        "rating": v["rating"],
                        "downgrade": downgrade,
                        "reported_on": v["reported_on"].isoformat(),
                    },
                }
            )
    return events


# --- the kinds ---------------------------------------------------------------------------

_CREDIT_COLUMNS = (
    Column("snapshot_no", f.text(64), required=True, aliases=("报告编号",)),
    _customer_column(),
    Column("provider", f.text(64), required=True, aliases=("机构", "征信机构")),
    Column("reported_on", f.calendar_date(), required=True, aliases=("报告日期",)),
    Column("score", f.integer(0, 1000), aliases=("评分",)),
    Column("rating", f.text(8), aliases=("评级",)),
    Column("delinquent_accounts_elsewhere", f.integer(0), aliases=("他行逾期账户数",)),
    Column("debt_elsewhere", f.money(), aliases=("他行负债",)),
    Column("inquiries_last_6m", f.integer(0), aliases=("近6月查询次数",)),
)

IMPORT_KINDS: dict[str, ImportKind] = {
    kind.name: kind
    for kind in (
        ImportKind(
            name="teams",
            model=Team,
            key=("code",),
            description="Collection teams.",
            columns=(
                Column(
                    "team_code", f.text(64), required=True, target="code", aliases=("团队编号",)
                ),
                Column("name", f.text(128), required=True, aliases=("团队名称",)),
                Column("region", f.text(64), aliases=("区域",)),
                Column("supervisor_username", f.text(64), aliases=("主管",)),
                Column("active", f.boolean(), empty=True, aliases=("启用",)),
            ),
        ),
        ImportKind(
            name="collectors",
            model=Collector,
            key=("code",),
            description="Collectors with team, skills, languages, regions and capacity.",
            columns=(
                Column(
                    "collector_code",
                    f.text(64),
                    required=True,
                    target="code",
                    aliases=("催收员编号",),
                ),
                Column("name", f.text(128), required=True, aliases=("姓名",)),
                Column("team_code", f.text(64), aliases=("团队编号",)),
                Column("username", f.text(64), aliases=("登录名",)),
                Column("skills", f.text_list(), empty=[], aliases=("技能",)),
                Column("languages", f.text_list(), empty=[], aliases=("语言",)),
                Column("regions", f.text_list(), empty=[], aliases=("负责区域",)),
                Column("capacity", f.integer(0, 100000), empty=200, aliases=("容量",)),
                Column("active", f.boolean(), empty=True, aliases=("启用",)),
            ),
            references=(Reference("team_code", Team, "code", "team_id"),),
            events=collector_events,
        ),
        ImportKind(
            name="customers",
            model=Customer,
            key=("customer_no",),
            description="Debtors; ID numbers are masked and indexed by digest.",
            columns=(
                _customer_column(),
                Column("name", f.text(128), required=True, aliases=("姓名", "客户姓名")),
                Column("gender", f.text(16), aliases=("性别",)),
                Column("birth_date", f.calendar_date(), aliases=("出生日期",)),
                Column("age", f.integer(0, 150), aliases=("年龄",)),
                Column("education", f.text(32), aliases=("学历",)),
                Column("marital_status", f.text(32), aliases=("婚姻状况",)),
                Column("id_type", f.text(16), aliases=("证件类型",)),
                Column("id_number", f.text(64), aliases=("证件号码", "身份证号")),
                Column("region", f.text(32), aliases=("省份", "地区")),
                Column("city", f.text(64), aliases=("城市",)),
                Column("timezone", f.timezone_name(), aliases=("时区",)),
                Column("language", f.text(16), aliases=("语言",)),
                Column("risk_level", f.text(16), aliases=("风险等级",)),
                Column("source", f.text(32), empty="core", aliases=("来源",)),
            ),
            derive=_derive_customer,
        ),
        ImportKind(
            name="contact_points",
            model=ContactPoint,
            key=("contact_point_no",),
            description="Phones, e-mails and addresses with consent, cease and opt-out state.",
            columns=(
                Column("contact_point_no", f.text(64), required=True, aliases=("联系方式编号",)),
                _customer_column(),
                Column("kind", f.choice(ContactKind), required=True, aliases=("类型",)),
                Column("value", f.text(255), required=True, aliases=("号码", "地址", "联系方式")),
                Column("is_primary", f.boolean(), empty=False, aliases=("主要",)),
                Column(
                    "consent", f.choice(Consent), empty=Consent.UNKNOWN.value, aliases=("同意",)
                ),
                Column("consent_at", f.instant(TZ), aliases=("同意时间",)),
                Column("ceased", f.boolean(), empty=False, aliases=("停止催收",)),
                Column("ceased_at", f.instant(TZ), aliases=("停止催收时间",)),
                Column("opted_out", f.boolean(), empty=False, aliases=("退订",)),
                Column("opted_out_at", f.instant(TZ), aliases=("退订时间",)),
                Column("invalid", f.boolean(), empty=False, aliases=("无效",)),
                Column("timezone", f.timezone_name(), aliases=("时区",)),
                Column("region", f.text(32), aliases=("地区",)),
            ),
            references=(_customer_ref(),),
            derive=_derive_contact_point,
        ),
        ImportKind(
            name="third_party_contacts",
            model=ThirdPartyContact,
            key=("third_party_no",),
            description="Emergency contacts and other named third parties.",
            columns=(
                Column("third_party_no", f.text(64), required=True, aliases=("联系人编号",)),
                _customer_column(),
                Column("name", f.text(128), required=True, aliases=("联系人姓名",)),
                Column(
                    "relationship",
                    f.choice(Relationship),
                    required=True,
                    target="relationship_to_debtor",
                    aliases=("关系",),
                ),
                Column("phone", f.text(64), aliases=("联系人电话",)),
                Column("is_emergency_contact", f.boolean(), empty=True, aliases=("紧急联系人",)),
                Column("only_when_debtor_unreachable", f.boolean(), empty=True),
                Column("refused_contact", f.boolean(), empty=False, aliases=("拒绝联系",)),
                Column("refused_at", f.instant(TZ)),
                Column("notes", f.text(2000), aliases=("备注",)),
            ),
            references=(_customer_ref(),),
            derive=_derive_third_party,
        ),
        ImportKind(
            name="loans",
            model=Loan,
            key=("loan_no",),
            description="Loan contracts and card accounts.",
            columns=(
                _loan_column(),
                _customer_column(),
                Column("product", f.choice(Product), required=True, aliases=("产品",)),
                Column("currency", f.text(3), empty="CNY", aliases=("币种",)),
                Column("principal", f.money(), required=True, aliases=("本金", "合同金额")),
                Column("credit_limit", f.money(), aliases=("额度",)),
                Column("annual_rate", f.rate(), aliases=("年利率",)),
                Column("term_months", f.integer(0, 600), aliases=("期数",)),
                Column("opened_on", f.calendar_date(), aliases=("放款日期",)),
                Column("maturity_on", f.calendar_date(), aliases=("到期日期",)),
                Column(
                    "status", f.choice(LoanStatus), empty=LoanStatus.ACTIVE.value, aliases=("状态",)
                ),
                Column(
                    "outstanding_balance",
                    f.money(allow_negative=True),
                    empty=Decimal(0),
                    aliases=("余额",),
                ),
                Column("branch_region", f.text(32), aliases=("分行地区",)),
                Column("source", f.text(32), empty="core"),
            ),
            references=(_customer_ref(),),
        ),
        ImportKind(
            name="installments",
            model=Installment,
            key=("loan_id", "seq"),
            description="Repayment schedules: one row per installment of a loan.",
            columns=(
                _loan_column(),
                Column("seq", f.integer(1, 1000), required=True, aliases=("期次",)),
                Column("due_on", f.calendar_date(), required=True, aliases=("应还日期",)),
                Column("principal_due", f.money(), required=True, aliases=("应还本金",)),
                Column("interest_due", f.money(), empty=Decimal(0), aliases=("应还利息",)),
                Column("fee_due", f.money(), empty=Decimal(0), aliases=("应还费用",)),
                Column("amount_paid", f.money(), empty=Decimal(0), aliases=("已还金额",)),
                Column("paid_off_on", f.calendar_date(), aliases=("结清日期",)),
            ),
            references=(Reference("loan_no", Loan, "loan_no", "loan_id"),),
        ),
        ImportKind(
            name="statements",
            model=MonthlyStatement,
            key=("loan_id", "period"),
            description="Monthly card statements with the reported repayment status.",
            columns=(
                _loan_column(),
                Column("period", f.calendar_date(), required=True, aliases=("账单月",)),
                Column(
                    "balance", f.money(allow_negative=True), required=True, aliases=("账单金额",)
                ),
                Column("amount_paid", f.money(), empty=Decimal(0), aliases=("还款金额",)),
                Column("repayment_status", f.integer(-2, 9), required=True, aliases=("还款状态",)),
            ),
            references=(Reference("loan_no", Loan, "loan_no", "loan_id"),),
            derive=_derive_statement,
        ),
        ImportKind(
            name="payments",
            model=RepaymentTransaction,
            key=("txn_no",),
            description="Repayment transactions posted by the lending core.",
            columns=(
                Column("txn_no", f.text(64), required=True, aliases=("交易流水号", "流水号")),
                _loan_column(),
                Column("amount", f.money(), required=True, aliases=("还款金额", "金额")),
                Column("currency", f.text(3), empty="CNY", aliases=("币种",)),
                Column("paid_at", f.instant(TZ), required=True, aliases=("还款时间", "交易时间")),
                Column("channel", f.text(32), aliases=("渠道",)),
                Column("reference", f.text(128), aliases=("备注", "摘要")),
            ),
            references=(Reference("loan_no", Loan, "loan_no", "loan_id"),),
            events=payment_events,
            merge_payload=merge_payments,
        ),
        ImportKind(
            name="bureau_reports",
            model=CreditSnapshot,
            key=("snapshot_no",),
            description="Credit-bureau reports (e.g. PBOC): score, rating, other debts.",
            columns=(
                *_CREDIT_COLUMNS,
                Column(
                    "source_kind", f.choice(CreditSource), empty=CreditSource.BUREAU_REPORT.value
                ),
            ),
            references=(_customer_ref(),),
            events=rating_events,
        ),
        ImportKind(
            name="ratings",
            model=CreditSnapshot,
            key=("snapshot_no",),
            description="Third-party credit ratings, dated.",
            columns=(
                *_CREDIT_COLUMNS,
                Column(
                    "source_kind",
                    f.choice(CreditSource),
                    empty=CreditSource.THIRD_PARTY_RATING.value,
                ),
            ),
            references=(_customer_ref(),),
            events=rating_events,
        ),
        ImportKind(
            name="consumption",
            model=ConsumptionSummary,
            key=("summary_no",),
            description="Monthly e-commerce consumption summaries.",
            columns=(
                Column("summary_no", f.text(64), required=True, aliases=("汇总编号",)),
                _customer_column(),
                Column("platform", f.text(64), required=True, aliases=("平台",)),
                Column("period", f.calendar_date(), required=True, aliases=("月份",)),
                Column("order_count", f.integer(0), empty=0, aliases=("订单数",)),
                Column("total_amount", f.money(), empty=Decimal(0), aliases=("消费金额",)),
                Column("top_category", f.text(64), aliases=("主要品类",)),
                Column("last_order_on", f.calendar_date(), aliases=("最近下单日期",)),
            ),
            references=(_customer_ref(),),
        ),
        ImportKind(
            name="cases",
            model=CollectionCase,
            key=("case_no",),
            description="Collection cases from the lending core, with DPD and overdue amounts.",
            columns=(
                _case_column(),
                _loan_column(),
                Column("opened_on", f.calendar_date(), required=True, aliases=("入催日期",)),
                Column(
                    "status", f.choice(CaseStatus), empty=CaseStatus.NEW.value, aliases=("状态",)
                ),
                Column("dpd", f.integer(0, 100000), required=True, aliases=("逾期天数",)),
                Column("overdue_principal", f.money(), required=True, aliases=("逾期本金",)),
                Column("overdue_interest", f.money(), empty=Decimal(0), aliases=("逾期利息",)),
                Column("overdue_fees", f.money(), empty=Decimal(0), aliases=("逾期费用",)),
                Column(
                    "outstanding_balance",
                    f.money(allow_negative=True),
                    empty=Decimal(0),
                    aliases=("剩余本金",),
                ),
                Column("currency", f.text(3), empty="CNY", aliases=("币种",)),
                Column("risk_level", f.text(16), aliases=("风险等级",)),
                Column("team_code", f.text(64), aliases=("团队编号",)),
                _collector_column(),
            ),
            references=(
                Reference(
                    "loan_no", Loan, "loan_no", "loan_id", carry=(("customer_id", "customer_id"),)
                ),
                Reference("team_code", Team, "code", "team_id"),
                _collector_ref(),
            ),
            derive=_derive_case,
            events=case_events,
            insert_only=("overdue_at_entry", "opened_on"),
        ),
        ImportKind(
            name="contacts",
            model=ContactAttempt,
            key=("attempt_no",),
            description="Contact history: calls, messages, letters and visits with outcomes.",
            columns=(
                Column("attempt_no", f.text(64), required=True, aliases=("联系记录编号",)),
                _case_column(),
                Column("channel", f.choice(Channel), required=True, aliases=("渠道",)),
                Column("party", f.choice(Party), empty=Party.DEBTOR.value, aliases=("对象",)),
                Column(
                    "direction",
                    f.choice(Direction),
                    empty=Direction.OUTBOUND.value,
                    aliases=("方向",),
                ),
                Column("started_at", f.instant(TZ), required=True, aliases=("联系时间",)),
                Column("local_timezone", f.timezone_name(), aliases=("时区",)),
                Column("duration_seconds", f.integer(0, 86400), empty=0, aliases=("通话时长",)),
                Column("outcome", f.choice(Outcome), required=True, aliases=("结果",)),
                Column("notes", f.text(4000), aliases=("备注", "沟通内容")),
                _collector_column(),
                Column("contact_point_no", f.text(64), aliases=("联系方式编号",)),
            ),
            references=(
                Reference(
                    "case_no",
                    CollectionCase,
                    "case_no",
                    "case_id",
                    carry=(("customer_id", "customer_id"),),
                ),
                _collector_ref(),
                Reference("contact_point_no", ContactPoint, "contact_point_no", "contact_point_id"),
            ),
            events=contact_events,
        ),
        ImportKind(
            name="promises",
            model=PromiseToPay,
            key=("promise_no",),
            description="Promises to pay: amount, date and status.",
            columns=(
                Column("promise_no", f.text(64), required=True, aliases=("承诺编号",)),
                _case_column(),
                Column("amount", f.money(), required=True, aliases=("承诺金额",)),
                Column("promised_for", f.calendar_date(), required=True, aliases=("承诺日期",)),
                Column(
                    "status",
                    f.choice(PromiseStatus),
                    empty=PromiseStatus.PENDING.value,
                    aliases=("状态",),
                ),
                Column("amount_paid", f.money(), empty=Decimal(0), aliases=("已还金额",)),
                Column("resolved_on", f.calendar_date(), aliases=("兑现日期",)),
                _collector_column(),
            ),
            references=(
                Reference("case_no", CollectionCase, "case_no", "case_id"),
                _collector_ref(),
            ),
            events=promise_events,
        ),
    )
}
