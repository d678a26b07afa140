"""Repayment propensity (还款可能性预测): the probability that a debtor pays in the next period.

What the model reads (:data:`FEATURES`), per loan and statement month, from the case database:
the DPD path of the last three statements (months past due, delinquent or not), payments
against the previous bill, utilisation of the limit, how many of the last six months were
delinquent, the limit itself and the debtor's age; and, where the database holds them, the
contact outcomes of the last 30 days, promises kept and broken, the latest bureau report and
last month's e-commerce consumption. A feature with no data (or no variation) in the training
rows is left out and the version says so. Gender and marital status are never read.

The label of a (loan, month) row is whether the next statement finds the account current
(months past due 0); for the last month, whose next statement is not in the data, a source's own
outcome is used when it has one (the UCI portfolio's ``default payment next month``, stored on
the loan as ``attributes["default_payment_next_month"]``): paid = not defaulted.

Training is a held-out **time** split, never a random one: the labelled months, oldest first,
are split into training months (all but the last two), one calibration month and one test
month. The estimator (a logistic regression, or a histogram gradient-boosting model) is fitted
on the training months, calibrated (Platt scaling) on the calibration month, and measured on the
test month only — rows it never saw, of a later month: AUC, Brier score, log loss, the error
rate at 0.5, the lift chart's area ratio and a calibration table. On the UCI portfolio that is:
train April–July, calibrate on August, test on September against the real October outcome
("default payment next month"). Training is deterministic for a given seed.

**Against the published baselines.** Yeh & Lien (2009, Expert Systems with Applications 36(2),
2473–2480), who compiled the data set, compare six methods (k-nearest neighbours, logistic
regression, discriminant analysis, naive Bayes, neural network, classification tree). They
report no AUC: they report the error rate and the lift chart's "area ratio" on a validation
set, and a "Sorting Smoothing" regression of real on predicted probability (the neural network
fits best: R² highest, intercept near 0, slope near 1). The validation error rates quoted from
the paper are 0.18 for logistic regression and 0.17 for the classification tree and the neural
network (Yeh & Lien 2009, Table 1, as cited in the public replications we could consult; their
split is random, within one month). Our test month is harder than a random split: the status
code 1 ("one month late") occurs in September only (12.3 % of accounts, never April–August),
so a model trained on earlier months meets it for the first time in the test month. See
README ("Decision support") for the figures this module reaches.

Versions (``propensity_model``) are never edited; scoring (:func:`score_open_cases`) writes the
latest score of every open case to ``case_propensity`` (the case fact ``repayment_propensity``)
and asks the rules service to decide again when a running table reads it. A model trained before
the latest data import is stale (:func:`stale_reason`) and flagged where its scores are shown.
Training and scoring run as RQ jobs (:func:`start_training`, :func:`start_scoring`).
"""

from __future__ import annotations

import hashlib
import io
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import joblib
import numpy as np
from rq import Queue, get_current_job
from rq.job import Job
from sqlalchemy import Engine, Float, cast, delete, func, select
from sqlalchemy.orm import Session

from casedb import audit
from casedb.bulk_insert import insert_rows
from casedb.delinquency import business_date
from casedb.importing.writer import key_in
from casedb.models import (
    OPEN_STATUSES,
    CasePropensity,
    CollectionCase,
    ConsumptionSummary,
    ContactAttempt,
    CreditSnapshot,
    Customer,
    ImportBatch,
    ImportStatus,
    Loan,
    MonthlyStatement,
    Party,
    PromiseStatus,
    PromiseToPay,
    PropensityModel,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES
from casedb.session import default_engine, transaction
from casedb.types import utcnow

ACTOR = "propensity"
METHODS = ("logistic", "gbm")
DEFAULT_METHOD = "logistic"
DEFAULT_SEED = 20051001
DEFAULT_MAX_ITER = 150
# Statements of history a row reads (the current month and the five before it).
HISTORY_MONTHS = 6
# Training, calibration and test: at least one month each.
MIN_LABELLED_MONTHS = 3
# Rows of each outcome (paid, not paid) every split needs to be measured at all.
MIN_CLASS_ROWS = 20
CALIBRATION_BINS = 10
# Cases scored per read-predict-write round (and per transaction).
CHUNK = 10_000
JOB_FUNCTION_TRAIN = "rules_service.propensity.training_job"
JOB_FUNCTION_SCORE = "rules_service.propensity.scoring_job"
JOB_TIMEOUT_SECONDS = 2 * 3600
JOB_KEPT_SECONDS = 7 * 24 * 3600

Progress = Callable[[int, int], None]


class PropensityError(ValueError):
    """Bad input said in plain words with the numbers that fell short (too little history, no
    model, a feature the model needs that cannot be read); never a traceback."""


@dataclass(frozen=True)
class Feature:
    name: str
    en: str
    zh: str


FEATURES: tuple[Feature, ...] = (
    Feature("mpd_0", "Months past due on the latest statement", "最近账单逾期月数"),
    Feature("mpd_1", "Months past due one statement earlier", "上期账单逾期月数"),
    Feature("mpd_2", "Months past due two statements earlier", "前两期账单逾期月数"),
    Feature("delinquent_0", "Latest statement delinquent (1/0)", "最近账单是否逾期"),
    Feature("delinquent_1", "Previous statement delinquent (1/0)", "上期账单是否逾期"),
    Feature("delinquent_2", "Statement two months back delinquent (1/0)", "前两期账单是否逾期"),
    Feature("utilisation_0", "Latest balance / credit limit", "最近余额 / 授信额度"),
    Feature("utilisation_1", "Previous balance / credit limit", "上期余额 / 授信额度"),
    Feature("utilisation_2", "Balance two months back / credit limit", "前两期余额 / 授信额度"),
    Feature("pay_ratio_0", "Paid this month / previous bill", "本月还款 / 上期账单"),
    Feature("pay_ratio_1", "Paid last month / the bill before", "上月还款 / 其上期账单"),
    Feature("pay_ratio_2", "Paid two months back / the bill before", "前两月还款 / 其上期账单"),
    Feature("paid_share_0", "Paid this month / credit limit", "本月还款 / 授信额度"),
    Feature("paid_share_1", "Paid last month / credit limit", "上月还款 / 授信额度"),
    Feature("paid_share_2", "Paid two months back / credit limit", "前两月还款 / 授信额度"),
    Feature("months_delinquent_6", "Delinquent months among the last six", "近六个月逾期月数"),
    Feature("max_mpd_6", "Most months past due in the last six", "近六个月最大逾期月数"),
    Feature("history_months", "Statements in the last six months", "近六个月账单数"),
    Feature("log_limit", "Log of the credit limit (or principal)", "授信额度(或本金)的对数"),
    Feature("customer_age", "Age of the debtor", "客户年龄"),
    Feature("contacts_30d", "Contacts logged in the last 30 days", "近30天联系次数"),
    Feature("rpc_30d", "Right-party contacts in the last 30 days", "近30天有效联系次数"),
    Feature("broken_promises", "Promises to pay broken so far", "已违约的还款承诺数"),
    Feature("kept_promises", "Promises to pay kept so far", "已兑现的还款承诺数"),
    Feature("credit_score", "Latest bureau or third-party score", "最新信用评分"),
    Feature("delinquent_elsewhere", "Delinquent accounts at other lenders", "他行逾期账户数"),
    Feature("consumption_amount", "E-commerce spending last month", "上月电商消费金额"),
    Feature("consumption_orders", "E-commerce orders last month", "上月电商订单数"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
FEATURE_LABELS = {f.name: (f.en, f.zh) for f in FEATURES}


# --- reading the history -----------------------------------------------------------------


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), clock.min, tzinfo=UTC)


@dataclass
class History:
    """Monthly statements of some loans as matrices (loan × month, NaN where none)."""

    loan_ids: np.ndarray
    months: list[date]
    mpd: np.ndarray
    balance: np.ndarray
    paid: np.ndarray
    limit: np.ndarray
    age: np.ndarray
    case_of_loan: dict[int, int] = field(default_factory=dict)
    customer_of_loan: dict[int, int] = field(default_factory=dict)
    outcome: dict[int, int] = field(default_factory=dict)

    def position(self, loan_ids: Sequence[int]) -> np.ndarray:
        return np.searchsorted(self.loan_ids, np.asarray(loan_ids, dtype=np.int64))


def read_history(
    session: Session,
    loan_ids: Sequence[int] | None = None,
    through: date | None = None,
    since: date | None = None,
) -> History:
    """The statements of ``loan_ids`` (all loans with statements when ``None``) up to the month
    of ``through``, with each loan's limit, debtor's age, case and recorded next-month outcome."""
    statements = MonthlyStatement.__table__
    query = select(
        statements.c.loan_id,
        statements.c.period,
        cast(statements.c.balance, Float),
        cast(statements.c.amount_paid, Float),
        statements.c.months_past_due,
    )
    if loan_ids is not None:
        query = query.where(key_in(session, statements.c.loan_id, list(loan_ids)))
    if through is not None:
        query = query.where(statements.c.period <= _month_end(through))
    if since is not None:
        query = query.where(statements.c.period >= since)
    rows = session.execute(query).all()
    loan_col, period_col, balance_col, paid_col, mpd_col = (
        zip(*rows, strict=True) if rows else ((), (), (), (), ())
    )
    ends = {period: _month_end(period) for period in set(period_col)}
    months = sorted(set(ends.values()))
    month_index = {m: i for i, m in enumerate(months)}
    loans = np.asarray(loan_col, dtype=np.int64)
    ids = np.union1d(loans, np.asarray(list(loan_ids or ()), dtype=np.int64))
    shape = (len(ids), len(months))
    mpd, balance, paid = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    if rows:
        position = {period: month_index[end] for period, end in ends.items()}
        where = (
            np.searchsorted(ids, loans),
            np.fromiter(map(position.__getitem__, period_col), np.int64, len(rows)),
        )
        mpd[where] = np.asarray(mpd_col, dtype=float)
        balance[where] = np.asarray(balance_col, dtype=float)
        paid[where] = np.asarray(paid_col, dtype=float)
    history = History(
        ids, months, mpd, balance, paid, np.full(len(ids), np.nan), np.full(len(ids), np.nan)
    )
    _read_loans(session, history, loan_ids)
    return history


def _read_loans(session: Session, history: History, loan_ids: Sequence[int] | None) -> None:
    loans, customers, cases = Loan.__table__, Customer.__table__, CollectionCase.__table__
    query = (
        select(
            loans.c.id,
            cast(func.coalesce(loans.c.credit_limit, loans.c.principal), Float),
            customers.c.age,
            customers.c.id,
            loans.c.attributes["default_payment_next_month"].as_integer(),
            cases.c.id,
        )
        .join(customers, customers.c.id == loans.c.customer_id)
        .outerjoin(cases, cases.c.loan_id == loans.c.id)
    )
    if loan_ids is not None:
        query = query.where(key_in(session, loans.c.id, list(loan_ids)))
    rows = session.execute(query).all()
    if not rows:
        return
    loan_col, limit_col, age_col, customer_col, outcome_col, case_col = zip(*rows, strict=True)
    loans_found = np.asarray(loan_col, dtype=np.int64)
    positions = np.searchsorted(history.loan_ids, loans_found)
    inside = positions < len(history.loan_ids)
    inside[inside] = history.loan_ids[positions[inside]] == loans_found[inside]
    limits = np.array([v if v and v > 0 else np.nan for v in limit_col], dtype=float)
    ages = np.array([np.nan if v is None else v for v in age_col], dtype=float)
    history.limit[positions[inside]] = limits[inside]
    history.age[positions[inside]] = ages[inside]
    for keep, loan_id, customer_id, outcome, case_id in zip(
        inside, loan_col, customer_col, outcome_col, case_col, strict=True
    ):
        if not keep:
            continue
        history.customer_of_loan[loan_id] = customer_id
        if case_id is not None:
            history.case_of_loan[loan_id] = case_id
        if outcome in (0, 1):
            history.outcome[loan_id] = int(outcome)


# --- features ------------------------------------------------------------------------------


def _at(matrix: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``matrix[rows, columns]`` with NaN where the column is before the first month."""
    found = np.full(len(rows), np.nan)
    valid = columns >= 0
    found[valid] = matrix[rows[valid], columns[valid]]
    return found


def statement_features(history: History, rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The statement features (the first 20 of :data:`FEATURES`) of loans ``rows`` (positions
    in ``history``) as of their month ``pos``; shape (len(rows), 20)."""
    limit = history.limit[rows]
    columns: list[np.ndarray] = []
    mpd = [_at(history.mpd, rows, pos - k) for k in range(3)]
    columns += mpd
    columns += [np.where(np.isnan(m), np.nan, (m >= 1).astype(float)) for m in mpd]
    balance = [_at(history.balance, rows, pos - k) for k in range(4)]
    paid = [_at(history.paid, rows, pos - k) for k in range(3)]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns += [np.clip(balance[k] / limit, -1.0, 10.0) for k in range(3)]
        columns += [
            np.where(balance[k + 1] > 0, np.clip(paid[k] / balance[k + 1], 0.0, 10.0), np.nan)
            for k in range(3)
        ]
        columns += [np.clip(paid[k] / limit, 0.0, 10.0) for k in range(3)]
    window = np.stack([_at(history.mpd, rows, pos - k) for k in range(HISTORY_MONTHS)], axis=1)
    present = ~np.isnan(window)
    columns.append(np.where(present, window >= 1, False).sum(axis=1).astype(float))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # A loan without statements has an all-NaN window: expected, its maximum is NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        columns.append(np.nanmax(np.where(present, window, np.nan), axis=1))
    columns.append(present.sum(axis=1).astype(float))
    columns.append(np.log(limit))
    columns.append(history.age[rows])
    return np.column_stack(columns)


def activity_features(
    session: Session, history: History, loan_ids: np.ndarray, as_of: date, all_rows: bool
) -> np.ndarray:
    """Contacts, promises, bureau and consumption features of ``loan_ids`` as of ``as_of``
    (the end of that day); shape (len(loan_ids), 8), NaN where the source has nothing."""
    n = len(loan_ids)
    out = np.full((n, 8), np.nan)
    case_ids = [history.case_of_loan.get(int(i)) for i in loan_ids]
    customer_ids = [history.customer_of_loan.get(int(i)) for i in loan_ids]
    end = _end_of_day(as_of)
    start = end - timedelta(days=30)

    def restrict(column: Any, values: list[int | None]) -> list[Any]:
        if all_rows:
            return []
        return [key_in(session, column, sorted({v for v in values if v is not None}) or [-1])]

    contacts = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                ContactAttempt.case_id,
                func.count(),
                func.count().filter(
                    ContactAttempt.party == Party.DEBTOR,
                    ContactAttempt.outcome.in_(RIGHT_PARTY_OUTCOMES),
                ),
            )
            .where(
                ContactAttempt.started_at >= start,
                ContactAttempt.started_at < end,
                *restrict(ContactAttempt.case_id, case_ids),
            )
            .group_by(ContactAttempt.case_id)
        )
    }
    promises: dict[int, dict[str, int]] = {}
    for case_id, status, count in session.execute(
        select(PromiseToPay.case_id, PromiseToPay.status, func.count())
        .where(
            PromiseToPay.resolved_on.is_not(None),
            PromiseToPay.resolved_on <= as_of,
            *restrict(PromiseToPay.case_id, case_ids),
        )
        .group_by(PromiseToPay.case_id, PromiseToPay.status)
    ):
        promises.setdefault(case_id, {})[str(getattr(status, "value", status))] = count
    bureau: dict[int, tuple[Any, Any]] = {}
    for customer_id, score, elsewhere in session.execute(
        select(
            CreditSnapshot.customer_id,
            CreditSnapshot.score,
            CreditSnapshot.delinquent_accounts_elsewhere,
        )
        .where(
            CreditSnapshot.reported_on <= as_of, *restrict(CreditSnapshot.customer_id, customer_ids)
        )
        .order_by(CreditSnapshot.customer_id, CreditSnapshot.reported_on, CreditSnapshot.id)
    ):
        bureau[customer_id] = (score, elsewhere)  # the latest wins
    month_start = as_of.replace(day=1)
    consumption = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                ConsumptionSummary.customer_id,
                cast(func.sum(ConsumptionSummary.total_amount), Float),
                func.sum(ConsumptionSummary.order_count),
            )
            .where(
                ConsumptionSummary.period >= month_start,
                ConsumptionSummary.period <= as_of,
                *restrict(ConsumptionSummary.customer_id, customer_ids),
            )
            .group_by(ConsumptionSummary.customer_id)
        )
    }
    kept = (PromiseStatus.KEPT.value, PromiseStatus.PARTLY_KEPT.value)
    for index, (case_id, customer_id) in enumerate(zip(case_ids, customer_ids, strict=True)):
        if case_id is not None:
            attempts, rpc = contacts.get(case_id, (0, 0))
            out[index, 0], out[index, 1] = attempts, rpc
            counts = promises.get(case_id, {})
            out[index, 2] = counts.get(PromiseStatus.BROKEN.value, 0)
            out[index, 3] = sum(counts.get(k, 0) for k in kept)
        else:
            out[index, 0:4] = 0.0
        score, elsewhere = bureau.get(customer_id, (None, None))
        out[index, 4] = np.nan if score is None else score
        out[index, 5] = np.nan if elsewhere is None else elsewhere
        amount, orders = consumption.get(customer_id, (None, None))
        out[index, 6] = np.nan if amount is None else amount
        out[index, 7] = np.nan if orders is None else orders
    return out


# --- the training set ----------------------------------------------------------------------


@dataclass
class Split:
    """One part of the time split: its months, features, labels and (loan id, month) keys."""

    months: list[str]
    x: np.ndarray
    y: np.ndarray
    keys: set[tuple[int, str]]

    @property
    def rows(self) -> int:
        return len(self.y)


@dataclass
class TrainingData:
    features: list[str]
    unused: dict[str, str]
    train: Split
    calibration: Split
    test: Split
    data_through: date


def _labelled_rows(history: History, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the loans with a statement in month ``m`` and a known outcome, and the
    outcome (1 = paid: the next statement is current, or the source's next-month outcome)."""
    present = ~np.isnan(history.mpd[:, m])
    if m + 1 < len(history.months):
        following = history.mpd[:, m + 1]
        known = present & ~np.isnan(following)
        return np.nonzero(known)[0], (following[known] == 0).astype(int)
    rows, labels = [], []
    for position in np.nonzero(present)[0]:
        outcome = history.outcome.get(int(history.loan_ids[position]))
        if outcome is not None:
            rows.append(position)
            labels.append(1 - outcome)
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=int)


def training_data(session: Session, loan_ids: Sequence[int] | None = None) -> TrainingData:
    """The time split of every labelled (loan, month) row (of ``loan_ids`` only, when given: a
    sample); raises :class:`PropensityError` when the history is too short or a split lacks one
    of the outcomes."""
    history = read_history(session, loan_ids)
    labelled: list[tuple[int, np.ndarray, np.ndarray]] = []
    for m in range(len(history.months)):
        rows, labels = _labelled_rows(history, m)
        if len(rows):
            labelled.append((m, rows, labels))
    if len(labelled) < MIN_LABELLED_MONTHS:
        months = ", ".join(_month(history.months[m]) for m, _, _ in labelled) or "none"
        raise PropensityError(
            f"too little history to train: {len(history.months)} months of statements give "
            f"{len(labelled)} months with a known next-month outcome ({months}); at least "
            f"{MIN_LABELLED_MONTHS} are needed (training, calibration and test months)"
        )
    parts = {
        "training": labelled[:-2],
        "calibration": [labelled[-2]],
        "test": [labelled[-1]],
    }
    built: dict[str, Split] = {}
    for name, chunks in parts.items():
        xs, ys, keys, months = [], [], set(), []
        for m, rows, labels in chunks:
            month = _month(history.months[m])
            x = np.hstack(
                [
                    statement_features(history, rows, np.full(len(rows), m)),
                    activity_features(
                        session,
                        history,
                        history.loan_ids[rows],
                        history.months[m],
                        loan_ids is None,
                    ),
                ]
            )
            xs.append(x)
            ys.append(labels)
            keys.update((int(history.loan_ids[r]), month) for r in rows)
            months.append(month)
        y = np.concatenate(ys)
        paid, unpaid = int(y.sum()), int(len(y) - y.sum())
        if min(paid, unpaid) < MIN_CLASS_ROWS:
            raise PropensityError(
                f"too little history to train: the {name} rows ({', '.join(months)}) have "
                f"{paid} accounts that paid and {unpaid} that did not; each needs at least "
                f"{MIN_CLASS_ROWS}"
            )
        built[name] = Split(months, np.vstack(xs), y, keys)
    overlap = built["training"].keys & built["test"].keys
    if overlap or built["calibration"].keys & built["test"].keys:
        raise AssertionError(f"held-out split broken: {len(overlap)} training rows in the test")
    used, unused = _usable_features(built["training"].x)
    for split in built.values():
        split.x = split.x[:, used]
    return TrainingData(
        [FEATURE_NAMES[i] for i in used],
        unused,
        built["training"],
        built["calibration"],
        built["test"],
        history.months[labelled[-1][0]],
    )


def _usable_features(x: np.ndarray) -> tuple[list[int], dict[str, str]]:
    used, unused = [], {}
    for index, name in enumerate(FEATURE_NAMES):
        column = x[:, index]
        known = column[~np.isnan(column)]
        if known.size == 0:
            unused[name] = "no data in the training months"
        elif np.all(known == known[0]):
            unused[name] = f"no variation: every training row has {known[0]:g}"
        else:
            used.append(index)
    return used, unused


# --- fitting and measuring -----------------------------------------------------------------


def _estimator(method: str, seed: int, max_iter: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    if method == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
            LogisticRegression(max_iter=max(max_iter, 1000), random_state=seed),
        )
    if method == "gbm":
        return HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=0.05,
            max_depth=3,
            min_samples_leaf=100,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    raise PropensityError(f"unknown method {method!r}: one of {', '.join(METHODS)}")


def fit(data: TrainingData, method: str, seed: int, max_iter: int) -> Any:
    """The estimator fitted on the training months and calibrated on the calibration month."""
    from sklearn.calibration import CalibratedClassifierCV  # noqa: PLC0415
    from sklearn.frozen import FrozenEstimator  # noqa: PLC0415

    base = _estimator(method, seed, max_iter).fit(data.train.x, data.train.y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(base), method="sigmoid")
    return calibrated.fit(data.calibration.x, data.calibration.y)


def area_ratio(defaulted: np.ndarray, risk: np.ndarray) -> float:
    """The lift chart's area ratio (Yeh & Lien 2009): the area between the model's cumulative
    gains curve and the diagonal over the area between the best possible curve and it."""
    n, positives = len(defaulted), int(defaulted.sum())
    if positives in (0, n):
        return float("nan")
    order = np.argsort(-risk, kind="stable")
    gains = np.cumsum(defaulted[order]) / positives
    model = gains.mean()
    best = np.minimum(np.arange(1, n + 1) / positives, 1.0).mean()
    diagonal = (np.arange(1, n + 1) / n).mean()
    return float((model - diagonal) / (best - diagonal))


def measure(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Held-out metrics of scores ``p`` (probability of paying) against outcomes ``y``."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score  # noqa: PLC0415

    defaulted = 1 - y
    bins = np.quantile(p, np.linspace(0, 1, CALIBRATION_BINS + 1))
    which = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, CALIBRATION_BINS - 1)
    table = []
    for b in range(CALIBRATION_BINS):
        inside = which == b
        if inside.any():
            table.append(
                {
                    "bin": b + 1,
                    "rows": int(inside.sum()),
                    "low": float(p[inside].min()),
                    "high": float(p[inside].max()),
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                }
            )
    return {
        "rows": len(y),
        "paid": int(y.sum()),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-9, 1 - 1e-9), labels=[0, 1])),
        # As Yeh & Lien classify: default predicted when the probability of paying is < 0.5.
        "error_rate": float(np.mean((p < 0.5) != (defaulted == 1))),
        "area_ratio": area_ratio(defaulted, 1 - p),
        # Expected calibration error: the rows' mean |predicted − observed| over the deciles.
        "calibration_error": float(
            sum(b["rows"] * abs(b["predicted"] - b["observed"]) for b in table) / len(y)
        ),
        "calibration": table,
    }


def _dump(estimator: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)
    return buffer.getvalue()


_LOADED: dict[str, Any] = {}


def load_estimator(model: PropensityModel) -> Any:
    """The fitted estimator of a version (kept in memory by its SHA-256)."""
    found = _LOADED.get(model.estimator_sha256)
    if found is None:
        data = bytes(model.estimator)
        if hashlib.sha256(data).hexdigest() != model.estimator_sha256:
            raise PropensityError(f"{model}: the stored estimator does not match its checksum")
        found = joblib.load(io.BytesIO(data))
        _LOADED.clear()
        _LOADED[model.estimator_sha256] = found
    return found


@dataclass(frozen=True)
class TrainResult:
    model_id: int
    version: int
    metrics: dict[str, Any]
    split: dict[str, Any]
    features: list[str]
    unused: dict[str, str]
    seconds: float

    def text(self) -> str:
        test = self.metrics["test"]
        return (
            f"propensity v{self.version}: trained on {', '.join(self.split['train'])}, "
            f"calibrated on {self.split['calibration']}, tested on {self.split['test']} "
            f"({test['rows']} held-out rows): AUC {test['auc']:.4f}, Brier {test['brier']:.4f}, "
            f"error rate {test['error_rate']:.4f}, area ratio {test['area_ratio']:.3f} "
            f"({self.seconds:.1f} s); {len(self.features)} features"
            + (f", left out: {', '.join(sorted(self.unused))}" if self.unused else "")
        )


def train(
    engine: Engine,
    method: str = DEFAULT_METHOD,
    seed: int = DEFAULT_SEED,
    max_iter: int = DEFAULT_MAX_ITER,
    by: str = "cli",
    job_id: str | None = None,
    stage: Callable[[str], None] | None = None,
    loan_ids: Sequence[int] | None = None,
) -> TrainResult:
    """Train, calibrate and measure a new version on the held-out time split and store it."""
    if method not in METHODS:
        raise PropensityError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    started = time.perf_counter()
    say = stage or (lambda _text: None)
    with Session(engine) as session:
        say("reading history")
        as_of = business_date(session)
        data = training_data(session, loan_ids)
    say("fitting")
    estimator = fit(data, method, seed, max_iter)
    say("measuring")
    metrics = {
        name: measure(split.y, estimator.predict_proba(split.x)[:, 1])
        for name, split in (
            ("train", data.train),
            ("calibration", data.calibration),
            ("test", data.test),
        )
    }
    split = {
        "train": data.train.months,
        "calibration": data.calibration.months[0],
        "test": data.test.months[0],
        "rows": {
            "train": data.train.rows,
            "calibration": data.calibration.rows,
            "test": data.test.rows,
        },
    }
    blob = _dump(estimator)
    with transaction(engine) as session:
        session.info["actor"] = by
        version = (session.scalar(select(func.max(PropensityModel.version))) or 0) + 1
        row = PropensityModel(
            version=version,
            method=method,
            seed=seed,
            trained_at=utcnow(),
            trained_by=by,
            data_as_of=as_of,
            data_through=data.data_through,
            features=data.features,
            unused_features=data.unused,
            split=split,
            metrics={**metrics, "method": method, "max_iter": max_iter},
            estimator=blob,
            estimator_sha256=hashlib.sha256(blob).hexdigest(),
            job_id=job_id,
        )
        session.add(row)
        session.flush()
        model_id = row.id
    return TrainResult(
        model_id,
        version,
        metrics,
        split,
        data.features,
        data.unused,
        time.perf_counter() - started,
    )


# --- versions and staleness ----------------------------------------------------------------


def latest_model(session: Session) -> PropensityModel | None:
    return session.scalar(select(PropensityModel).order_by(PropensityModel.version.desc()))


def model_by_version(session: Session, version: int | None) -> PropensityModel:
    """The version asked for (the latest when ``None``), or a :class:`PropensityError`."""
    if version is None:
        model = latest_model(session)
        if model is None:
            raise PropensityError(
                "no propensity model has been trained yet: run `python run.py model train`"
            )
        return model
    model = session.scalar(select(PropensityModel).where(PropensityModel.version == version))
    if model is None:
        known = session.scalars(select(PropensityModel.version).order_by(PropensityModel.version))
        raise PropensityError(
            f"no propensity model v{version}; versions: {', '.join(map(str, known)) or 'none'}"
        )
    return model


def latest_import(session: Session) -> Any:
    return session.execute(
        select(ImportBatch.id, ImportBatch.kind, ImportBatch.finished_at)
        .where(ImportBatch.status == ImportStatus.COMPLETED, ImportBatch.finished_at.is_not(None))
        .order_by(ImportBatch.finished_at.desc(), ImportBatch.id.desc())
        .limit(1)
    ).first()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def stale_reason(session: Session, model: PropensityModel) -> str | None:
    """Why ``model`` is stale — trained before the latest data import — or None."""
    found = latest_import(session)
    if found is None or _utc(found.finished_at) <= _utc(model.trained_at):
        return None
    return (
        f"{model} was trained {_utc(model.trained_at):%Y-%m-%d %H:%M} UTC, before the latest "
        f"data import (#{found.id}, {found.kind}, {_utc(found.finished_at):%Y-%m-%d %H:%M} UTC): "
        "train a new version"
    )


# --- scoring -------------------------------------------------------------------------------


@dataclass
class ScoreResult:
    version: int
    cases: int = 0
    without_statements: int = 0
    mean_score: float | None = None
    stale: str | None = None
    reevaluation_run: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        mean = f", mean score {self.mean_score:.3f}" if self.mean_score is not None else ""
        lines = [
            f"propensity v{self.version}: {self.cases} open cases scored{mean}; "
            f"{self.without_statements} without statements (scored from the case alone) "
            f"in {sum(self.seconds.values()):.1f} s"
        ]
        if self.reevaluation_run is not None:
            lines.append(f"re-evaluation run #{self.reevaluation_run} requested")
        if self.stale:
            lines.append(f"stale: {self.stale}")
        return "\n".join(lines)


def check_features(model: PropensityModel) -> list[int]:
    """Column positions of the model's features in :data:`FEATURES`; a feature this build
    cannot read is a :class:`PropensityError` naming it."""
    missing = [name for name in model.features if name not in FEATURE_NAMES]
    if missing:
        raise PropensityError(
            f"{model} reads {len(model.features)} features, {len(missing)} of which this "
            f"version cannot compute: {', '.join(missing)}; train a new version"
        )
    return [FEATURE_NAMES.index(name) for name in model.features]


def case_features(session: Session, cases: Sequence[Any], as_of: date) -> tuple[np.ndarray, int]:
    """All :data:`FEATURES` of ``cases`` (rows with ``loan_id``, ``dpd`` and
    ``outstanding_balance``) as of their loan's latest statement up to ``as_of``; a case whose
    loan has no statement is read from the case itself. Returns (matrix, cases without
    statements)."""
    loan_ids = [case.loan_id for case in cases]
    since = (as_of.replace(day=1) - timedelta(days=31 * HISTORY_MONTHS)).replace(day=1)
    history = read_history(session, loan_ids, through=as_of, since=since)
    rows = history.position(loan_ids)
    present = ~np.isnan(history.mpd)
    months = history.mpd.shape[1]
    if months:
        found = months - 1 - np.argmax(present[:, ::-1], axis=1)
        latest = np.where(present.any(axis=1), found, -1)[rows]
    else:
        latest = np.full(len(rows), -1)
    x = np.hstack(
        [
            statement_features(history, rows, latest),
            activity_features(session, history, history.loan_ids[rows], as_of, False),
        ]
    )
    bare = np.nonzero(latest < 0)[0]
    for index in bare:
        case = cases[index]
        months_late = math.ceil(max(case.dpd, 0) / 30)
        x[index, 0], x[index, 3] = months_late, float(months_late >= 1)
        limit = history.limit[rows[index]]
        if limit and not np.isnan(limit):
            x[index, 6] = np.clip(float(case.outstanding_balance) / limit, -1.0, 10.0)
        x[index, 15], x[index, 16], x[index, 17] = float(months_late >= 1), months_late, 0.0
    return x, len(bare)


def _open_cases(session: Session, after_id: int, limit: int) -> list[Any]:
    return session.execute(
        select(
            CollectionCase.id,
            CollectionCase.loan_id,
            CollectionCase.dpd,
            cast(CollectionCase.outstanding_balance, Float).label("outstanding_balance"),
        )
        .where(CollectionCase.status.in_(OPEN_STATUSES), CollectionCase.id > after_id)
        .order_by(CollectionCase.id)
        .limit(limit)
    ).all()


def score_open_cases(
    engine: Engine,
    version: int | None = None,
    by: str = "cli",
    chunk: int = CHUNK,
    progress: Progress | None = None,
    reevaluate: bool = True,
) -> ScoreResult:
    """Score every open case with model ``version`` (the latest by default), replacing their
    scores in ``case_propensity`` one chunk (one transaction) at a time; then, when a running
    decision table reads ``repayment_propensity``, ask the rules service to decide again."""
    seconds = {"read": 0.0, "predict": 0.0, "write": 0.0}
    with Session(engine) as session:
        model = model_by_version(session, version)
        columns = check_features(model)
        estimator = load_estimator(model)
        result = ScoreResult(model.version, stale=stale_reason(session, model))
        model_id = model.id
        as_of = business_date(session)
        total = session.scalar(
            select(func.count())
            .select_from(CollectionCase)
            .where(CollectionCase.status.in_(OPEN_STATUSES))
        )
    if progress is not None:
        progress(0, total)
    last_id, score_sum = 0, 0.0
    table = CasePropensity.__table__
    while True:
        with transaction(engine) as session:
            began = time.perf_counter()
            cases = _open_cases(session, last_id, chunk)
            if not cases:
                break
            last_id = cases[-1].id
            x, bare = case_features(session, cases, as_of)
            seconds["read"] += time.perf_counter() - began
            began = time.perf_counter()
            scores = estimator.predict_proba(x[:, columns])[:, 1]
            seconds["predict"] += time.perf_counter() - began
            began = time.perf_counter()
            ids = [case.id for case in cases]
            session.execute(delete(table).where(key_in(session, table.c.case_id, ids)))
            now = utcnow()
            insert_rows(
                session,
                table,
                [
                    {
                        "case_id": case_id,
                        "model_id": model_id,
                        "score": float(score),
                        "as_of": as_of,
                        "scored_at": now,
                    }
                    for case_id, score in zip(ids, scores, strict=True)
                ],
            )
            seconds["write"] += time.perf_counter() - began
        result.cases += len(cases)
        result.without_statements += bare
        score_sum += float(scores.sum())
        if progress is not None:
            progress(result.cases, total)
    result.mean_score = score_sum / result.cases if result.cases else None
    result.seconds = {k: round(v, 3) for k, v in seconds.items()}
    with transaction(engine) as session:
        session.info["actor"] = by
        audit.append(
            session,
            [
                audit.Change(
                    by,
                    "score",
                    CasePropensity.__tablename__,
                    None,
                    None,
                    {
                        "model_version": result.version,
                        "cases": result.cases,
                        "without_statements": result.without_statements,
                        "mean_score": result.mean_score,
                        "as_of": as_of.isoformat(),
                    },
                )
            ],
        )
        if reevaluate and result.cases:
            kinds = tables_reading_propensity(session)
            if kinds:
                from rules_service.reevaluation import request_reevaluation  # noqa: PLC0415

                run = request_reevaluation(
                    session, f"repayment propensity v{result.version} scored", kinds, by=by
                )
                result.reevaluation_run = run.id
    return result


def tables_reading_propensity(session: Session) -> list[Any]:
    """The kinds whose running table reads the case fact ``repayment_propensity``."""
    from rules_service.decision_table import Kind  # noqa: PLC0415
    from rules_service.simulation import running_version  # noqa: PLC0415

    kinds = []
    for kind in Kind:
        loaded = running_version(session, kind)
        if loaded is not None and "repayment_propensity" in loaded.table.fact_names:
            kinds.append(kind)
    return kinds


def score_summary(session: Session) -> dict[str, Any]:
    """How many open cases hold a score, of which version, and their distribution (deciles)."""
    rows = session.execute(
        select(CasePropensity.score, PropensityModel.version)
        .join(PropensityModel, PropensityModel.id == CasePropensity.model_id)
        .join(CollectionCase, CollectionCase.id == CasePropensity.case_id)
        .where(CollectionCase.status.in_(OPEN_STATUSES))
    ).all()
    open_cases = session.scalar(
        select(func.count())
        .select_from(CollectionCase)
        .where(CollectionCase.status.in_(OPEN_STATUSES))
    )
    if not rows:
        return {"open_cases": open_cases, "scored": 0, "versions": {}, "deciles": []}
    scores = np.array([r[0] for r in rows])
    versions: dict[int, int] = {}
    for _, v in rows:
        versions[v] = versions.get(v, 0) + 1
    return {
        "open_cases": open_cases,
        "scored": len(rows),
        "versions": versions,
        "mean": float(scores.mean()),
        "deciles": [float(q) for q in np.quantile(scores, np.linspace(0, 1, 11))],
    }


# --- the background jobs -------------------------------------------------------------------


def _publish(job: Job | None, **meta: Any) -> None:
    if job is not None:
        job.meta.update(meta)
        job.save_meta()


def training_job(method: str, seed: int, max_iter: int, by: str) -> dict[str, Any]:
    """The RQ job: train a version; a :class:`PropensityError` is the job's result, said."""
    job = get_current_job()
    job_id = job.id if job is not None else None
    try:
        result = train(
            default_engine(),
            method,
            seed,
            max_iter,
            by=by,
            job_id=job_id,
            stage=lambda text: _publish(job, stage=text),
        )
    except PropensityError as error:
        _publish(job, stage="failed", error=str(error))
        return {"error": str(error)}
    _publish(job, stage="finished", version=result.version)
    return {"version": result.version, "text": result.text()}


def scoring_job(version: int | None, by: str) -> dict[str, Any]:
    """The RQ job: score every open case."""
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        _publish(job, progress={"done": done, "total": total})

    try:
        result = score_open_cases(default_engine(), version, by=by, progress=progress)
    except PropensityError as error:
        _publish(job, stage="failed", error=str(error))
        return {"error": str(error)}
    _publish(job, stage="finished")
    return {"version": result.version, "cases": result.cases, "text": result.text()}


def start_training(
    queue: Queue,
    method: str = DEFAULT_METHOD,
    seed: int = DEFAULT_SEED,
    max_iter: int = DEFAULT_MAX_ITER,
    by: str = "cli",
) -> Job:
    if method not in METHODS:
        raise PropensityError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
    return queue.enqueue(
        JOB_FUNCTION_TRAIN,
        method,
        seed,
        max_iter,
        by,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=JOB_KEPT_SECONDS,
        failure_ttl=JOB_KEPT_SECONDS,
        description=f"train a repayment-propensity model ({method}, seed {seed})",
        meta={"stage": "queued", "kind": "propensity-train"},
    )


def start_scoring(queue: Queue, version: int | None = None, by: str = "cli") -> Job:
    return queue.enqueue(
        JOB_FUNCTION_SCORE,
        version,
        by,
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=JOB_KEPT_SECONDS,
        failure_ttl=JOB_KEPT_SECONDS,
        description="score every open case's repayment propensity",
        meta={"stage": "queued", "kind": "propensity-score", "progress": None},
    )
