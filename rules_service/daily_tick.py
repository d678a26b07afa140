"""The daily tick: move the case database to a new business date and have every case re-decided.

Days past due grow by themselves: a case untouched overnight is one day later in the morning.
:func:`advance_to` recomputes ``dpd`` and ``bucket`` of every open case for the new date in a
few set-based statements (a million cases on PostgreSQL in one pass, no per-case ORM loop),
stores the date, writes one audit entry summarising the moves and requests a re-evaluation run so
the rules service re-decides assignment, priority and strategy with the new DPD. Before moving,
it closes the day it leaves (``reports.snapshots.close_business_day``): that day's portfolio
snapshot and, on a month end, the month's statements of open cases.

Scheduling is RQ's own cron (:class:`rq.cron.CronScheduler`): ``run.py scheduler`` (started by
``run.py serve``) enqueues :func:`tick_job` every day at ``config.DAILY_TICK_AT`` local time and
an RQ worker runs it. A tick is idempotent: a second scheduler, a retried job or a manual
``run.py rules tick`` for a date already reached changes nothing. A missed day needs no repair:
the next tick measures installment loans from their schedule and advances card accounts by
the days elapsed since the stored date.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from redis import Redis
from rq.cron import CronJob, CronScheduler
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

import config
from casedb import audit
from casedb.delinquency import BUSINESS_DATE_KEY, set_business_date
from casedb.models import OPEN_STATUSES, CollectionCase, Installment, SystemSetting
from casedb.promises import resolve_due_promises
from casedb.session import transaction
from casedb.settlements import close_paid_cases, resolve_due_settlements
from casedb.types import utcnow
from rules_service.reevaluation import request_reevaluation

log = logging.getLogger(__name__)

# Who the audit trail names for a scheduled tick.
TICK_ACTOR = "daily-tick"
# Queue the scheduled tick goes to: one the workers of ``run.py worker`` listen on.
TICK_QUEUE = "default"
# Name of the cron job in RQ (its history key and the scheduler's registry entry).
CRON_NAME = "daily-tick"
TREATMENT_CRON_NAME = "daily-treatment"
# A million cases take a minute or two on PostgreSQL; RQ's default of 180 s would be too tight.
TICK_JOB_TIMEOUT_SECONDS = 2 * 3600
# How long a tick's summary (or its failure) stays readable in RQ.
TICK_KEPT_SECONDS = 30 * 24 * 3600
# Serialises ticks on PostgreSQL, so two never advance card accounts from the same stored date.
_TICK_LOCK_KEY = 20051002


@dataclass(frozen=True)
class TickResult:
    """What a tick did; ``skipped`` says why it did nothing (the date was already reached)."""

    from_date: date | None
    to_date: date
    changed: int = 0
    bucket_moves: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for the RQ job's result and the audit entry."""
        return {
            "from_date": self.from_date.isoformat() if self.from_date else None,
            "to_date": self.to_date.isoformat(),
            "changed": self.changed,
            "bucket_moves": dict(self.bucket_moves),
            "run_id": self.run_id,
            "skipped": self.skipped,
        }

    def text(self) -> str:
        if self.skipped:
            return f"tick to {self.to_date}: skipped, {self.skipped}"
        moves = ", ".join(f"{move} {n}" for move, n in self.bucket_moves.items()) or "none"
        start = self.from_date.isoformat() if self.from_date else "(no stored date)"
        return (
            f"tick {start} -> {self.to_date}: DPD changed on {self.changed} cases; "
            f"bucket moves: {moves}; re-evaluation run {self.run_id}"
        )


def advance_to(
    session: Session, to: date, by: str = TICK_ACTOR, max_days: int | None = None
) -> TickResult:
    """Move the case database to business date ``to`` in the caller's transaction.

    Installment loans get their DPD from the oldest installment due by ``to`` and not paid in
    full; loans without a schedule (card accounts whose DPD came from the lending core) that are
    overdue grow by the days since the stored business date (none when no date is stored yet:
    the day their DPD was imported at is unknown). Closed cases keep what they had. A ``to`` not
    after the stored date changes nothing and says so in ``skipped``, and so does a jump of more
    than ``max_days`` (the scheduled tick's guard: a demo portfolio dated 2005 must not age twenty
    years overnight because a scheduler ran; such a jump is made by hand, ``rules tick --date``).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TICK_LOCK_KEY})
    from_date = stored_business_date(session)
    if from_date is not None and to <= from_date:
        reason = (
            f"the business date is already {from_date.isoformat()}"
            if to == from_date
            else f"{to.isoformat()} is before the business date {from_date.isoformat()}"
        )
        return TickResult(from_date, to, skipped=reason)
    if from_date is not None and max_days is not None and (to - from_date).days > max_days:
        reason = (
            f"{to.isoformat()} is {(to - from_date).days} days after the business date "
            f"{from_date.isoformat()}, more than the {max_days} a scheduled tick may move; "
            "move it by hand with `python run.py rules tick --date ...`"
        )
        log.error("daily tick refused: %s", reason)
        return TickResult(from_date, to, skipped=reason)

    session.flush()  # our bulk UPDATE must see (and not undo) the caller's pending changes
    if from_date is not None:
        # Close the day being left: its portfolio snapshot and, on a month end, the month's
        # statements of open cases, from the cases as they stand before DPD moves on.
        from reports.snapshots import close_business_day  # noqa: PLC0415  (it imports us)

        dialect = connection.dialect.name
        close_business_day(
            connection,
            from_date,
            to,
            by=by,
            dpd_at=lambda day: _changes(dialect, day, (day - from_date).days).subquery(),
        )
    elapsed = (to - from_date).days if from_date else 0
    changes = _changes(connection.dialect.name, to, elapsed).subquery("changes")
    moves: Counter[str] = Counter()
    changed = 0
    for old_bucket, new_bucket, rows, dpd_changed in connection.execute(
        select(
            changes.c.old_bucket,
            changes.c.new_bucket,
            func.count(),
            func.sum(case((changes.c.new_dpd != changes.c.old_dpd, 1), else_=0)),
        ).group_by(changes.c.old_bucket, changes.c.new_bucket)
    ):
        changed += int(dpd_changed or 0)
        if old_bucket != new_bucket:
            moves[f"{old_bucket}->{new_bucket}"] += rows
    cases = CollectionCase.__table__
    connection.execute(
        update(cases)
        .where(cases.c.id == changes.c.id)
        .values(dpd=changes.c.new_dpd, bucket=changes.c.new_bucket, updated_at=utcnow())
    )
    _expire_loaded_cases(session)

    bucket_moves = dict(sorted(moves.items()))
    audit.append(
        session,
        [
            audit.Change(
                actor=by,
                action="tick",
                table_name=CollectionCase.__tablename__,
                row_id=None,
                before={"business_date": from_date.isoformat() if from_date else None},
                after={
                    "business_date": to.isoformat(),
                    "dpd_changed": changed,
                    "bucket_moves": bucket_moves,
                },
            )
        ],
    )
    set_business_date(session, to)
    promises = resolve_due_promises(session, to, actor=by)
    # Fully paid cases close; settlements and plans past an unpaid instalment break.
    close_paid_cases(session, to, actor=by)
    resolve_due_settlements(session, to, actor=by)
    log.info("%s", promises.text())
    run = request_reevaluation(session, reason=f"daily tick {to.isoformat()}", by=by)
    result = TickResult(from_date, to, changed, bucket_moves, run.id)
    log.info("%s", result.text())
    return result


def stored_business_date(session: Session) -> date | None:
    """The date the database was last moved to, read afresh (never the configured override)."""
    value = session.execute(
        select(SystemSetting.__table__.c.value).where(
            SystemSetting.__table__.c.key == BUSINESS_DATE_KEY
        )
    ).scalar()
    return date.fromisoformat(value) if value else None


def bucket_case(dpd: ColumnElement[int], edges: Sequence[int] | None = None) -> ColumnElement[str]:
    """:func:`casedb.delinquency.bucket_for` as a SQL CASE over ``dpd``, edge for edge."""
    edges = edges or config.BUCKET_EDGES
    whens: list[tuple[ColumnElement[bool], str]] = [(dpd <= 0, "M0")]
    whens += [(dpd <= edge, f"M{index}") for index, edge in enumerate(edges, start=1)]
    return case(*whens, else_=f"M{len(edges) + 1}+")


def _days_between(dialect: str, later: date, earlier: ColumnElement[date]) -> ColumnElement[int]:
    if dialect == "postgresql":
        return literal(later, Date) - earlier  # date - date is an integer of days there
    return cast(func.julianday(literal(later, Date)) - func.julianday(earlier), Integer)


def _changes(dialect: str, to: date, elapsed: int) -> Any:
    """Open cases whose DPD or bucket at ``to`` differs from what they hold: id, old, new."""
    cases = CollectionCase.__table__.alias("open_case")  # not the UPDATE's target table
    installments = Installment.__table__
    amount_due = installments.c.principal_due + installments.c.interest_due + installments.c.fee_due
    unpaid_due = and_(installments.c.due_on <= to, installments.c.amount_paid < amount_due)
    # One pass over the schedules: a row per loan that has one, with its oldest unpaid due date.
    schedules = (
        select(
            installments.c.loan_id,
            func.min(case((unpaid_due, installments.c.due_on))).label("oldest_unpaid"),
        )
        .group_by(installments.c.loan_id)
        .subquery("schedules")
    )
    new_dpd = case(
        (
            schedules.c.loan_id.is_not(None),
            func.coalesce(_days_between(dialect, to, schedules.c.oldest_unpaid), 0),
        ),
        (cases.c.dpd > 0, cases.c.dpd + elapsed),
        else_=0,
    )
    computed = (
        select(
            cases.c.id,
            cases.c.dpd.label("old_dpd"),
            cases.c.bucket.label("old_bucket"),
            new_dpd.label("new_dpd"),
        )
        .select_from(cases.outerjoin(schedules, schedules.c.loan_id == cases.c.loan_id))
        .where(cases.c.status.in_(OPEN_STATUSES))
        .subquery("computed")
    )
    new_bucket = bucket_case(computed.c.new_dpd)
    return select(
        computed.c.id,
        computed.c.old_dpd,
        computed.c.old_bucket,
        computed.c.new_dpd,
        new_bucket.label("new_bucket"),
    ).where(or_(computed.c.new_dpd != computed.c.old_dpd, new_bucket != computed.c.old_bucket))


def _expire_loaded_cases(session: Session) -> None:
    """Cases the caller already loaded read their new DPD and bucket on next access."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CollectionCase):
            session.expire(obj, ["dpd", "bucket", "updated_at"])


# --- the RQ job and its schedule -----------------------------------------------------------


def tick_date() -> date:
    """The date a scheduled tick moves to: the forced as-of date if one is configured (a demo
    pinned to its portfolio's date never moves), else today on the scheduler's clock."""
    return config.business_date_override() or date.today()


def tick_job(to: str | None = None) -> dict[str, Any]:
    """The RQ job: advance the database to ``to`` (ISO date) or :func:`tick_date`, commit."""
    target = date.fromisoformat(to) if to else tick_date()
    with transaction() as session:
        session.info["actor"] = TICK_ACTOR
        result = advance_to(session, target, by=TICK_ACTOR, max_days=config.MAX_TICK_DAYS)
    return result.as_dict()


def cron_expression(at: str | None = None, setting: str = "DAILY_TICK_AT") -> str:
    """The cron line for a daily run at ``at`` ("HH:MM", default ``config.DAILY_TICK_AT``);
    ``setting`` names the setting in the error."""
    at = at or config.DAILY_TICK_AT
    try:
        hours, minutes = (int(part) for part in at.split(":"))
    except ValueError as error:
        raise ValueError(f"{setting} must be HH:MM, not {at!r}") from error
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise ValueError(f"{setting} must be HH:MM, not {at!r}")
    return f"{minutes} {hours} * * *"


def schedule(
    connection: Redis, at: str | None = None, treatment_at: str | None = None
) -> CronScheduler:
    """A cron scheduler that enqueues :func:`tick_job` daily at ``at`` and the treatment run
    (``rules_service.treatment_run.treatment_job``) at ``treatment_at`` (default
    ``config.DAILY_TREATMENT_AT``, late enough for the tick's re-evaluation to have re-decided
    the strategies); ``start()`` runs it.

    Cron times are the scheduler host's local time (croniter's reading of RQ's cron).
    """
    from rules_service.treatment_run import treatment_job  # noqa: PLC0415  (it imports config)

    scheduler = CronScheduler(connection=connection)
    scheduler.register(
        treatment_job,
        queue_name=TICK_QUEUE,
        cron=cron_expression(treatment_at or config.DAILY_TREATMENT_AT, "DAILY_TREATMENT_AT"),
        job_timeout=TICK_JOB_TIMEOUT_SECONDS,
        result_ttl=TICK_KEPT_SECONDS,
        failure_ttl=TICK_KEPT_SECONDS,
        name=TREATMENT_CRON_NAME,
    )
    scheduler.register(
        tick_job,
        queue_name=TICK_QUEUE,
        cron=cron_expression(at),
        job_timeout=TICK_JOB_TIMEOUT_SECONDS,
        result_ttl=TICK_KEPT_SECONDS,
        failure_ttl=TICK_KEPT_SECONDS,
        name=CRON_NAME,
    )
    return scheduler


def scheduled_tick(scheduler: CronScheduler) -> CronJob:
    """The tick among a scheduler's cron jobs (one fetched from Redis included)."""
    return next(job for job in scheduler.get_jobs() if job.name == CRON_NAME)
