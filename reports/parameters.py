"""A report's parameters: declared once, parsed from a command line, a console form or a schedule,
checked, and stored with the run in a form that parses back to the same values.

Every way in gives text (``--param dpd_min=31``, a form field, a schedule's JSON), so each kind
parses text: ``date`` (ISO, or a date relative to the business date: ``today``, ``today-7``,
``month-start``, ``last-month-start``, ``last-month-end``, ``week-start``, ``last-week-start``,
``last-week-end``, ``year-start``), ``month`` (``2005-09``, ``this-month``, ``last-month``),
``int``, ``decimal``, ``choice`` (one of a list), ``choices`` (several, comma-separated or a
list), ``text`` and ``bool``. A schedule can therefore say "last month" and each run gets the
dates of its own last month. Anything wrong is a :class:`ReportError` whose message names the
parameter and says what is allowed, in English and Chinese.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from reports.labels import Text, say, say_format

DATE = "date"
MONTH = "month"
INT = "int"
DECIMAL = "decimal"
CHOICE = "choice"
CHOICES = "choices"
TEXT = "text"
BOOL = "bool"
KINDS = (DATE, MONTH, INT, DECIMAL, CHOICE, CHOICES, TEXT, BOOL)

MAX_TEXT = 200
_RELATIVE = re.compile(r"^today(?:\s*([+-])\s*(\d{1,4}))?$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
TRUE = frozenset({"1", "true", "yes", "y", "on", "是"})
FALSE = frozenset({"0", "false", "no", "n", "off", "否", ""})


class ReportError(ValueError):
    """Bad input to a report (or a report that cannot be made): a message for the person who
    asked, in their language, never a stack trace. ``param`` names the field at fault."""

    def __init__(self, text: Text, *, param: str | None = None, **values: Any) -> None:
        self.text = text
        self.param = param
        self.values = {"param": param, **values}
        super().__init__(say_format(text, "en", **self.values))

    def message(self, language: str) -> str:
        values = {
            key: value.in_language(language) if isinstance(value, Phrase) else value
            for key, value in self.values.items()
        }
        return say_format(self.text, language, **values)


# (value, label) pairs; a callable gets a database session (teams, collectors).
Options = Sequence[tuple[str, Text | str]]


@dataclass(frozen=True)
class Param:
    """One parameter of a report."""

    name: str
    kind: str
    label: Text
    help: Text | None = None
    default: Any = None
    required: bool = False
    options: Options | Callable[[Any], Options] | None = None
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    # Shown in the console's form only for roles that may use it (pii=full).
    advanced: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def choices(self, session: Any = None) -> Options:
        if self.options is None:
            return ()
        return self.options(session) if callable(self.options) else self.options

    def parse(self, raw: Any, today: date, session: Any = None) -> Any:
        """The typed value of ``raw`` (text, a list for ``choices``, or already typed)."""
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "" or raw == []:
            return [] if self.kind == CHOICES else None
        parse = getattr(self, f"_parse_{self.kind}")
        return parse(raw, today, session)

    def dump(self, value: Any) -> Any:
        """``value`` as stored with the run (JSON), which :meth:`parse` reads back."""
        if value is None:
            return None
        if self.kind == DATE:
            return value.isoformat()
        if self.kind == MONTH:
            return value.strftime("%Y-%m")
        if self.kind == DECIMAL:
            return str(value)
        if self.kind == CHOICES:
            return list(value)
        return value

    def show(self, value: Any, language: str) -> str:
        """``value`` as the cover sheet and the run list show it."""
        if value is None or value == []:
            return ""
        if self.kind == BOOL:
            return say(("yes", "是") if value else ("no", "否"), language)
        labels = {code: say(label, language) for code, label in self._static_options()}
        if self.kind == CHOICES:
            return ", ".join(labels.get(v, v) for v in value)
        if self.kind == CHOICE:
            return labels.get(value, value)
        return str(self.dump(value))

    def _static_options(self) -> Options:
        return self.options if self.options is not None and not callable(self.options) else ()

    def _refuse(self, raw: Any, expected: Text, **values: Any) -> ReportError:
        return ReportError(
            (
                "{param}: {value!r} is not {expected}",
                "{param}：{value!r} 不是{expected}",
            ),
            param=self.name,
            value=raw if not isinstance(raw, list) else ",".join(map(str, raw)),
            expected=Phrase(expected, values),
        )

    def _parse_date(self, raw: Any, today: date, _session: Any) -> date:
        if isinstance(raw, date):
            return raw
        text = str(raw).lower()
        relative = _relative_date(text, today)
        if relative is not None:
            return relative
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._refuse(
                raw,
                (
                    "a date (YYYY-MM-DD, today, today-7, month-start, last-month-start, ...)",
                    "日期（YYYY-MM-DD、today、today-7、month-start、last-month-start 等）",
                ),
            ) from None

    def _parse_month(self, raw: Any, today: date, _session: Any) -> date:
        if isinstance(raw, date):
            return raw.replace(day=1)
        text = str(raw).lower()
        if text in ("this-month", "month"):
            return today.replace(day=1)
        if text == "last-month":
            return (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        found = _MONTH.match(text)
        if found and 1 <= int(found.group(2)) <= 12:
            return date(int(found.group(1)), int(found.group(2)), 1)
        raise self._refuse(
            raw,
            (
                "a month (YYYY-MM, this-month, last-month)",
                "月份（YYYY-MM、this-month、last-month）",
            ),
        )

    def _parse_int(self, raw: Any, _today: date, _session: Any) -> int:
        try:
            value = int(str(raw).replace(",", ""))
        except ValueError:
            raise self._refuse(raw, ("a whole number", "整数")) from None
        self._check_range(raw, value)
        return value

    def _parse_decimal(self, raw: Any, _today: date, _session: Any) -> Decimal:
        try:
            value = Decimal(str(raw).replace(",", ""))
        except InvalidOperation:
            raise self._refuse(raw, ("a number", "数字")) from None
        if not value.is_finite():
            raise self._refuse(raw, ("a number", "数字"))
        self._check_range(raw, value)
        return value

    def _check_range(self, raw: Any, value: int | Decimal) -> None:
        if self.minimum is not None and value < self.minimum:
            raise self._refuse(raw, ("at least {n}", "不小于 {n} 的数"), n=self.minimum)
        if self.maximum is not None and value > self.maximum:
            raise self._refuse(raw, ("at most {n}", "不大于 {n} 的数"), n=self.maximum)

    def _parse_choice(self, raw: Any, _today: date, session: Any) -> str:
        value = str(raw)
        allowed = [code for code, _ in self.choices(session)]
        if value not in allowed:
            raise self._refuse(
                raw, ("one of {allowed}", "以下之一：{allowed}"), allowed=_few(allowed)
            )
        return value

    def _parse_choices(self, raw: Any, _today: date, session: Any) -> list[str]:
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        values = [str(item).strip() for item in items if str(item).strip()]
        allowed = [code for code, _ in self.choices(session)]
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise self._refuse(
                wrong, ("among {allowed}", "在以下取值之中：{allowed}"), allowed=_few(allowed)
            )
        return list(dict.fromkeys(values))

    def _parse_text(self, raw: Any, _today: date, _session: Any) -> str:
        value = str(raw)
        if len(value) > MAX_TEXT:
            raise self._refuse(
                value[:20] + "…",
                ("text of at most {n} characters", "不超过 {n} 个字符的文本"),
                n=MAX_TEXT,
            )
        return value

    def _parse_bool(self, raw: Any, _today: date, _session: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise self._refuse(raw, ("yes or no (true/false)", "是或否（true/false）"))


class Phrase:
    """A bilingual phrase inside a :class:`ReportError`'s message (each language gets its own)."""

    def __init__(self, text: Text, values: Mapping[str, Any] | None = None) -> None:
        self.text, self.values = text, values or {}

    def __format__(self, _spec: str) -> str:  # the English message, as str(error) shows it
        return say_format(self.text, "en", **self.values)

    def in_language(self, language: str) -> str:
        return say_format(self.text, language, **self.values)


def _few(values: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values)})" if len(values) > limit else "")


def _relative_date(text: str, today: date) -> date | None:
    found = _RELATIVE.match(text)
    if found:
        sign, days = found.groups()
        offset = int(days or 0) * (-1 if sign == "-" else 1)
        return today + timedelta(days=offset)
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    week_start = today - timedelta(days=today.weekday())
    return {
        "month-start": month_start,
        "month-end": today.replace(day=calendar.monthrange(today.year, today.month)[1]),
        "last-month-start": last_month_end.replace(day=1),
        "last-month-end": last_month_end,
        "week-start": week_start,
        "last-week-start": week_start - timedelta(days=7),
        "last-week-end": week_start - timedelta(days=1),
        "year-start": today.replace(month=1, day=1),
    }.get(text)


@dataclass(frozen=True)
class ParamSet:
    """A report's parameters in the order its form shows them."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterable[Param]:  # type: ignore[override]
        return iter(self.params)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def parse(
        self, raw: Mapping[str, Any], today: date, report: str, session: Any = None
    ) -> dict[str, Any]:
        """Typed values of every parameter (defaults filled in); unknown names are refused."""
        unknown = [name for name in raw if self.get(name) is None]
        if unknown:
            raise ReportError(
                (
                    "report {report} has no parameter {name}; its parameters are: {known}",
                    "报表 {report} 没有参数 {name}；可用参数：{known}",
                ),
                param=unknown[0],
                report=report,
                name=", ".join(unknown),
                known=", ".join(self.names()) or "-",
            )
        values: dict[str, Any] = {}
        for param in self.params:
            given = raw.get(param.name)
            value = param.parse(given, today, session)
            if value is None or value == []:
                default = param.default
                value = param.parse(default, today, session) if default is not None else value
            if param.required and (value is None or value == []):
                raise ReportError(("{param} is required", "必须填写 {param}"), param=param.name)
            values[param.name] = value
        return values

    def dump(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: p.dump(values.get(p.name)) for p in self.params}

    def describe(self, values: Mapping[str, Any], language: str) -> list[tuple[str, str]]:
        """(label, value) of every parameter that has a value, for the cover sheet."""
        return [
            (say(p.label, language), p.show(values.get(p.name), language))
            for p in self.params
            if values.get(p.name) not in (None, [], "")
        ]


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """``["status=new,promised", "dpd_min=31"]`` (the CLI's ``--param``) as a dict."""
    raw: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ReportError(
                (
                    "--param takes key=value, not {pair!r}",
                    "--param 的格式是 key=value，而不是 {pair!r}",
                ),
                pair=pair,
            )
        raw[name.strip()] = value
    return raw
