"""Declarative base and the column shapes every model shares."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, Enum, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from casedb.types import Money, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def str_enum(enum_class: type[enum.StrEnum]) -> Enum:
    """A portable enum column: VARCHAR plus the allowed values, no native PostgreSQL type."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=max(len(m.value) for m in enum_class) + 8,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


# Chinese names sort by pinyin (阿明, 李四, 王五, 张三) on PostgreSQL through ICU; SQLite has
# no such collation and sorts by code point.
CHINESE_COLLATION = "zh-x-icu"


def name_text(length: int = 128) -> String:
    """A person's or team's name: text that sorts the way a Chinese reader expects."""
    return String(length).with_variant(String(length, collation=CHINESE_COLLATION), "postgresql")


def money(nullable: bool = False, default: Decimal | None = Decimal(0)) -> Mapped[Any]:
    return mapped_column(Money(), nullable=nullable, default=default)


class Timestamps:
    """When a row was created and last changed, in UTC."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now()
    )


def external_id() -> Mapped[str]:
    """The identifier the source system gives a row; imports upsert by it."""
    return mapped_column(String(64), unique=True)
