"""Compliance in the console (合规管理): the contact gate's API, the gate in the workbench, and
the auditors' tools.

- ``POST /api/v1/compliance/check`` asks the gate about a contact on a case in the caller's
  scope (an agency's system does this through a collector-like account) and answers the verdict
  with every reason, its legal sources and the earliest time allowed; the question and answer
  are appended to the compliance log. ``POST /api/v1/compliance/script-audit`` audits a script.
- The workbench's dial asks the gate first (:func:`check_dial`): a blocked call reveals no
  number and says why. Notes of a logged contact go through the script audit
  (:func:`audit_notes`); the contact is saved whatever it finds, as it already happened.
- The compliance log (filter, CSV export), the legal knowledge base behind every rule, the
  policy versions (a form per rule parameter; analysts write, a supervisor other than the
  author approves and publishes) and audit replay of a contact history, with the case's or the
  portfolio's history exported in the replay format.

Every page keeps to the user's data scope: supervisors see their teams' cases' checks, oversight
roles everything. Bad input answers 4xx with the reason, never 500.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import secrets
import tempfile
import time as clock
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import permission_name, protect
from flask_babel import get_locale, gettext, lazy_pgettext
from sqlalchemy import ColumnElement, Select, event, select, true
from sqlalchemy.orm import Session, scoped_session
from werkzeug.datastructures import MultiDict

import config
from casedb.compliance.contact_gate import (
    ORIGINS,
    ContactRequest,
    active_policy,
    agent_of,
    check_contact,
    record,
    target_of,
)
from casedb.compliance.events import (
    CHANNELS,
    PARTIES,
    THIRD_PARTIES,
    Contact,
    EventError,
    parse_time,
)
from casedb.compliance.gate import BLOCKED, REVIEW, Reason, Verdict
from casedb.compliance.history_export import write_history
from casedb.compliance.policy import (
    COUNTING,
    POLICY_DIR,
    RULE_PARAMETERS,
    TIMED_CHANNELS,
    PolicyError,
    shipped_policy_documents,
)
from casedb.compliance.replay import ReplayError, replay_document
from casedb.models import (
    CollectionCase,
    Collector,
    ComplianceCheck,
    CompliancePolicyVersion,
    ContactPoint,
    ThirdPartyContact,
    VersionStatus,
)
from console.labels import COMPLIANCE_RULES, VERDICTS
from console.roles import SEE_ALL_CASES
from console.rules_catalogue import STATUS_STYLES, status_label
from console.scope import case_scope_condition, current_roles
from rules_service.compliance_policies import (
    LifecycleError,
    approve,
    publish,
    reject,
    save_draft,
    submit,
)

log = logging.getLogger(__name__)

TEXT_LIMIT = 10_000  # characters of a script or a contact's text the API audits
PAGE_SIZE = 50
MAX_PAGE = 10_000
# The largest replay file the page takes (``COMPLIANCE_REPLAY_MAX_BYTES`` in the app config
# overrides it); bigger histories are replayed with ``run.py`` (streaming) instead.
REPLAY_MAX_BYTES = 10 * 1024 * 1024
REPLAY_SHOWN = 1000  # verdicts shown on the page; the download holds all of them
REPLAY_KEEP = timedelta(days=1)  # how long a replay's result stays downloadable
TOKEN = re.compile(r"^[0-9a-f]{32}$")
RULE_ID = re.compile(r"^[a-z0-9_]{1,40}$")
# The legal knowledge base: {"sources": [{id, jurisdiction, instrument_zh, ...}]}.
SOURCES_FILE = POLICY_DIR.parent / "sources.json"

PARAMETER_LABELS = {
    "from": lazy_pgettext("rule parameter", "From (local time)"),
    "to": lazy_pgettext("rule parameter", "To (local time)"),
    "channels": lazy_pgettext("rule parameter", "Channels"),
    "max": lazy_pgettext("rule parameter", "At most"),
    "min": lazy_pgettext("rule parameter", "At least"),
    "minutes": lazy_pgettext("rule parameter", "Minutes"),
    "days": lazy_pgettext("rule parameter", "Days"),
    "min_failed_attempts": lazy_pgettext("rule parameter", "Failed attempts on the debtor first"),
    "lawful_actions": lazy_pgettext("rule parameter", "Lawful actions a script may mention"),
}
COUNTING_LABELS = {
    "debtor": lazy_pgettext(
        "policy counting", "Per debtor: the lender's and agencies' contacts together"
    ),
    "debt_and_agent": lazy_pgettext("policy counting", "Per debt and per debt collector"),
}


class Refused(Exception):  # noqa: N818  (reads as the answer says it)
    """A request the compliance pages cannot do, with its HTTP status and the reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- what every part shares ----------------------------------------------------------------


def language() -> str:
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def split_sources(value: object) -> list[str]:
    """Source ids from a stored reason (``"a, b"``) or a policy (``["a", "b"]`` or ``"a"``)."""
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def reason_entry(reason: Reason | Mapping[str, Any], lang: str | None = None) -> dict[str, Any]:
    """A gate reason for display: the message in the user's language and the source ids."""
    raw = reason.as_dict() if isinstance(reason, Reason) else reason
    lang = lang or language()
    message = raw.get("message") or ""
    if lang == "zh" and raw.get("message_zh"):
        message = raw["message_zh"]
    return {
        "rule": raw.get("id") or "",
        "verdict": raw.get("verdict") or "",
        "message": message,
        "sources": split_sources(raw.get("source")),
    }


def moment_text(moment: datetime | None) -> str:
    """``2025-03-04 08:00 (Asia/Shanghai)``: a time in the zone the gate gave it in."""
    if moment is None:
        return ""
    zone = getattr(moment.tzinfo, "key", None) or moment.strftime("%Z") or "UTC"
    return f"{moment:%Y-%m-%d %H:%M} ({zone})"


@dataclass(frozen=True)
class GateAnswer:
    """The gate's verdict as the workbench shows it."""

    verdict: str
    reasons: list[dict[str, Any]]
    earliest: str = ""
    earliest_iso: str = ""

    @property
    def blocked(self) -> bool:
        return self.verdict == BLOCKED


def gate_answer(verdict: Verdict) -> GateAnswer:
    rank = {BLOCKED: 0, REVIEW: 1}
    reasons = sorted(
        (reason_entry(reason) for reason in verdict.reasons),
        key=lambda entry: rank.get(entry["verdict"], 2),
    )
    return GateAnswer(
        verdict.verdict,
        reasons,
        moment_text(verdict.earliest),
        verdict.earliest.isoformat() if verdict.earliest else "",
    )


def collector_id_of(session: Session, username: str) -> int | None:
    return session.scalar(select(Collector.id).where(Collector.username == username))


@contextmanager
def written_checks(session: Session | scoped_session) -> Iterator[list[ComplianceCheck]]:
    """The compliance_check rows the session writes inside the block (the gate adds its row
    and does not return it)."""
    real = session() if isinstance(session, scoped_session) else session
    written: list[ComplianceCheck] = []

    def keep(_session: Session, instance: object) -> None:
        if isinstance(instance, ComplianceCheck):
            written.append(instance)

    event.listen(real, "pending_to_persistent", keep)
    try:
        yield written
    finally:
        event.remove(real, "pending_to_persistent", keep)


def policy_names(session: Session) -> list[str]:
    """The policies there are: the shipped presets and any an analyst created."""
    names = set(shipped_policy_documents())
    names.update(session.scalars(select(CompliancePolicyVersion.name).distinct()))
    return sorted(names)


def documents_in_force(session: Session) -> dict[str, Mapping[str, Any]]:
    """Each policy's document in force: its published version, else its shipped preset."""
    shipped = shipped_policy_documents()
    published = dict(
        session.execute(
            select(CompliancePolicyVersion.name, CompliancePolicyVersion.document).where(
                CompliancePolicyVersion.status == VersionStatus.PUBLISHED
            )
        ).all()
    )
    return {
        name: published.get(name) or shipped[name]
        for name in policy_names(session)
        if name in published or name in shipped
    }


# --- the gate in the workbench ---------------------------------------------------------------


def check_dial(
    session: Session, case: CollectionCase, point: ContactPoint, username: str
) -> Verdict:
    """Ask the gate about calling ``point`` now (logged, origin "click")."""
    return check_contact(
        session,
        case,
        ContactRequest(channel="call", party="debtor", contact_point_id=point.id),
        actor=username,
        origin="click",
        collector_id=collector_id_of(session, username),
    )


def script_audit_module() -> ModuleType | None:
    """``casedb.compliance.script_audit``, or None where it is not installed."""
    try:
        from casedb.compliance import script_audit  # noqa: PLC0415  (heavy: opencc)
    except ImportError:
        log.exception("the script audit is not available")
        return None
    return script_audit


def _finding_verdict(severity: object, overall: str) -> str:
    text = str(severity or "").lower()
    if text in ("block", "blocked"):
        return BLOCKED
    if text in ("warn", "warning", "review"):
        return REVIEW
    return overall


def audit_notes(
    session: Session,
    case: CollectionCase,
    *,
    notes: str,
    channel: str,
    party: str,
    started_at: datetime,
    contact_point_id: int | None,
    actor: str,
    collector_id: int | None,
) -> str | None:
    """Audit a logged contact's notes. Notes the audit blocks or flags are appended to the
    compliance log (origin "note") with the findings, and the warning for the collector is
    returned; None when they pass. Never raises: the contact happened and is saved anyway."""
    if not notes.strip():
        return None
    try:
        with session.begin_nested():
            verdict = _audit_and_record(
                session,
                case,
                notes=notes,
                channel=channel,
                party=party,
                started_at=started_at,
                contact_point_id=contact_point_id,
                actor=actor,
                collector_id=collector_id,
            )
    except Exception:
        log.exception("the script audit of a contact's notes on case %s failed", case.case_no)
        return gettext("Contact saved, but its notes could not be audited")
    return notes_warning(verdict) if verdict is not None else None


def _audit_and_record(
    session: Session,
    case: CollectionCase,
    *,
    notes: str,
    channel: str,
    party: str,
    started_at: datetime,
    contact_point_id: int | None,
    actor: str,
    collector_id: int | None,
) -> Verdict | None:
    module = script_audit_module()
    if module is None:
        return None
    policy = active_policy(session)
    rule = policy.rules.get("script")
    lawful = tuple(rule.params["lawful_actions"]) if rule is not None else ()
    rule_sources = tuple(rule.sources) if rule is not None else ()
    audit = module.audit_script(notes, lawful_actions=lawful, to_third_party=party in THIRD_PARTIES)
    if audit.verdict == "pass":
        return None
    overall = BLOCKED if audit.verdict == "block" else REVIEW
    reasons = [
        Reason(
            "script",
            f"{finding.category}: “{finding.text}” — {finding.message}",
            f"{finding.category}：“{finding.text}”——{finding.message_zh or finding.message}",
            tuple(dict.fromkeys((*split_sources(finding.source), *rule_sources))),
            _finding_verdict(getattr(finding, "severity", None), overall),
        )
        for finding in audit.findings
    ]
    if not any(reason.verdict == overall for reason in reasons):
        reasons.append(
            Reason(
                "script",
                "the notes fail the script audit",
                "联系记录未通过话术审核",
                rule_sources,
                overall,
            )
        )
    point = session.get(ContactPoint, contact_point_id) if contact_point_id else None
    contact = Contact(
        id="note",
        debtor=case.customer.customer_no,
        at=started_at.astimezone(UTC),
        channel=channel,
        party=party,
        agent=agent_of(session, collector_id),
        debts=(case.case_no,),
        text=notes,
        target=target_of(contact_point_id, None),
    )
    verdict = Verdict(overall, tuple(reasons), None, policy.name, policy.version)
    record(session, case, contact, verdict, actor=actor, origin="note", point=point)
    return verdict


def notes_warning(verdict: Verdict) -> str:
    """The flash message of notes the script audit blocked or flagged."""
    found = "; ".join(reason_entry(reason)["message"] for reason in verdict.reasons)
    if verdict.verdict == BLOCKED:
        return gettext(
            "Contact saved, but its notes fail the script audit: %(findings)s. "
            "The compliance log keeps the finding.",
            findings=found,
        )
    return gettext(
        "Contact saved; the script audit flags its notes for review: %(findings)s",
        findings=found,
    )


# --- the API ---------------------------------------------------------------------------------


def _optional_id(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise Refused(gettext("%(field)s: give a whole number id", field=name))
    return value


def parse_check(body: object) -> tuple[str, ContactRequest]:
    """The check API's JSON body as a case number and a contact request; raises ``Refused``
    (400) naming the first bad field."""
    if not isinstance(body, dict):
        raise Refused(gettext("Send a JSON object"))
    case_no = body.get("case_no")
    if not isinstance(case_no, str | int) or isinstance(case_no, bool) or not str(case_no):
        raise Refused(gettext("%(field)s: give the case number", field="case_no"))
    case_no = str(case_no).strip()
    if not case_no or len(case_no) > 64:
        raise Refused(gettext("%(field)s: give the case number", field="case_no"))
    channel = body.get("channel")
    if channel not in CHANNELS:
        raise Refused(
            gettext("%(field)s: one of %(choices)s", field="channel", choices=", ".join(CHANNELS)),
        )
    party = body.get("party") or "debtor"
    if party not in PARTIES:
        raise Refused(
            gettext("%(field)s: one of %(choices)s", field="party", choices=", ".join(PARTIES))
        )
    text = body.get("text") or ""
    if not isinstance(text, str):
        raise Refused(gettext("%(field)s: give the text as a string", field="text"))
    if len(text) > TEXT_LIMIT:
        raise Refused(gettext("%(field)s: at most %(n)d characters", field="text", n=TEXT_LIMIT))
    collectors = body.get("collectors")
    if collectors is not None and (
        isinstance(collectors, bool) or not isinstance(collectors, int) or not 0 <= collectors <= 99
    ):
        raise Refused(gettext("%(field)s: give a whole number of collectors", field="collectors"))
    at = None
    if body.get("at") not in (None, ""):
        try:
            at = parse_time(body.get("at"), "at")
        except EventError:
            raise Refused(
                gettext(
                    "%(field)s: give an ISO 8601 time with its UTC offset, such as "
                    "2025-03-03T22:30:00+08:00",
                    field="at",
                )
            ) from None
    return case_no, ContactRequest(
        channel=channel,
        party=party,
        contact_point_id=_optional_id(body, "contact_point_id"),
        third_party_contact_id=_optional_id(body, "third_party_contact_id"),
        text=text,
        collectors=collectors,
        at=at,
    )


def case_in_scope(session: Session, case_no: str) -> CollectionCase:
    roles, username = current_roles()
    case = session.scalar(
        select(CollectionCase).where(
            CollectionCase.case_no == case_no, case_scope_condition(roles, username)
        )
    )
    if case is None:
        raise Refused(gettext("No such case in your scope"), 404)
    return case


def checked_targets(session: Session, case: CollectionCase, asked: ContactRequest) -> None:
    """The contact point and contact person asked about must be the case's customer's."""
    if asked.contact_point_id is not None:
        point = session.get(ContactPoint, asked.contact_point_id)
        if point is None or point.customer_id != case.customer_id:
            raise Refused(
                gettext(
                    "%(field)s: not a contact point of the case's customer",
                    field="contact_point_id",
                )
            )
    if asked.third_party_contact_id is not None:
        person = session.get(ThirdPartyContact, asked.third_party_contact_id)
        if person is None or person.customer_id != case.customer_id:
            raise Refused(
                gettext(
                    "%(field)s: not a contact person of the case's customer",
                    field="third_party_contact_id",
                )
            )


def parse_script_audit(body: object, session: Session) -> tuple[str, tuple[str, ...], bool]:
    if not isinstance(body, dict):
        raise Refused(gettext("Send a JSON object"))
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Refused(gettext("%(field)s: give the script to audit", field="text"))
    if len(text) > TEXT_LIMIT:
        raise Refused(gettext("%(field)s: at most %(n)d characters", field="text", n=TEXT_LIMIT))
    lawful = body.get("lawful_actions")
    if lawful is None:
        rule = active_policy(session).rules.get("script")
        lawful = list(rule.params["lawful_actions"]) if rule is not None else []
    if not isinstance(lawful, list) or not all(isinstance(item, str) for item in lawful):
        raise Refused(gettext("%(field)s: give a list of names", field="lawful_actions"))
    third_party = body.get("to_third_party", False)
    if not isinstance(third_party, bool):
        raise Refused(gettext("%(field)s: true or false", field="to_third_party"))
    return text, tuple(lawful), third_party


class ComplianceApi(BaseApi):
    """``/api/v1/compliance/``: ask the contact gate; audit a script."""

    resource_name = "compliance"
    openapi_spec_tag = "Compliance"

    def _refused(self, refused: Refused) -> Response:
        self.appbuilder.session.rollback()
        return self.response(refused.status, message=str(refused))

    @expose("/check", methods=["POST"])
    @protect()
    @permission_name("check")
    def check(self) -> Response:
        """Ask the compliance gate whether a contact may happen, and log the answer.
        ---
        post:
          summary: Ask the compliance gate about a contact on a case in the caller's scope
          description: >-
            JSON body: case_no, channel (call, sms, email, letter, visit, app_push), party
            (debtor, attorney, third_party, emergency_contact, employer), and optionally
            contact_point_id, third_party_contact_id, text (a script, audited), collectors (on a
            field visit), at (an ISO 8601 time with its offset; now if left out). The question
            and the answer are appended to the compliance log.
          responses:
            200:
              description: The verdict (allowed, review or blocked), every rule that objected
                with its message in English and Chinese and its legal sources, the earliest time
                the contact would be allowed, the policy and version, and check_id
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        session = self.appbuilder.session
        try:
            case_no, asked = parse_check(request.get_json(silent=True))
            case = case_in_scope(session, case_no)
            checked_targets(session, case, asked)
            with written_checks(session) as written:
                verdict = check_contact(
                    session,
                    case,
                    asked,
                    actor=g.user.username,
                    origin="api",
                    collector_id=collector_id_of(session, g.user.username),
                )
        except Refused as refused:
            return self._refused(refused)
        except ImportError:
            session.rollback()
            log.exception("compliance check: the script audit is not available")
            return self.response(503, message=gettext("The script audit is not available"))
        except ValueError as error:  # the case's customer data (a time zone) is unusable
            session.rollback()
            return self.response(400, message=str(error))
        except OverflowError:  # ``at`` at the edge of the calendar (year 1 or 9999)
            session.rollback()
            return self.response(
                400, message=gettext("%(field)s: out of the calendar's range", field="at")
            )
        check_id = written[-1].id if written else None
        session.commit()
        return self.response(200, **verdict.as_dict(), check_id=check_id)

    @expose("/script-audit", methods=["POST"])
    @protect()
    @permission_name("audit_script")
    def script_audit(self) -> Response:
        """Audit a collection script for threats, insults, impersonation, disclosure, fees.
        ---
        post:
          summary: Audit a script
          description: >-
            JSON body: text, and optionally lawful_actions (the lawful consequences the script
            may mention; the policy in force's by default) and to_third_party (true for a text
            to someone other than the debtor).
          responses:
            200:
              description: The verdict (pass, warn or block) and each finding with its place in
                the text, its category, message (English and Chinese) and legal source
            400:
              $ref: '#/components/responses/400'
        """
        session = self.appbuilder.session
        try:
            text, lawful, third_party = parse_script_audit(request.get_json(silent=True), session)
        except Refused as refused:
            return self._refused(refused)
        module = script_audit_module()
        if module is None:
            return self.response(503, message=gettext("The script audit is not available"))
        audit = module.audit_script(text, lawful_actions=lawful, to_third_party=third_party)
        return self.response(200, **audit.as_dict())


# --- the compliance log ----------------------------------------------------------------------


def parse_log_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """The log's search form, checked; raises ``Refused`` (400) naming the first bad field."""
    filters: dict[str, Any] = {}
    for name, label in (("since", gettext("From")), ("until", gettext("To"))):
        text = (args.get(name) or "").strip()
        if text:
            try:
                filters[name] = date.fromisoformat(text)
            except ValueError:
                raise Refused(gettext("%(field)s: a date as YYYY-MM-DD", field=label)) from None
    if "since" in filters and "until" in filters and filters["since"] > filters["until"]:
        raise Refused(gettext("The first day is after the last"))
    choices = {"verdict": tuple(VERDICTS), "channel": CHANNELS, "origin": ORIGINS}
    for name, allowed in choices.items():
        value = (args.get(name) or "").strip()
        if value:
            if value not in allowed:
                raise Refused(gettext("%(field)s: choose one of the listed values", field=name))
            filters[name] = value
    rule = (args.get("rule") or "").strip()
    if rule:
        if not RULE_ID.match(rule):
            raise Refused(gettext("Rule: a rule id such as quiet_hours"))
        filters["rule"] = rule
    for name in ("actor", "case"):
        value = (args.get(name) or "").strip()
        if value:
            if len(value) > 64:
                raise Refused(gettext("%(field)s: at most 64 characters", field=name))
            filters[name] = value
    page = (args.get("page") or "1").strip() or "1"
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise Refused(gettext("Page: a whole number from 1"))
    filters["page"] = int(page)
    return filters


def checks_scope() -> ColumnElement[bool]:
    """The checks the user may read: all for oversight roles, else their cases' checks."""
    roles, username = current_roles()
    if roles & SEE_ALL_CASES:
        return true()
    cases = select(CollectionCase.id).where(case_scope_condition(roles, username))
    return ComplianceCheck.case_id.in_(cases)


def search_checks(filters: Mapping[str, Any], scope: ColumnElement[bool]) -> Select:
    """The checks matching ``filters`` in scope, newest first, with their case numbers."""
    query = (
        select(ComplianceCheck, CollectionCase.case_no)
        .outerjoin(CollectionCase, CollectionCase.id == ComplianceCheck.case_id)
        .where(scope)
    )
    if "since" in filters:
        since = datetime.combine(filters["since"], time.min, tzinfo=UTC)
        query = query.where(ComplianceCheck.checked_at >= since)
    if "until" in filters:
        until = datetime.combine(filters["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(ComplianceCheck.checked_at < until)
    for name, column in (
        ("verdict", ComplianceCheck.verdict),
        ("channel", ComplianceCheck.channel),
        ("origin", ComplianceCheck.origin),
        ("rule", ComplianceCheck.blocking_rule),
        ("actor", ComplianceCheck.actor),
        ("case", CollectionCase.case_no),
    ):
        if name in filters:
            query = query.where(column == filters[name])
    return query.order_by(ComplianceCheck.id.desc())


EXPORT_COLUMNS = [
    "id",
    "checked_at",
    "contact_at",
    "case_no",
    "actor",
    "origin",
    "agent",
    "channel",
    "party",
    "target",
    "policy",
    "policy_version",
    "verdict",
    "blocking_rule",
    "earliest_allowed_at",
    "reasons",
]


def reasons_text(reasons: list[Mapping[str, Any]], lang: str) -> str:
    """A check's reasons on one line: ``rule [verdict] message (sources)`` joined by " | "."""
    parts = []
    for raw in reasons or []:
        entry = reason_entry(raw, lang)
        sources = ", ".join(entry["sources"])
        parts.append(
            f"{entry['rule']} [{entry['verdict']}] {entry['message']}"
            + (f" ({sources})" if sources else "")
        )
    return " | ".join(parts)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


class ComplianceLogView(BaseView):
    """Every question asked of the gate and its answer, filtered, exported; never changed."""

    route_base = "/compliance/log"
    default_view = "list"
    class_permission_name = "ComplianceLogView"
    method_permission_name = {"list": "read", "export": "read"}

    @expose("/")
    @has_access
    def list(self) -> Response:
        session = self.appbuilder.session
        args = {key: request.args.get(key, "") for key in request.args}
        try:
            filters = parse_log_filters(request.args)
        except Refused as refused:
            return self._render(args, [], error=str(refused), status=refused.status)
        offset = (filters["page"] - 1) * PAGE_SIZE
        found = session.execute(
            search_checks(filters, checks_scope()).offset(offset).limit(PAGE_SIZE + 1)
        ).all()
        more = len(found) > PAGE_SIZE
        return self._render(args, found[:PAGE_SIZE], page=filters["page"], more=more)

    def _render(
        self,
        args: dict[str, str],
        found: list[Any],
        error: str = "",
        status: int = 200,
        page: int = 1,
        more: bool = False,
    ) -> Response:
        keep = {key: value for key, value in args.items() if key != "page" and value}
        lang = language()
        html = self.render_template(
            "compliance_log.html",
            args=args,
            checks=[
                (check, case_no, [reason_entry(r, lang) for r in check.reasons or []])
                for check, case_no in found
            ],
            verdicts=list(VERDICTS),
            channels=CHANNELS,
            origins=ORIGINS,
            rules=list(COMPLIANCE_RULES),
            error=error,
            page=page,
            export_args=keep,
            previous_args={**keep, "page": page - 1} if page > 1 else None,
            next_args={**keep, "page": page + 1} if more else None,
            may_read_sources=self.appbuilder.sm.has_access("can_read", "KnowledgeBaseView"),
            moment_text=moment_text,
        )
        return Response(html, status=status)

    @expose("/export")
    @has_access
    def export(self) -> Response:
        """The checks the filters select, oldest first, as UTF-8 CSV (targets masked)."""
        try:
            filters = parse_log_filters(request.args)
        except Refused as refused:
            return Response(str(refused), status=refused.status, mimetype="text/plain")
        statement = (
            search_checks(filters, checks_scope()).order_by(None).order_by(ComplianceCheck.id)
        )
        engine = self.appbuilder.session.get_bind()
        lang = language()

        def rows() -> Iterator[str]:
            # A session of its own: the request's is gone by the time a streamed body is read.
            with Session(engine) as session:
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                buffer.write("\ufeff")  # spreadsheet programs then read the Chinese as UTF-8
                writer.writerow(EXPORT_COLUMNS)
                found = session.execute(statement, execution_options={"yield_per": 2000})
                for check, case_no in found:
                    writer.writerow(
                        [
                            check.id,
                            _iso(check.checked_at),
                            _iso(check.contact_at),
                            case_no or "",
                            check.actor,
                            check.origin,
                            check.agent,
                            check.channel,
                            check.party,
                            check.target or "",
                            check.policy,
                            check.policy_version,
                            check.verdict,
                            check.blocking_rule or "",
                            _iso(check.earliest_allowed_at),
                            reasons_text(check.reasons, lang),
                        ]
                    )
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
                yield buffer.getvalue()

        return Response(
            rows(),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=compliance_log.csv"},
        )


# --- the legal knowledge base ----------------------------------------------------------------


class SourcesError(ValueError):
    """The knowledge base file cannot be read; the message says why."""


def load_sources(path: Path | None = None) -> list[dict[str, Any]]:
    """The knowledge base's sources in file order; [] while there is no file."""
    path = path or SOURCES_FILE
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourcesError(f"{path.name}: {error}") from error
    items = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise SourcesError(f'{path.name}: give {{"sources": [...]}}')
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


def citations(documents: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Which rules of which policy cite each source id (region overrides included)."""
    cited: dict[str, list[dict[str, Any]]] = {}

    def add(policy: str, rule_id: str, raw: object, region: str | None) -> None:
        if not isinstance(raw, Mapping):
            return
        for source in split_sources(raw.get("source")):
            cited.setdefault(source, []).append(
                {
                    "policy": policy,
                    "rule": rule_id,
                    "region": region,
                    "enabled": raw.get("enabled") is not False,
                }
            )

    for name, document in documents.items():
        for rule_id, raw in (document.get("rules") or {}).items():
            add(name, rule_id, raw, None)
        for region, changes in (document.get("region_overrides") or {}).items():
            for rule_id, raw in (changes or {}).items():
                add(name, rule_id, raw, region)
    return cited


def source_text(source: Mapping[str, Any], name: str, lang: str) -> str:
    """A bilingual field (``instrument``, ``summary``) in the user's language, else the other."""
    first, second = (f"{name}_en", f"{name}_zh") if lang == "en" else (f"{name}_zh", f"{name}_en")
    return str(source.get(first) or source.get(second) or "")


def source_urls(value: object) -> list[str]:
    """The http(s) links in a source's ``url`` field (which may add a remark or a second
    link: ``http://a (repost of ...); https://b``); anything else is never a link."""
    return [
        url.rstrip(".,;)") for url in re.findall(r"https?://[^\s;，；()（）]+", str(value or ""))
    ]


class KnowledgeBaseView(BaseView):
    """The legal sources behind the rules: instrument, citation, quote, summary, link, and
    which rules of which policy cite each."""

    route_base = "/compliance/sources"
    default_view = "index"
    class_permission_name = "KnowledgeBaseView"
    method_permission_name = {"index": "read", "show": "read"}

    def _load(self) -> tuple[list[dict[str, Any]], str]:
        try:
            return load_sources(), ""
        except SourcesError as error:
            log.warning("the legal knowledge base cannot be read: %s", error)
            return [], gettext("The knowledge base cannot be read: %(error)s", error=str(error))

    @expose("/")
    @has_access
    def index(self) -> Response:
        sources, error = self._load()
        cited = citations(documents_in_force(self.appbuilder.session))
        jurisdiction = request.args.get("jurisdiction", "").strip()
        jurisdictions = sorted({str(s.get("jurisdiction") or "") for s in sources} - {""})
        shown = [
            s for s in sources if not jurisdiction or str(s.get("jurisdiction")) == jurisdiction
        ]
        known = {s["id"] for s in sources}
        html = self.render_template(
            "compliance_sources.html",
            sources=shown,
            cited=cited,
            missing=sorted(set(cited) - known),
            jurisdictions=jurisdictions,
            jurisdiction=jurisdiction,
            lang=language(),
            source_text=source_text,
            error=error,
            file_missing=not SOURCES_FILE.is_file(),
        )
        return Response(html)

    @expose("/<source_id>")
    @has_access
    def show(self, source_id: str) -> Response:
        sources, _error = self._load()
        source = next((s for s in sources if s["id"] == source_id), None)
        if source is None:
            abort(404)
        cited = citations(documents_in_force(self.appbuilder.session))
        html = self.render_template(
            "compliance_source.html",
            source=source,
            cited=cited.get(source_id, []),
            lang=language(),
            source_text=source_text,
            urls=source_urls(source.get("url")),
        )
        return Response(html)


# --- policies ----------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,，;；]+", text or "") if part]


def _typed(kind: str | None, raw: str) -> Any:
    """A form's text as the policy document holds it; what does not parse is left as typed,
    for the policy's own check to name."""
    if kind == "int":
        return int(raw) if re.fullmatch(r"-?\d{1,9}", raw) else raw
    if kind in ("channels", "strings"):
        return _split(raw)
    return raw


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


class PolicyFormError(ValueError):
    """The policy form cannot be read as a document; the message says which row."""


def document_from_form(form: MultiDict, base: Mapping[str, Any]) -> dict[str, Any]:
    """The policy document the editor's form describes, over the draft's ``base`` document
    (checked later by ``parse_policy``, whose messages name the rule and parameter)."""
    base_rules = base.get("rules") or {}
    counting = form.get("counting") or base.get("counting", "debtor")
    document: dict[str, Any] = {
        "name": base["name"],
        "version": base.get("version", 1),
        "title_zh": (form.get("title_zh") or "").strip() or base.get("title_zh", base["name"]),
        "title_en": (form.get("title_en") or "").strip() or base.get("title_en", base["name"]),
        "counting": counting,
        "rules": {},
        "region_overrides": {},
    }
    for rule_id, parameters in RULE_PARAMETERS.items():
        prefix = f"rule-{rule_id}-"
        enabled = form.get(prefix + "enabled") == "on"
        before = base_rules.get(rule_id)
        if not enabled and not isinstance(before, Mapping):
            continue
        entry: dict[str, Any] = {}
        for name, (kind, _default) in parameters.items():
            field_name = f"{prefix}param-{name}"
            if kind == "channels":
                chosen = form.getlist(field_name)
                if set(chosen) != set(TIMED_CHANNELS) or len(chosen) != len(TIMED_CHANNELS):
                    entry[name] = [c for c in CHANNELS if c in chosen] + [
                        c for c in chosen if c not in CHANNELS
                    ]
                continue
            raw = (form.get(field_name) or "").strip()
            if raw:
                entry[name] = _typed(kind, raw)
        entry["source"] = _split(form.get(prefix + "source", ""))
        verdict = form.get(prefix + "verdict") or "blocked"
        if verdict != "blocked" or (isinstance(before, Mapping) and "verdict" in before):
            entry["verdict"] = verdict
        if not enabled:
            entry["enabled"] = False
        document["rules"][rule_id] = entry
    columns = [form.getlist(f"override_{part}") for part in ("region", "rule", "param", "value")]
    for row in range(max((len(column) for column in columns), default=0)):
        region, rule_id, name, value = (
            (column[row] if row < len(column) else "").strip() for column in columns
        )
        if not any((region, rule_id, name, value)):
            continue
        if not (region and rule_id and name):
            raise PolicyFormError(
                gettext(
                    "Region override, row %(n)d: give the region, the rule and the parameter",
                    n=row + 1,
                )
            )
        kind = RULE_PARAMETERS.get(rule_id, {}).get(name, (None, None))[0]
        typed: Any = _split(value) if name == "source" else _typed(kind, value)
        document["region_overrides"].setdefault(region, {}).setdefault(rule_id, {})[name] = typed
    return document


def rule_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every rule the gate knows, with the document's parameters (or the defaults), verdict,
    sources and whether the policy applies it."""
    rules = document.get("rules") or {}
    rows = []
    for rule_id, parameters in RULE_PARAMETERS.items():
        raw = rules.get(rule_id)
        present = isinstance(raw, Mapping)
        params = []
        for name, (kind, default) in parameters.items():
            value = raw.get(name, default) if present else default
            if kind == "channels" and value is None:
                value = list(TIMED_CHANNELS)
            params.append(
                {
                    "name": name,
                    "kind": kind,
                    "label": str(PARAMETER_LABELS.get(name, name)),
                    "value": value,
                    "text": _value_text(value),
                    "explicit": present and name in raw,
                }
            )
        rows.append(
            {
                "id": rule_id,
                "present": present,
                "enabled": present and raw.get("enabled") is not False,
                "verdict": raw.get("verdict", "blocked") if present else "blocked",
                "sources": split_sources(raw.get("source")) if present else [],
                "params": params,
            }
        )
    return rows


def override_rows(document: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for region, changes in (document.get("region_overrides") or {}).items():
        for rule_id, raw in (changes or {}).items():
            for name, value in (raw or {}).items():
                rows.append(
                    {"region": region, "rule": rule_id, "param": name, "value": _value_text(value)}
                )
    return rows


class CompliancePoliciesView(BaseView):
    """Policy versions of CN and US-RegF (and any other): read, edit a draft in a form, and
    the maker-checker steps."""

    route_base = "/compliance/policies"
    default_view = "index"
    class_permission_name = "CompliancePoliciesView"
    method_permission_name = {
        "index": "read",
        "show": "read",
        "preset": "read",
        "new_draft": "author",
        "save": "author",
        "submit_version": "author",
        "approve_version": "approve",
        "reject_version": "approve",
        "publish_version": "publish",
    }

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", "CompliancePoliciesView")

    def _version(self, policy_id: int) -> CompliancePolicyVersion:
        version = self.appbuilder.session.get(CompliancePolicyVersion, policy_id)
        if version is None:
            abort(404)
        return version

    @expose("/")
    @has_access
    def index(self) -> Response:
        session = self.appbuilder.session
        shipped = shipped_policy_documents()
        versions: dict[str, list[CompliancePolicyVersion]] = {name: [] for name in shipped}
        for version in session.scalars(
            select(CompliancePolicyVersion).order_by(
                CompliancePolicyVersion.name, CompliancePolicyVersion.version.desc()
            )
        ):
            versions.setdefault(version.name, []).append(version)
        html = self.render_template(
            "compliance_policies.html",
            versions=versions,
            shipped=shipped,
            in_force=config.COMPLIANCE_POLICY,
            lang=language(),
            status_label=status_label,
            status_styles=STATUS_STYLES,
            may_author=self._may("author"),
        )
        return Response(html)

    def _page(
        self,
        version: CompliancePolicyVersion | None,
        document: Mapping[str, Any],
        error: str = "",
        status: int = 200,
    ) -> Response:
        editable = (
            version is not None
            and version.status is VersionStatus.DRAFT
            and version.author == g.user.username
            and self._may("author")
        )
        html = self.render_template(
            "compliance_policy.html",
            version=version,
            document=document,
            rules=rule_rows(document),
            overrides=override_rows(document),
            editable=editable,
            error=error,
            lang=language(),
            channels=CHANNELS,
            counting_choices=[(value, str(COUNTING_LABELS[value])) for value in COUNTING],
            status_label=status_label,
            status_styles=STATUS_STYLES,
            may_author=self._may("author"),
            may_approve=self._may("approve"),
            may_publish=self._may("publish"),
            may_read_sources=self.appbuilder.sm.has_access("can_read", "KnowledgeBaseView"),
            me=g.user.username,
        )
        return Response(html, status=status)

    @expose("/version/<int:policy_id>")
    @has_access
    def show(self, policy_id: int) -> Response:
        version = self._version(policy_id)
        return self._page(version, version.document)

    @expose("/preset/<name>")
    @has_access
    def preset(self, name: str) -> Response:
        document = shipped_policy_documents().get(name)
        if document is None:
            abort(404)
        return self._page(None, document)

    @expose("/draft", methods=["POST"])
    @has_access
    def new_draft(self) -> Response:
        """A new draft from a version (``from_id``) or from a shipped preset (``preset``)."""
        session = self.appbuilder.session
        based_on = None
        if request.form.get("from_id", "").isdigit():
            based_on = self._version(int(request.form["from_id"]))
            document = dict(based_on.document)
        else:
            document = shipped_policy_documents().get(request.form.get("preset", ""))
            if document is None:
                abort(404)
        try:
            draft = save_draft(session, document, g.user.username, based_on=based_on)
            session.commit()
        except (PolicyError, LifecycleError) as error:
            session.rollback()
            if based_on is not None:
                return self._page(based_on, based_on.document, str(error), 400)
            return self._page(None, document, str(error), 400)
        flash(gettext("Draft %(version)s created", version=str(draft)), "success")
        return redirect(url_for("CompliancePoliciesView.show", policy_id=draft.id))

    @expose("/version/<int:policy_id>/save", methods=["POST"])
    @has_access
    def save(self, policy_id: int) -> Response:
        session = self.appbuilder.session
        draft = self._version(policy_id)
        try:
            document = document_from_form(request.form, draft.document)
        except PolicyFormError as error:
            return self._page(draft, draft.document, str(error), 400)
        try:
            save_draft(session, document, g.user.username, draft=draft)
            session.commit()
        except (PolicyError, LifecycleError) as error:
            session.rollback()
            return self._page(self._version(policy_id), document, str(error), 400)
        flash(gettext("Draft saved"), "success")
        return redirect(url_for("CompliancePoliciesView.show", policy_id=policy_id))

    def _step(self, policy_id: int, step: Any, *args: Any) -> Response:
        session = self.appbuilder.session
        version = self._version(policy_id)
        try:
            step(session, version, g.user.username, *args)
            session.commit()
        except (PolicyError, LifecycleError) as error:
            session.rollback()
            version = self._version(policy_id)
            return self._page(version, version.document, str(error), 400)
        flash(
            gettext(
                "%(version)s is now %(status)s",
                version=str(version),
                status=status_label(version.status),
            ),
            "success",
        )
        return redirect(url_for("CompliancePoliciesView.show", policy_id=policy_id))

    @expose("/version/<int:policy_id>/submit", methods=["POST"])
    @has_access
    def submit_version(self, policy_id: int) -> Response:
        return self._step(policy_id, submit)

    @expose("/version/<int:policy_id>/approve", methods=["POST"])
    @has_access
    def approve_version(self, policy_id: int) -> Response:
        return self._step(policy_id, approve)

    @expose("/version/<int:policy_id>/reject", methods=["POST"])
    @has_access
    def reject_version(self, policy_id: int) -> Response:
        return self._step(policy_id, reject, request.form.get("note", ""))

    @expose("/version/<int:policy_id>/publish", methods=["POST"])
    @has_access
    def publish_version(self, policy_id: int) -> Response:
        return self._step(policy_id, publish)


# --- replay and history export -----------------------------------------------------------------


@dataclass
class ReplayRun:
    """A replay's verdicts for the page: the first ``REPLAY_SHOWN`` and counts by verdict."""

    results: list[dict[str, Any]]
    token: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.results)


def _replay_folder(username: str) -> Path:
    digest = hashlib.sha256(username.encode()).hexdigest()[:16]
    return config.INSTANCE_DIR / "compliance_replays" / digest


def _forget_old_results(folder: Path) -> None:
    cutoff = clock.time() - REPLAY_KEEP.total_seconds()
    for path in folder.glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:64] or "case"


class ComplianceReplayView(BaseView):
    """Replay an uploaded contact history against a policy; export a case's or the portfolio's
    history in the replay format."""

    route_base = "/compliance/replay"
    default_view = "index"
    class_permission_name = "ComplianceReplayView"
    method_permission_name = {"index": "read", "run": "read", "result": "read", "history": "read"}

    def _max_bytes(self) -> int:
        return int(current_app.config.get("COMPLIANCE_REPLAY_MAX_BYTES", REPLAY_MAX_BYTES))

    def _page(self, run: ReplayRun | None = None, error: str = "", status: int = 200) -> Response:
        html = self.render_template(
            "compliance_replay.html",
            run=run,
            shown=run.results[:REPLAY_SHOWN] if run else [],
            shown_limit=REPLAY_SHOWN,
            error=error,
            policies=policy_names(self.appbuilder.session),
            default_policy=config.COMPLIANCE_POLICY,
            megabytes=max(self._max_bytes() >> 20, 1),
            lang=language(),
        )
        return Response(html, status=status)

    @expose("/")
    @has_access
    def index(self) -> Response:
        return self._page()

    def _document(self) -> Any:
        limit = self._max_bytes()
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise Refused(self._too_large(limit), 413)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Refused(gettext("Choose a replay file (JSON)"))
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise Refused(self._too_large(limit), 413)
        if not data.strip():
            raise Refused(gettext("The file is empty"))
        try:
            return json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise Refused(gettext("The file is not UTF-8 text")) from None
        except (json.JSONDecodeError, RecursionError) as error:
            raise Refused(
                gettext("The file is not valid JSON: %(error)s", error=str(error))
            ) from None

    @staticmethod
    def _too_large(limit: int) -> str:
        return gettext(
            "The file is larger than %(megabytes)s MB; replay it with run.py instead",
            megabytes=max(limit >> 20, 1),
        )

    @expose("/run", methods=["POST"])
    @has_access
    def run(self) -> Response:
        """Replay the uploaded file: each contact's verdict from the events before it."""
        session = self.appbuilder.session
        try:
            document = self._document()
            results = replay_document(document, lambda name: active_policy(session, name))
        except Refused as refused:
            return self._page(error=str(refused), status=refused.status)
        except (ReplayError, ValueError, TypeError) as error:
            return self._page(error=str(error), status=400)
        except OverflowError:  # a time at the edge of the calendar (year 1 or 9999)
            return self._page(
                error=gettext("A time in the file is out of the calendar's range"), status=400
            )
        token = secrets.token_hex(16)
        folder = _replay_folder(g.user.username)
        folder.mkdir(parents=True, exist_ok=True)
        _forget_old_results(folder)
        (folder / f"{token}.json").write_text(
            json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        counts: dict[str, int] = {}
        for result in results:
            counts[result["verdict"]] = counts.get(result["verdict"], 0) + 1
        return self._page(ReplayRun(results, token, counts))

    @expose("/result/<token>")
    @has_access
    def result(self, token: str) -> Response:
        """The replay's verdicts as JSON (only to the user who ran it, for a day)."""
        if not TOKEN.match(token):
            abort(404)
        path = _replay_folder(g.user.username) / f"{token}.json"
        if not path.is_file():
            abort(404)
        return Response(
            path.read_bytes(),
            mimetype="application/json; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="replay-result-{token[:8]}.json"',
                "Cache-Control": "no-store",
            },
        )

    @expose("/history")
    @has_access
    def history(self) -> Response:
        """A case's (``case``) or the portfolio's contact history in the replay format, under
        ``policy``; the portfolio is the cases in the user's scope."""
        session = self.appbuilder.session
        policy = request.args.get("policy", "").strip() or config.COMPLIANCE_POLICY
        if policy not in policy_names(session):
            return self._page(
                error=gettext("No policy %(name)s", name=repr(policy[:32])), status=400
            )
        case_no = request.args.get("case", "").strip()
        roles, username = current_roles()
        if case_no:
            try:
                case = case_in_scope(session, case_no[:64])
            except Refused as refused:
                return self._page(error=str(refused), status=refused.status)
            case_ids: list[int] | None = [case.id]
            filename = f"history-{_safe_name(case.case_no)}-{policy}.json"
        else:
            case_ids = (
                None
                if roles & SEE_ALL_CASES
                else list(
                    session.scalars(
                        select(CollectionCase.id).where(case_scope_condition(roles, username))
                    )
                )
            )
            filename = f"history-portfolio-{policy}.json"
        # Closed by the response's generator once the download is sent.
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        try:
            events = write_history(session, spool, policy=policy, case_ids=case_ids)
        except Exception:
            spool.close()
            raise
        spool.seek(0)

        def chunks() -> Iterator[str]:
            with spool:
                while chunk := spool.read(64 * 1024):
                    yield chunk

        return Response(
            chunks(),
            mimetype="application/json; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{_safe_name(filename)}"',
                "Cache-Control": "no-store",
                "X-Events": str(events),
            },
        )
