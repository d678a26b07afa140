"""The catalogue of case facts a decision table may test, with their declared types.

durable-rules has no types: it compares the string "120" with the number 120 as text, drops a
message whose number field holds null or a boolean, and reads ``1 == True``. Every value a table
sees therefore passes through :func:`normalise_facts` first, which turns what the database or an
API hands over into exactly one Python type per fact, or refuses it with a :class:`FactError`
that names the fact and the value. The reference evaluator and the engine normalise the same way,
so they can only disagree through the engine itself.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from casedb.delinquency import bucket_labels
from casedb.models import CaseStatus, Product

# Magnitudes the engine stores exactly (integers) or that no amount of money reaches (numbers).
MAX_INTEGER = 2**53
MAX_NUMBER = 1e15

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Field names durable-rules gives a meaning of its own, and the compiler's discriminator.
RESERVED_NAMES = frozenset({"sid", "id", "decision_input"})

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")

FactValue = float | int | str | bool | date


class FactType(enum.StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    ENUM = "enum"


ORDERED_TYPES = frozenset({FactType.NUMBER, FactType.INTEGER, FactType.DATE})


@dataclass(frozen=True)
class Fact:
    """One named fact about a case: its type, allowed values (enums) and what it means."""

    name: str
    type: FactType
    en: str
    zh: str
    values: tuple[str, ...] = ()
    unit: str | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name) or self.name in RESERVED_NAMES:
            raise ValueError(f"fact name {self.name!r} is not a lowercase identifier or reserved")
        if (self.type is FactType.ENUM) != bool(self.values):
            raise ValueError(f"fact {self.name!r}: enums, and only enums, list their values")


class FactError(ValueError):
    """A fact value that cannot be read as its declared type."""

    def __init__(self, fact: str, value: object, reason: str) -> None:
        self.fact = fact
        self.value = value
        self.reason = reason
        super().__init__(f"fact {fact!r}: {reason} (got {value!r})")


_CATALOGUE = (
    Fact(
        "dpd",
        FactType.INTEGER,
        "Days past due of the oldest unpaid installment",
        "逾期天数",
        unit="days",
    ),
    Fact(
        "bucket",
        FactType.ENUM,
        "Delinquency bucket (M1 1-30 DPD, M2 31-60, ...)",
        "逾期阶段",
        values=tuple(bucket_labels()),
    ),
    Fact(
        "overdue_amount",
        FactType.NUMBER,
        "Overdue principal, interest and fees",
        "逾期金额",
        unit="CNY",
    ),
    Fact(
        "outstanding_balance",
        FactType.NUMBER,
        "Balance still owed on the loan",
        "未偿余额",
        unit="CNY",
    ),
    Fact("principal", FactType.NUMBER, "Original principal of the loan", "贷款本金", unit="CNY"),
    Fact(
        "product", FactType.ENUM, "Loan product", "产品类型", values=tuple(p.value for p in Product)
    ),
    Fact("region", FactType.TEXT, "Province or state the debtor lives in", "所在省份/地区"),
    Fact("risk_level", FactType.ENUM, "Risk level of the debtor", "风险等级", values=RISK_LEVELS),
    Fact("customer_age", FactType.INTEGER, "Age of the debtor", "客户年龄", unit="years"),
    Fact(
        "status",
        FactType.ENUM,
        "Life-cycle status of the case",
        "案件状态",
        values=tuple(s.value for s in CaseStatus),
    ),
    Fact(
        "on_hold",
        FactType.BOOLEAN,
        "Case is on hold (dispute, hardship review, ...)",
        "案件暂停催收",
    ),
    Fact("opened_on", FactType.DATE, "Day the case was opened", "案件开立日期"),
    Fact(
        "case_age_days", FactType.INTEGER, "Days since the case was opened", "案龄天数", unit="days"
    ),
    Fact(
        "broken_promises",
        FactType.INTEGER,
        "Promises to pay broken on this case",
        "违约的还款承诺次数",
    ),
    Fact(
        "promise_pending",
        FactType.BOOLEAN,
        "A promise to pay or an agreed payment plan is pending",
        "存在未到期的还款承诺或执行中的还款计划",
    ),
    Fact(
        "consecutive_missed_installments",
        FactType.INTEGER,
        "Installments missed in a row, counted back from the latest due one",
        "连续未还期数",
    ),
    Fact(
        "payment_ratio_vs_history",
        FactType.NUMBER,
        "Last payment divided by the average of the customer's previous payments",
        "最近一次还款额 / 历史平均还款额",
    ),
    Fact(
        "days_since_last_payment",
        FactType.INTEGER,
        "Days since money was last received",
        "距上次还款天数",
        unit="days",
    ),
    Fact(
        "rating_change",
        FactType.INTEGER,
        "Credit-rating steps moved between the last two ratings; positive is a downgrade",
        "最近两次信用评级变动级数(正数为下调)",
    ),
    Fact(
        "credit_score",
        FactType.INTEGER,
        "Latest credit-bureau or third-party score",
        "最新信用评分",
    ),
    Fact(
        "delinquent_accounts_elsewhere",
        FactType.INTEGER,
        "Delinquent accounts at other lenders, per the latest bureau report",
        "他行逾期账户数",
    ),
    Fact(
        "days_since_last_contact",
        FactType.INTEGER,
        "Days since the last logged contact",
        "距上次联系天数",
        unit="days",
    ),
    Fact(
        "right_party_contacts_30d",
        FactType.INTEGER,
        "Conversations with the debtor themself in the last 30 days",
        "近30天有效联系次数",
    ),
    Fact(
        "repayment_propensity",
        FactType.NUMBER,
        "Probability (0-1) that the debtor pays in the next period, from the propensity model",
        "下期还款可能性(0-1, 还款倾向模型评分)",
    ),
    Fact(
        "ab_bucket",
        FactType.INTEGER,
        "Champion/challenger bucket 0-99, a fixed hash of the case number",
        "冠军/挑战者分组号(0-99, 由案件号哈希得出)",
    ),
)

FACTS: Mapping[str, Fact] = MappingProxyType({fact.name: fact for fact in _CATALOGUE})


def _number(fact: Fact, value: object) -> float:
    if type(value) is float and -MAX_NUMBER < value < MAX_NUMBER:  # the common case, and not NaN
        return value
    if isinstance(value, bool):
        raise FactError(fact.name, value, "a boolean is not a number")
    if isinstance(value, str):
        try:
            number = float(Decimal(value.strip()))
        except InvalidOperation:
            raise FactError(fact.name, value, "not a number") from None
    elif isinstance(value, int | float | Decimal):
        number = float(value) if not isinstance(value, int) or abs(value) < MAX_NUMBER else math.inf
    else:
        raise FactError(fact.name, value, f"expected a number, not {type(value).__name__}")
    if not math.isfinite(number) or abs(number) >= MAX_NUMBER:
        raise FactError(fact.name, value, "numbers must be finite and below 10**15")
    return number


def _integer(fact: Fact, value: object) -> int:
    if type(value) is int and -MAX_INTEGER <= value <= MAX_INTEGER:
        return value
    if isinstance(value, bool):
        raise FactError(fact.name, value, "a boolean is not an integer")
    if isinstance(value, int):
        number: int | float | Decimal = value
    elif isinstance(value, float | Decimal | str):
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except InvalidOperation:
            raise FactError(fact.name, value, "not an integer") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise FactError(fact.name, value, "not a whole number")
    else:
        raise FactError(fact.name, value, f"expected an integer, not {type(value).__name__}")
    integer = int(number)
    if abs(integer) > MAX_INTEGER:
        raise FactError(fact.name, value, "integers must lie within ±2**53")
    return integer


def _text(fact: Fact, value: object) -> str:
    if type(value) is str and value.isascii():
        return value
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise FactError(fact.name, value, f"expected text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FactError(fact.name, value, "text is not valid Unicode") from None
    return value


def _enum(fact: Fact, value: object) -> str:
    text = value.value if isinstance(value, enum.Enum) else value
    if not isinstance(text, str) or text not in fact.values:
        raise FactError(fact.name, value, f"expected one of {', '.join(fact.values)}")
    return text


def _boolean(fact: Fact, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise FactError(fact.name, value, "expected true or false (or 1/0)")


def _date(fact: Fact, value: object) -> date:
    if isinstance(value, datetime):
        raise FactError(fact.name, value, "expected a date, not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise FactError(fact.name, value, "expected a date as YYYY-MM-DD") from None
    raise FactError(fact.name, value, f"expected a date, not {type(value).__name__}")


_READERS = {
    FactType.NUMBER: _number,
    FactType.INTEGER: _integer,
    FactType.TEXT: _text,
    FactType.ENUM: _enum,
    FactType.BOOLEAN: _boolean,
    FactType.DATE: _date,
}


def normalise_value(fact: Fact, value: object) -> FactValue | None:
    """``value`` as the fact's declared type; ``None`` stays ``None`` (unknown never matches)."""
    if value is None:
        return None
    return _READERS[fact.type](fact, value)


class NormalisedFacts(dict[str, FactValue | None]):
    """Every catalogue fact of a case, already typed by :func:`normalise_facts`.

    The engine and the reference take these as they are instead of typing them again for each
    table (a re-evaluation types a million cases' facts once, not once per table). Treat it as
    read-only: a value set afterwards would skip the typing.
    """


def normalise_facts(
    raw: Mapping[str, object], names: Iterable[str] | None = None
) -> dict[str, FactValue | None]:
    """The facts ``names`` (all catalogue facts by default) read from ``raw``, typed.

    A name in ``raw`` that the catalogue does not know is refused rather than ignored: a typo such
    as ``dpdd`` would otherwise leave ``dpd`` unknown and silently match nothing.
    """
    unknown = [name for name in raw if name not in FACTS]
    if unknown:
        raise FactError(unknown[0], raw[unknown[0]], "no such fact in the catalogue")
    if names is None:
        return NormalisedFacts(
            (name, normalise_value(fact, raw.get(name))) for name, fact in FACTS.items()
        )
    return {name: normalise_value(FACTS[name], raw.get(name)) for name in names}


def typed_facts(
    raw: Mapping[str, object], names: Iterable[str] | None = None
) -> Mapping[str, FactValue | None]:
    """``raw`` typed for a table reading ``names``: :class:`NormalisedFacts` as they are (they
    hold every fact, typed), anything else through :func:`normalise_facts`."""
    if type(raw) is NormalisedFacts:
        return raw
    return normalise_facts(raw, names)


def plain_number(value: float | int) -> str:
    """A number as plain decimal text: durable-rules refuses exponents such as ``1e-05`` (204)."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")
