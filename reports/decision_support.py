"""The decision-support report (决策支持报告): one workbook with what the console's Decision
support page shows — the propensity model versions with their held-out metrics and calibration
table (stale versions flagged), the behaviour patterns with their sample sizes, the risk
forecast with its backtest error, and the champion/challenger readout.

``python run.py model report --out FILE.xlsx`` writes it with :mod:`reports.workbook`; every
section that cannot be computed (no model yet, too little history) says why on its sheet
instead of failing the whole report.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import config
from casedb.delinquency import business_date
from casedb.models import PropensityModel
from casedb.types import utcnow
from reports import behaviour, forecast, strategy_simulation
from reports.labels import Text
from reports.report import local_time
from reports.result import INT, MONEY, NUMBER, PERCENT, TEXT, Column, ReportResult, Table
from reports.workbook import Cover, Written, write_workbook
from rules_service import propensity

TITLE: Text = ("Decision support", "决策支持")
# The published baselines (see rules_service.propensity): validation error rates of Yeh & Lien
# (2009) as quoted by public replications of their Table 1.
YEH_LIEN_ERROR_RATES = {
    "logistic regression": 0.18,
    "classification tree": 0.17,
    "neural network": 0.17,
}


def _problem(key: str, title: Text, message: str) -> Table:
    return Table(key, title, (Column("note", ("Note", "说明"), TEXT, width=100),), [(message,)], 1)


def model_tables(session: Session) -> list[Table]:
    models = session.scalars(select(PropensityModel).order_by(PropensityModel.version.desc())).all()
    if not models:
        return [
            _problem(
                "models",
                ("Propensity models", "还款倾向模型"),
                "no propensity model has been trained yet: run `python run.py model train`",
            )
        ]
    rows = []
    for model in models:
        test = model.metrics["test"]
        rows.append(
            (
                model.version,
                model.method,
                model.trained_at.replace(tzinfo=None),
                f"{', '.join(model.split['train'])} / {model.split['calibration']} / "
                f"{model.split['test']}",
                test["rows"],
                test["auc"],
                test["brier"],
                test["error_rate"],
                test["area_ratio"],
                propensity.stale_reason(session, model) or "",
            )
        )
    latest = models[0]
    calibration = [
        (b["bin"], b["rows"], b["predicted"], b["observed"], b["low"], b["high"])
        for b in latest.metrics["test"]["calibration"]
    ]
    baselines = [
        (method, rate, latest.metrics["test"]["error_rate"])
        for method, rate in YEH_LIEN_ERROR_RATES.items()
    ]
    return [
        Table(
            "models",
            ("Propensity models", "还款倾向模型"),
            (
                Column("version", ("Version", "版本"), INT),
                Column("method", ("Method", "方法")),
                Column("trained_at", ("Trained at (UTC)", "训练时间(UTC)"), "datetime"),
                Column(
                    "split", ("Train / calibrate / test months", "训练/校准/测试月份"), width=40
                ),
                Column("rows", ("Held-out rows", "测试样本数"), INT),
                Column("auc", ("AUC", "AUC"), NUMBER),
                Column("brier", ("Brier score", "Brier 分数"), NUMBER),
                Column("error_rate", ("Error rate at 0.5", "错误率(0.5阈值)"), PERCENT),
                Column("area_ratio", ("Area ratio (lift)", "面积比(提升图)"), NUMBER),
                Column("stale", ("Stale", "已过期"), width=60),
            ),
            rows,
            len(rows),
        ),
        Table(
            "calibration",
            (f"Calibration of v{latest.version}", f"v{latest.version} 校准表"),
            (
                Column("bin", ("Decile", "分位组"), INT),
                Column("rows", ("Rows", "样本数"), INT),
                Column("predicted", ("Mean predicted", "平均预测"), PERCENT),
                Column("observed", ("Observed paid", "实际还款率"), PERCENT),
                Column("low", ("Lowest score", "最低分"), NUMBER),
                Column("high", ("Highest score", "最高分"), NUMBER),
            ),
            calibration,
            len(calibration),
        ),
        Table(
            "baselines",
            ("Against Yeh & Lien (2009)", "与 Yeh & Lien (2009) 对比"),
            (
                Column("method", ("Their method", "文献方法"), width=24),
                Column("their_error", ("Their validation error rate", "文献验证集错误率"), PERCENT),
                Column("our_error", ("Ours, held-out month", "本模型(时间外测试月)"), PERCENT),
            ),
            baselines,
            len(baselines),
        ),
    ]


def behaviour_tables(engine: Engine) -> list[Table]:
    with engine.connect() as connection:
        payday = behaviour.payday_effect(connection)
        contacts = behaviour.contact_patterns(connection)
        effect = behaviour.strategy_effectiveness(connection)
    tables: list[Table] = []
    if payday.note:
        tables.append(_problem("payday", ("Payday effect", "发薪日效应"), payday.note))
    else:
        tables.append(
            Table(
                "payday",
                ("Payments by day of month", "按日期的还款"),
                (
                    Column("day", ("Day", "日")),
                    Column("payments", ("Payments", "笔数"), INT, True),
                    Column("occurrences", ("Days in period", "期内天数"), INT),
                    Column("per_day", ("Per day", "日均笔数"), NUMBER),
                    Column("index", ("Index (1 = average)", "指数(1为平均)"), NUMBER),
                    Column("amount", ("Amount", "金额"), MONEY, True),
                ),
                [
                    (d.key, d.payments, d.occurrences, d.per_occurrence, d.index, d.amount)
                    for d in payday.by_day + payday.by_weekday
                ],
                len(payday.by_day) + 7,
                note=(
                    f"chi-square p = {payday.p_value:.3g} (days), {payday.weekday_p_value:.3g} "
                    f"(weekdays); {payday.excluded_undated} undated payments left out",
                    f"卡方检验 p = {payday.p_value:.3g}(日), {payday.weekday_p_value:.3g}(星期);"
                    f"未计入无具体日期的还款 {payday.excluded_undated} 笔",
                ),
            )
        )
    rate_columns = (
        Column("contacts", ("Contacts", "联系次数"), INT, True),
        Column("rpc_rate", ("Right-party rate", "有效联系率"), PERCENT),
        Column("promise_rate", ("Promise rate", "承诺率"), PERCENT),
        Column("paid_rate", (f"Paid within {contacts.attribution_days} d", "其后还款率"), PERCENT),
        Column("collected", ("Collected after", "其后回款"), MONEY, True),
    )
    for key, title, groups in (
        ("by_hour", ("Contacts by local hour", "按当地小时的联系"), contacts.by_hour),
        ("by_channel", ("Contacts by channel", "按渠道的联系"), contacts.by_channel),
        ("by_window", ("Contacts by time window", "按时段的联系"), contacts.by_window),
    ):
        rows = [
            (
                g["key"],
                g["contacts"],
                g["rpc_rate"],
                g["promise_rate"],
                g["paid_rate"],
                g["collected"],
            )
            for g in groups
        ]
        tables.append(
            Table(key, title, (Column("key", ("Group", "分组")), *rate_columns), rows, len(rows))
        )
    strategy_rows = [
        (
            s["strategy"],
            s["cases"],
            s["cured"],
            s["cure_rate"],
            s["collected"],
            s["actions"],
            s["collected_per_action"],
        )
        for s in effect.strategies
    ]
    tables.append(
        Table(
            "strategies",
            ("Strategy effectiveness", "策略效果"),
            (
                Column("strategy", ("Strategy", "策略"), width=24),
                Column("cases", ("Cases", "案件数"), INT, True),
                Column("cured", ("Cured", "治愈数"), INT, True),
                Column("cure_rate", ("Cure rate", "治愈率"), PERCENT),
                Column("collected", ("Collected", "回款"), MONEY, True),
                Column("actions", ("Actions", "动作数"), INT, True),
                Column("per_action", ("Collected per action", "每动作回款"), MONEY),
            ),
            strategy_rows,
            len(strategy_rows),
        )
    )
    step_rows = [
        (
            s["path"],
            s["step"],
            s["action"],
            s["actions"],
            s["cases"],
            s["paid_rate"],
            s["collected_per_action"],
            s["cure_rate"],
        )
        for s in effect.steps
    ]
    tables.append(
        Table(
            "steps",
            ("Treatment steps", "策略步骤效果"),
            (
                Column("path", ("Path", "路径"), width=24),
                Column("step", ("Step", "步骤")),
                Column("action", ("Action", "动作")),
                Column("actions", ("Actions", "次数"), INT, True),
                Column("cases", ("Cases", "案件数"), INT, True),
                Column(
                    "paid_rate", (f"Paid within {effect.attribution_days} d", "其后还款率"), PERCENT
                ),
                Column("per_action", ("Collected per action", "每动作回款"), MONEY),
                Column("cure_rate", ("Cure rate", "治愈率"), PERCENT),
            ),
            step_rows,
            len(step_rows),
        )
    )
    return tables


def forecast_tables(engine: Engine) -> list[Table]:
    """The forecast and its backtest; either that cannot be made says why on its sheet."""
    with engine.connect() as connection:
        panel = forecast.read_panel(connection)
        try:
            future = forecast.forecast(connection, panel=panel)[0]
        except forecast.ForecastError as error:
            return [_problem("forecast", ("Risk forecast", "风险预测"), str(error))]
        try:
            test: forecast.Backtest | None = forecast.backtest(connection, panel=panel)[0]
        except forecast.ForecastError as error:
            test, problem = None, str(error)
    tables = []
    if test is None:
        tables.append(_problem("backtest", ("Forecast backtest", "预测回测"), problem))
    else:
        backtest_rows = [
            (m.month, bucket, fs, os_, err, m.mean_abs_error_pp)
            for m in test.months
            for bucket, fs, os_, err in zip(
                test.buckets, m.forecast_share, m.observed_share, m.share_error_pp, strict=True
            )
        ]
        tables.append(
            Table(
                "backtest",
                ("Forecast backtest", "预测回测"),
                (
                    Column("month", ("Month", "月份")),
                    Column("bucket", ("Bucket", "逾期阶段")),
                    Column("forecast", ("Forecast share", "预测占比"), PERCENT),
                    Column("observed", ("Observed share", "实际占比"), PERCENT),
                    Column("error", ("Error (pp)", "误差(百分点)"), NUMBER),
                    Column("mae", ("Month's mean abs error (pp)", "当月平均绝对误差"), NUMBER),
                ),
                backtest_rows,
                len(backtest_rows),
                note=(
                    f"fitted on {', '.join(test.fit_months)}; run from {test.start_month}",
                    f"拟合月份 {', '.join(test.fit_months)};自 {test.start_month} 起预测",
                ),
            )
        )
    forecast_rows = [
        (month, bucket, accounts, balance, loss)
        for month, counts, balances, loss in zip(
            future.months,
            future.accounts_forecast,
            future.balance_forecast,
            future.expected_loss,
            strict=True,
        )
        for bucket, accounts, balance in zip(future.buckets, counts, balances, strict=True)
    ]
    tables.append(
        Table(
            "forecast",
            ("Forecast", "预测"),
            (
                Column("month", ("Month", "月份")),
                Column("bucket", ("Bucket", "逾期阶段")),
                Column("accounts", ("Accounts", "账户数"), NUMBER),
                Column("balance", ("Balance", "余额"), MONEY),
                Column("loss", ("Expected loss (month)", "当月预期损失"), MONEY),
            ),
            forecast_rows,
            len(forecast_rows),
        )
    )
    return tables


def readout_tables(engine: Engine) -> list[Table]:
    with engine.connect() as connection:
        readout = strategy_simulation.challenger_readout(connection)
    rows = [
        (a["arm"], a["cases"], a["cured"], a["cure_rate"], a["collected"], a["mean_collected"])
        for a in readout.arms
    ]
    return [
        Table(
            "champion_challenger",
            ("Champion / challenger", "冠军/挑战者"),
            (
                Column("arm", ("Arm", "分组")),
                Column("cases", ("Cases", "案件数"), INT, True),
                Column("cured", ("Cured", "治愈数"), INT, True),
                Column("cure_rate", ("Cure rate", "治愈率"), PERCENT),
                Column("collected", ("Collected", "回款"), MONEY, True),
                Column("mean", ("Collected per case", "案均回款"), NUMBER),
            ),
            rows,
            len(rows),
            note=(readout.verdict, readout.verdict),
        )
    ]


def decision_support_result(engine: Engine) -> ReportResult:
    with Session(engine) as session:
        tables = model_tables(session)
    tables += behaviour_tables(engine)
    tables += forecast_tables(engine)
    tables += readout_tables(engine)
    return ReportResult(tables)


def write_report(engine: Engine, path: Path, language: str = "zh", by: str = "cli") -> Written:
    """The decision-support workbook at ``path``."""
    result = decision_support_result(engine)
    with Session(engine) as session:
        as_of = business_date(session)
    cover = Cover(
        title=TITLE[1] if language == "zh" else TITLE[0],
        report="decision_support",
        parameters=[],
        as_of=as_of,
        run_by=by,
        run_at=local_time(utcnow()),
        timezone=config.DEFAULT_TIMEZONE,
    )
    return write_workbook(result, path, cover, language)
