"""Column types that keep money exact and time unambiguous on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """An amount of money: NUMERIC(18, 2), always a ``Decimal`` in Python, never a float.

    SQLite has no exact decimal storage, so values are quantised to cents on the way in and
    out; that keeps sums exact for amounts below 10**13.
    """

    impl = Numeric(18, 2, asdecimal=True)
    cache_ok = True

    def process_bind_param(
        self, value: Decimal | int | str | None, dialect: Dialect
    ) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be Decimal, int or str, never float")
        return Decimal(value).quantize(CENT)

    def process_result_value(
        self, value: Decimal | float | None, dialect: Dialect
    ) -> Decimal | None:
        if value is None:
            return None
        if type(value) is Decimal:  # PostgreSQL's NUMERIC
            return value.quantize(CENT)
        return Decimal(str(value)).quantize(CENT)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC; naive datetimes are refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
