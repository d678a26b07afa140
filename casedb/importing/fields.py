"""Parsers for the cells of an import file; each returns a clean value or raises ``CellError``."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from casedb.types import CENT

Parser = Callable[[str], Any]


class CellError(ValueError):
    """The reason one cell cannot be imported, in words an operator can act on."""


# Whole numbers fit a 64-bit column.
INTEGER_LIMIT = Decimal(2**63)
# NUMERIC(18, 2) holds amounts below 10**16; refuse before Decimal arithmetic can overflow.
MONEY_LIMIT = Decimal("1e13")
_MONEY_NOISE = str.maketrans("", "", ",¥￥$ \u00a0")
_DATE_FORMATS = ("%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_TRUE = frozenset({"1", "true", "t", "yes", "y", "是", "对", "有"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "否", "无"})


def text(max_length: int = 255) -> Parser:
    def parse(raw: str) -> str:
        if len(raw) > max_length:
            raise CellError(f"longer than {max_length} characters")
        return raw

    return parse


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
            if abs(value) >= INTEGER_LIMIT:
                raise CellError("not a whole number in range")
        except ValueError:
            try:
                as_decimal = Decimal(raw)
            except InvalidOperation:
                raise CellError("not a whole number") from None
            if not as_decimal.is_finite() or abs(as_decimal) >= INTEGER_LIMIT:
                raise CellError("not a whole number in range") from None
            if as_decimal != as_decimal.to_integral_value():
                raise CellError("not a whole number") from None
            value = int(as_decimal)
        if minimum is not None and value < minimum:
            raise CellError(f"below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise CellError(f"above the maximum {maximum}")
        return value

    return parse


def money(allow_negative: bool = False) -> Parser:
    """An amount with at most two decimals; thousands separators and currency signs are allowed."""

    def parse(raw: str) -> Decimal:
        try:
            value = Decimal(raw.translate(_MONEY_NOISE))
        except InvalidOperation:
            raise CellError("not an amount") from None
        if not value.is_finite():
            raise CellError("not an amount")
        if abs(value) >= MONEY_LIMIT:
            raise CellError("amount too large")
        if value != value.quantize(CENT):
            raise CellError("more than two decimals")
        if value < 0 and not allow_negative:
            raise CellError("negative amount")
        return value.quantize(CENT)

    return parse


def rate() -> Parser:
    """A fraction such as 0.1825, or a percentage such as 18.25%."""

    def parse(raw: str) -> Decimal:
        percent = raw.endswith("%")
        try:
            value = Decimal(raw.rstrip("%").strip())
        except InvalidOperation:
            raise CellError("not a rate") from None
        value = value / 100 if percent else value
        if not value.is_finite() or not 0 <= value < 10:
            raise CellError("rate out of range")
        return value.quantize(Decimal("0.000001"))

    return parse


def parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw[:10] if len(raw) > 10 and raw[10] in "T " else raw)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise CellError("not a date (use YYYY-MM-DD)")


def calendar_date() -> Parser:
    return parse_date


def instant(default_timezone: str) -> Parser:
    """A point in time; a time without an offset is read in ``default_timezone`` (the file's)."""
    zone = ZoneInfo(default_timezone)

    def parse(raw: str) -> datetime:
        try:
            value = datetime.fromisoformat(raw.replace("/", "-"))
        except ValueError:
            raise CellError(
                "not a date and time (use ISO 8601, e.g. 2025-03-01T09:30:00+08:00)"
            ) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)

    return parse


def boolean() -> Parser:
    def parse(raw: str) -> bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CellError("not yes/no (use 1/0, true/false, 是/否)")

    return parse


def choice(enum_class: type[enum.StrEnum]) -> Parser:
    allowed = {m.value.lower(): m.value for m in enum_class}

    def parse(raw: str) -> str:
        try:
            return allowed[raw.lower()]
        except KeyError:
            raise CellError(f"not one of {', '.join(allowed.values())}") from None

    return parse


def timezone_name() -> Parser:
    def parse(raw: str) -> str:
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise CellError("not an IANA time zone (e.g. Asia/Shanghai)") from None
        return raw

    return parse


_LIST_SPLIT = re.compile(r"[;,，；|]")


def text_list() -> Parser:
    """``a;b;c`` (also comma, full-width comma or bar) as a list of stripped strings."""

    def parse(raw: str) -> list[str]:
        return [part.strip() for part in _LIST_SPLIT.split(raw) if part.strip()]

    return parse
