"""What every named report is: a name, a title, the roles that may ask for it, its parameters
(checked by :meth:`Report.validate` before anything is queued) and :meth:`Report.run`, which reads
the case database within the asker's data scope and returns a :class:`reports.result
.ReportResult`.

A report runs as someone: a :class:`Requester` (user name and roles). Table reports restrict
their rows with the console's own scope (``console.scope.case_scope_condition``: all cases for
admins, analysts and auditors, a supervisor's teams' cases, a collector's own); metric reports
restrict their :class:`reports.metrics.Scope` the same way (a collector's numbers are theirs, a
supervisor's are their team's). Personal data (ID and phone numbers) is masked unless the report
is asked with ``pii=full`` by a role in ``config.REPORT_PII_ROLES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import config
from casedb.models import CaseStatus, Collector, Product, Team
from reports.labels import VALUES, Text
from reports.parameters import (
    CHOICE,
    CHOICES,
    DATE,
    Param,
    ParamSet,
    ReportError,
)
from reports.result import ReportResult

ADMIN, ANALYST, SUPERVISOR, COLLECTOR, AUDITOR = (
    "Admin",
    "Analyst",
    "Supervisor",
    "Collector",
    "Auditor",
)
# Roles that see every case (console.roles.SEE_ALL_CASES, restated to keep workers free of the
# console's imports; tests/reports check they agree).
SEE_ALL = frozenset({ADMIN, ANALYST, AUDITOR})
OVERSIGHT = frozenset({ADMIN, ANALYST, SUPERVISOR, AUDITOR})
EVERYONE = frozenset({ADMIN, ANALYST, SUPERVISOR, COLLECTOR, AUDITOR})


@dataclass(frozen=True)
class Requester:
    """Who a report is made for: their user name and roles decide its data scope."""

    username: str
    roles: frozenset[str]

    @classmethod
    def of(cls, username: str, roles: Any) -> Requester:
        return cls(username, frozenset(roles))

    @property
    def sees_all(self) -> bool:
        return bool(self.roles & SEE_ALL)

    def may_see_pii(self) -> bool:
        return bool(self.roles & frozenset(config.REPORT_PII_ROLES))

    def as_scope(self) -> dict[str, Any]:
        return {"username": self.username, "roles": sorted(self.roles)}

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> Requester:
        return cls(str(scope.get("username", "")), frozenset(scope.get("roles", ())))


@dataclass
class RunContext:
    """Everything :meth:`Report.run` gets: a read-only session, the typed parameters, the
    language, who asked, the business date, and where to say how far it got."""

    engine: Engine
    session: Session
    params: dict[str, Any]
    language: str
    requester: Requester
    as_of: date
    stage: Callable[[str], None] = field(default=lambda _text: None)


# --- shared parameters -------------------------------------------------------------------


def team_options(session: Session | None) -> list[tuple[str, str]]:
    if session is None:
        return []
    return [(code, name) for code, name in session.execute(select(Team.code, Team.name))]


def collector_options(session: Session | None) -> list[tuple[str, str]]:
    if session is None:
        return []
    return [(code, name) for code, name in session.execute(select(Collector.code, Collector.name))]


def _static(kind: str) -> list[tuple[str, Text]]:
    return list(VALUES[kind].items())


STATUS_OPTIONS = [(s.value, VALUES["case_status"][s.value]) for s in CaseStatus]
PRODUCT_OPTIONS = [(p.value, VALUES["product"][p.value]) for p in Product]
PII_OPTIONS = [
    ("masked", ("masked", "脱敏")),
    ("full", ("full (authorised roles)", "完整（授权角色）")),
]


def start_param(default: str = "today-30") -> Param:
    return Param(
        "start",
        DATE,
        ("From", "开始日期"),
        ("First day of the period (YYYY-MM-DD, or today-30, month-start ...)", "期间第一天"),
        default=default,
    )


def end_param(default: str = "today") -> Param:
    return Param(
        "end",
        DATE,
        ("To", "结束日期"),
        ("Last day of the period, included", "期间最后一天（含）"),
        default=default,
    )


def team_param(multiple: bool = False) -> Param:
    return Param(
        "team",
        CHOICES if multiple else CHOICE,
        ("Team", "团队"),
        ("Team code(s)", "团队编号") if multiple else ("Team code", "团队编号"),
        options=team_options,
    )


def collector_param(multiple: bool = False) -> Param:
    return Param(
        "collector",
        CHOICES if multiple else CHOICE,
        ("Collector", "催收员"),
        ("Collector code(s)", "催收员编号") if multiple else ("Collector code", "催收员编号"),
        options=collector_options,
    )


def product_param(multiple: bool = False) -> Param:
    return Param(
        "product",
        CHOICES if multiple else CHOICE,
        ("Product", "产品"),
        options=PRODUCT_OPTIONS,
    )


PII_PARAM = Param(
    "pii",
    CHOICE,
    ("ID and phone numbers", "证件号与电话"),
    (
        "ID and phone numbers masked, or in full for authorised roles",
        "证件号与电话脱敏，或（授权角色）完整显示",
    ),
    default="masked",
    options=PII_OPTIONS,
    advanced=True,
)


class Report:
    """A named report. Subclasses set the class attributes and write :meth:`run`."""

    name: ClassVar[str]
    title: ClassVar[Text]
    description: ClassVar[Text]
    # Who may ask for it.
    roles: ClassVar[frozenset[str]] = EVERYONE
    # Chart-shaped: it has native charts in its workbook and can be written as PNG.
    chart: ClassVar[bool] = False
    params: ClassVar[ParamSet] = ParamSet(())
    # What relative dates (today, today-7, last-week-start ...) count from: the business date
    # (the portfolio's as-of date) or, for logs of what people and systems did (audit trail,
    # compliance log, alerts), the calendar date in config.DEFAULT_TIMEZONE.
    clock: ClassVar[str] = "business"

    def allowed(self, requester: Requester) -> bool:
        return bool(requester.roles & self.roles)

    def validate(
        self,
        raw: Mapping[str, Any],
        session: Session,
        requester: Requester,
        today: date,
    ) -> dict[str, Any]:
        """The typed parameters, or a :class:`ReportError` saying what is wrong."""
        if not self.allowed(requester):
            raise ReportError(
                (
                    "the {report} report is not available to {user}",
                    "{user} 无权运行报表 {report}",
                ),
                report=self.name,
                user=requester.username or "-",
            )
        if self.clock == "calendar":
            today = calendar_today()
        values = self.params.parse(raw, today, self.name, session)
        start, end = values.get("start"), values.get("end")
        if start is not None and end is not None and start > end:
            raise ReportError(
                (
                    "the period is empty: it starts on {start} after it ends on {end}",
                    "期间为空：开始日期 {start} 晚于结束日期 {end}",
                ),
                param="start",
                start=start.isoformat(),
                end=end.isoformat(),
            )
        if values.get("pii") == "full" and not requester.may_see_pii():
            raise ReportError(
                (
                    "unmasked personal data is only for {roles}",
                    "仅 {roles} 角色可导出未脱敏的个人信息",
                ),
                param="pii",
                roles=", ".join(config.REPORT_PII_ROLES),
            )
        self.check(values, session, requester)
        return values

    def check(self, values: dict[str, Any], session: Session, requester: Requester) -> None:
        """Checks of one report across its parameters (after each parsed on its own)."""

    def run(self, context: RunContext) -> ReportResult:
        raise NotImplementedError

    def file_stem(self, language: str) -> str:
        return self.title[1] if language == "zh" else self.name


# --- values as a workbook shows them -----------------------------------------------------


def calendar_today() -> date:
    return datetime.now(ZoneInfo(config.DEFAULT_TIMEZONE)).date()


def local_time(value: datetime | None) -> datetime | None:
    """An instant as a naive local time (``config.DEFAULT_TIMEZONE``): Excel has no time zones."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(config.DEFAULT_TIMEZONE)).replace(tzinfo=None)


def ids_of(session: Session, model: Any, codes: list[str] | str | None) -> list[int]:
    """Ids of teams or collectors by code (parameters name them by code)."""
    if not codes:
        return []
    codes = [codes] if isinstance(codes, str) else codes
    return list(session.scalars(select(model.id).where(model.code.in_(codes))))


def case_scope(requester: Requester) -> Any:
    """The console's SQL condition on ``CollectionCase`` for the requester."""
    from console.scope import case_scope_condition  # noqa: PLC0415  (plain SQLAlchemy)

    return case_scope_condition(set(requester.roles), requester.username)


# --- console users (Flask-AppBuilder's tables, read without the console) -----------------


def _user_tables() -> tuple[Any, Any, Any]:
    from flask_appbuilder.security.sqla.models import (  # noqa: PLC0415
        Role,
        User,
        assoc_user_role,
    )

    return User.__table__, Role.__table__, assoc_user_role


def requester_for(session: Session, username: str) -> Requester | None:
    """The console user ``username`` with their roles; None if there is no such active user."""
    users, roles, links = _user_tables()
    found = session.execute(
        select(users.c.id).where(users.c.username == username, users.c.active.is_(True))
    ).scalar()
    if found is None:
        return None
    names = session.scalars(
        select(roles.c.name)
        .join(links, links.c.role_id == roles.c.id)
        .where(links.c.user_id == found)
    )
    return Requester(username, frozenset(names))


def users_with_role(session: Session, role: str) -> list[str]:
    """Active console users holding ``role``, by user name."""
    users, roles, links = _user_tables()
    return list(
        session.scalars(
            select(users.c.username)
            .join(links, links.c.user_id == users.c.id)
            .join(roles, roles.c.id == links.c.role_id)
            .where(roles.c.name == role, users.c.active.is_(True))
            .order_by(users.c.username)
        )
    )
