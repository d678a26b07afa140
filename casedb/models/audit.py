"""The audit trail: an append-only, hash-chained record of every change to the case database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base
from casedb.types import utcnow


class AuditEntry(Base):
    """Who changed what, when, with the values before and after.

    ``entry_hash`` covers this entry's fields and the previous entry's hash, so editing or
    deleting any entry breaks the chain from there on (``run.py audit verify`` finds it). The
    database refuses UPDATE and DELETE on this table (triggers made by the migration).
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index(None, "table_name", "row_id"), Index(None, "actor", "occurred_at"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    # insert, update, delete, or import (one entry for the rows a file added).
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    previous_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
