"""Report runs: every named report asked for (console, command line or schedule), its progress
while an RQ worker makes it, and the file it left for download.

A run is ``queued`` until a worker starts it, ``running`` while it writes (``heartbeat_at``
moves every few seconds), then ``finished`` with its file, or ``failed`` with the reason (a bad
parameter, a time-out, a worker that died: the watchdog of :mod:`reports.jobs` fails a run whose
heartbeat stopped) and can be retried. ``expired`` runs had their file removed after the
retention period. ``token`` names the run in URLs; ``job_id`` is its current RQ job.

Who sees a run: its ``owner`` (who asked, or the user a scheduled report was made for), or, for
a scheduled report filed for a whole role (``owner`` empty), everyone holding ``role``. ``scope``
is the data scope it was made under (roles and user name), so a collector's export holds only
their cases however it was asked for.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casedb.models.base import Base, str_enum
from casedb.types import utcnow


class ReportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    EXPIRED = "expired"


# A run in one of these still has a job to come back (the watchdog looks at them).
ACTIVE_REPORT_STATUSES = (ReportStatus.QUEUED, ReportStatus.RUNNING)


class ReportRun(Base):
    """One report asked for, and what became of it."""

    __tablename__ = "report_run"
    __table_args__ = (
        Index("ix_report_run_owner", "owner", "created_at"),
        Index("ix_report_run_role", "role", "created_at"),
        Index("ix_report_run_status", "status", "heartbeat_at"),
        Index("ix_report_run_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    report: Mapped[str] = mapped_column(String(64))
    # Validated parameters as stored (reports.parameters: each parses back to its value).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    format: Mapped[str] = mapped_column(String(8), default="xlsx")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    status: Mapped[ReportStatus] = mapped_column(
        str_enum(ReportStatus), default=ReportStatus.QUEUED
    )
    # 0-100, and what the job is doing ("rows 20000 / 1000000").
    progress: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str | None] = mapped_column(String(128))
    # Who asked: a console user, "cli", or "schedule:<name>".
    requested_by: Mapped[str] = mapped_column(String(64))
    # Who may see it (a user name); empty: everyone holding ``role``.
    owner: Mapped[str | None] = mapped_column(String(64))
    # The role the report was made for (and, for a role-wide scheduled report, filed for).
    role: Mapped[str | None] = mapped_column(String(64))
    schedule: Mapped[str | None] = mapped_column(String(64))
    # {"roles": [...], "username": "..."}: the data scope the report is made under.
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    as_of: Mapped[date | None]
    rows: Mapped[int | None]
    file_path: Mapped[str | None] = mapped_column(String(512))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # Said to the reader: "no data matches", or why the run failed.
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return f"{self.report} #{self.id}"
