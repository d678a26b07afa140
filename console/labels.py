"""What the console shows for the stored values of the case database's enums, in the user's
language: ``outcome_label("ptp")`` is "承诺还款" in Chinese and "Promise to pay" in English.

The database keeps the English codes (``rpc``, ``in_collection``); only the display changes.
Each kind's labels carry a message context of their own (``"outcome"``, ``"case status"``...),
so one English word ("Closed", "Email") can be translated differently in each. In templates the
functions are globals (registered in ``console.app``): ``{{ outcome_label(o.value) }}`` or
``{{ enum_label("outcome", o) }}``; in forms, ``enum_choices("channel")`` gives
``(value, label)`` pairs whose labels are translated when the form is drawn.

A value without a label (a new enum member nobody translated yet) is shown as it is stored.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import LazyString, lazy_pgettext

from casedb.models import (
    CaseStatus,
    Channel,
    Consent,
    ContactKind,
    Direction,
    EventKind,
    ImportStatus,
    LoanStatus,
    MessageStatus,
    Outcome,
    Party,
    Product,
    PromiseStatus,
    Relationship,
    TaskStatus,
)

CASE_STATUSES: dict[str, LazyString] = {
    CaseStatus.NEW: lazy_pgettext("case status", "New"),
    CaseStatus.IN_COLLECTION: lazy_pgettext("case status", "In collection"),
    CaseStatus.PROMISED: lazy_pgettext("case status", "Promised"),
    CaseStatus.PAID: lazy_pgettext("case status", "Paid"),
    CaseStatus.SETTLED: lazy_pgettext("case status", "Settled"),
    CaseStatus.LEGAL: lazy_pgettext("case status", "Legal"),
    CaseStatus.WRITTEN_OFF: lazy_pgettext("case status", "Written off"),
    CaseStatus.CLOSED: lazy_pgettext("case status", "Closed"),
}

CHANNELS: dict[str, LazyString] = {
    Channel.CALL: lazy_pgettext("channel", "Call"),
    Channel.SMS: lazy_pgettext("channel", "SMS"),
    Channel.EMAIL: lazy_pgettext("channel", "Email"),
    Channel.LETTER: lazy_pgettext("channel", "Letter"),
    Channel.VISIT: lazy_pgettext("channel", "Field visit"),
    Channel.APP_PUSH: lazy_pgettext("channel", "App push"),
}

PARTIES: dict[str, LazyString] = {
    Party.DEBTOR: lazy_pgettext("party", "Debtor"),
    Party.THIRD_PARTY: lazy_pgettext("party", "Third party"),
    Party.EMERGENCY_CONTACT: lazy_pgettext("party", "Emergency contact"),
    Party.ATTORNEY: lazy_pgettext("party", "Attorney"),
}

DIRECTIONS: dict[str, LazyString] = {
    Direction.OUTBOUND: lazy_pgettext("direction", "Outbound"),
    Direction.INBOUND: lazy_pgettext("direction", "Inbound"),
}

OUTCOMES: dict[str, LazyString] = {
    Outcome.RIGHT_PARTY_CONTACT: lazy_pgettext("outcome", "Right party contact"),
    Outcome.PROMISE_TO_PAY: lazy_pgettext("outcome", "Promise to pay"),
    Outcome.REFUSED_TO_PAY: lazy_pgettext("outcome", "Refused to pay"),
    Outcome.DISPUTE: lazy_pgettext("outcome", "Dispute"),
    Outcome.HARDSHIP: lazy_pgettext("outcome", "Hardship"),
    Outcome.ALREADY_PAID: lazy_pgettext("outcome", "Says already paid"),
    Outcome.THIRD_PARTY_REACHED: lazy_pgettext("outcome", "Third party reached"),
    Outcome.THIRD_PARTY_REFUSED: lazy_pgettext("outcome", "Third party refused"),
    Outcome.NO_ANSWER: lazy_pgettext("outcome", "No answer"),
    Outcome.BUSY: lazy_pgettext("outcome", "Busy"),
    Outcome.VOICEMAIL: lazy_pgettext("outcome", "Voicemail"),
    Outcome.NOT_IN_SERVICE: lazy_pgettext("outcome", "Not in service"),
    Outcome.WRONG_NUMBER: lazy_pgettext("outcome", "Wrong number"),
    Outcome.CEASE_REQUESTED: lazy_pgettext("outcome", "Asked to stop contact"),
    Outcome.DELIVERED: lazy_pgettext("outcome", "Delivered"),
    Outcome.UNDELIVERED: lazy_pgettext("outcome", "Undelivered"),
}

PROMISE_STATUSES: dict[str, LazyString] = {
    PromiseStatus.PENDING: lazy_pgettext("promise status", "Pending"),
    PromiseStatus.KEPT: lazy_pgettext("promise status", "Kept"),
    PromiseStatus.PARTLY_KEPT: lazy_pgettext("promise status", "Partly kept"),
    PromiseStatus.BROKEN: lazy_pgettext("promise status", "Broken"),
    PromiseStatus.CANCELLED: lazy_pgettext("promise status", "Cancelled"),
}

CONSENTS: dict[str, LazyString] = {
    Consent.UNKNOWN: lazy_pgettext("consent", "Unknown"),
    Consent.GRANTED: lazy_pgettext("consent", "Granted"),
    Consent.WITHDRAWN: lazy_pgettext("consent", "Withdrawn"),
}

CONTACT_KINDS: dict[str, LazyString] = {
    ContactKind.MOBILE: lazy_pgettext("contact kind", "Mobile"),
    ContactKind.HOME_PHONE: lazy_pgettext("contact kind", "Home phone"),
    ContactKind.WORK_PHONE: lazy_pgettext("contact kind", "Work phone"),
    ContactKind.EMAIL: lazy_pgettext("contact kind", "Email"),
    ContactKind.HOME_ADDRESS: lazy_pgettext("contact kind", "Home address"),
    ContactKind.WORK_ADDRESS: lazy_pgettext("contact kind", "Work address"),
}

RELATIONSHIPS: dict[str, LazyString] = {
    Relationship.SPOUSE: lazy_pgettext("relationship", "Spouse"),
    Relationship.PARENT: lazy_pgettext("relationship", "Parent"),
    Relationship.CHILD: lazy_pgettext("relationship", "Child"),
    Relationship.SIBLING: lazy_pgettext("relationship", "Sibling"),
    Relationship.RELATIVE: lazy_pgettext("relationship", "Relative"),
    Relationship.FRIEND: lazy_pgettext("relationship", "Friend"),
    Relationship.COLLEAGUE: lazy_pgettext("relationship", "Colleague"),
    Relationship.EMPLOYER: lazy_pgettext("relationship", "Employer"),
    Relationship.ATTORNEY: lazy_pgettext("relationship", "Attorney"),
    Relationship.OTHER: lazy_pgettext("relationship", "Other"),
}

PRODUCTS: dict[str, LazyString] = {
    Product.CREDIT_CARD: lazy_pgettext("product", "Credit card"),
    Product.CASH_LOAN: lazy_pgettext("product", "Cash loan"),
    Product.CONSUMER_LOAN: lazy_pgettext("product", "Consumer loan"),
    Product.MORTGAGE: lazy_pgettext("product", "Mortgage"),
    Product.AUTO_LOAN: lazy_pgettext("product", "Auto loan"),
}

LOAN_STATUSES: dict[str, LazyString] = {
    LoanStatus.ACTIVE: lazy_pgettext("loan status", "Active"),
    LoanStatus.CLOSED: lazy_pgettext("loan status", "Closed"),
    LoanStatus.CHARGED_OFF: lazy_pgettext("loan status", "Charged off"),
}

# An import job's state: the stored batch statuses, plus "queued" for a job not yet started.
IMPORT_STATES: dict[str, LazyString] = {
    "queued": lazy_pgettext("import state", "Queued"),
    ImportStatus.RUNNING: lazy_pgettext("import state", "Running"),
    ImportStatus.COMPLETED: lazy_pgettext("import state", "Completed"),
    ImportStatus.FAILED: lazy_pgettext("import state", "Failed"),
}

# The kinds of a case's timeline entries (casedb.timeline): contacts, promises, decisions of the
# rules service and change events.
TIMELINE_KINDS: dict[str, LazyString] = {
    "contact": lazy_pgettext("timeline", "Contact"),
    "promise": lazy_pgettext("timeline", "Promise"),
    "decision": lazy_pgettext("timeline", "Rules decision"),
    EventKind.CASE_OPENED: lazy_pgettext("timeline", "Case opened"),
    EventKind.PAYMENT_POSTED: lazy_pgettext("timeline", "Payment posted"),
    EventKind.CONTACT_LOGGED: lazy_pgettext("timeline", "Contact logged"),
    EventKind.PROMISE_MADE: lazy_pgettext("timeline", "Promise made"),
    EventKind.PROMISE_KEPT: lazy_pgettext("timeline", "Promise kept"),
    EventKind.PROMISE_BROKEN: lazy_pgettext("timeline", "Promise broken"),
    EventKind.RATING_CHANGED: lazy_pgettext("timeline", "Rating changed"),
    EventKind.DPD_CHANGED: lazy_pgettext("timeline", "DPD changed"),
    EventKind.CASE_UPDATED: lazy_pgettext("timeline", "Case updated"),
    EventKind.COLLECTOR_CHANGED: lazy_pgettext("timeline", "Collector changed"),
}

TASK_STATUSES = {
    TaskStatus.OPEN: lazy_pgettext("task status", "Open"),
    TaskStatus.DONE: lazy_pgettext("task status", "Done"),
    TaskStatus.CANCELLED: lazy_pgettext("task status", "Cancelled"),
}
MESSAGE_STATUSES = {
    MessageStatus.QUEUED: lazy_pgettext("message status", "Queued"),
    MessageStatus.SENDING: lazy_pgettext("message status", "Sending"),
    MessageStatus.SENT: lazy_pgettext("message status", "Sent"),
    MessageStatus.FAILED: lazy_pgettext("message status", "Failed"),
    MessageStatus.BLOCKED: lazy_pgettext("message status", "Blocked"),
}
# The actions of treatment path steps (rules_service.treatment_paths.ACTIONS).
ACTIONS = {
    "sms_reminder": lazy_pgettext("action", "SMS reminder"),
    "app_push": lazy_pgettext("action", "App push"),
    "email_reminder": lazy_pgettext("action", "E-mail reminder"),
    "formal_letter": lazy_pgettext("action", "Formal letter"),
    "call": lazy_pgettext("action", "Call"),
    "legal_review": lazy_pgettext("action", "Legal review"),
    "field_visit": lazy_pgettext("action", "Field visit"),
    "agency_placement": lazy_pgettext("action", "Agency placement"),
    # Not a path step: a supervisor's decision on a recommended write-off (casedb.legal).
    "write_off_approval": lazy_pgettext("action", "Write-off approval"),
}

# The compliance gate's answers, where its questions came from, and its rules
# (casedb.compliance: the stored values of compliance_check and the rule ids of policies).
VERDICTS = {
    "allowed": lazy_pgettext("compliance verdict", "Allowed"),
    "review": lazy_pgettext("compliance verdict", "Needs review"),
    "blocked": lazy_pgettext("compliance verdict", "Blocked"),
}
CHECK_ORIGINS = {
    "click": lazy_pgettext("check origin", "Console (dial)"),
    "automated": lazy_pgettext("check origin", "Automated message"),
    "api": lazy_pgettext("check origin", "API"),
    "note": lazy_pgettext("check origin", "Contact notes"),
}
COMPLIANCE_RULES = {
    "quiet_hours": lazy_pgettext("compliance rule", "Quiet hours"),
    "inconvenient_time": lazy_pgettext("compliance rule", "Inconvenient time"),
    "debtor_inconvenient_time": lazy_pgettext(
        "compliance rule", "Times the debtor said are inconvenient"
    ),
    "daily_connected_calls": lazy_pgettext("compliance rule", "Connected calls per day"),
    "daily_unanswered_dials": lazy_pgettext("compliance rule", "Unanswered dials per day"),
    "rapid_redial": lazy_pgettext("compliance rule", "Redial too soon"),
    "call_frequency_7in7": lazy_pgettext("compliance rule", "Calls within 7 days"),
    "call_after_conversation": lazy_pgettext("compliance rule", "No call after a conversation"),
    "consent_window": lazy_pgettext("compliance rule", "Consent window"),
    "cease": lazy_pgettext("compliance rule", "Request to stop contact"),
    "opt_out": lazy_pgettext("compliance rule", "Channel opted out"),
    "represented": lazy_pgettext("compliance rule", "Represented by an attorney"),
    "third_party_refused": lazy_pgettext("compliance rule", "Contact person refused"),
    "third_party_repeat": lazy_pgettext("compliance rule", "Repeated contact with a third party"),
    "third_party_debtor_reachable": lazy_pgettext(
        "compliance rule", "Contact persons only when the debtor is unreachable"
    ),
    "field_visit_collectors": lazy_pgettext("compliance rule", "Collectors on a field visit"),
    "field_visit_daily": lazy_pgettext("compliance rule", "Field visits per day"),
    "script": lazy_pgettext("compliance rule", "Script audit"),
}

LABELS: Mapping[str, Mapping[str, LazyString]] = {
    "case_status": CASE_STATUSES,
    "channel": CHANNELS,
    "party": PARTIES,
    "direction": DIRECTIONS,
    "outcome": OUTCOMES,
    "promise_status": PROMISE_STATUSES,
    "consent": CONSENTS,
    "contact_kind": CONTACT_KINDS,
    "relationship": RELATIONSHIPS,
    "product": PRODUCTS,
    "loan_status": LOAN_STATUSES,
    "import_state": IMPORT_STATES,
    "timeline": TIMELINE_KINDS,
    "task_status": TASK_STATUSES,
    "message_status": MESSAGE_STATUSES,
    "action": ACTIONS,
    "verdict": VERDICTS,
    "check_origin": CHECK_ORIGINS,
    "compliance_rule": COMPLIANCE_RULES,
}

# The enum behind each kind whose every member must have a label (tests check this).
ENUMS: Mapping[str, type[enum.StrEnum]] = {
    "case_status": CaseStatus,
    "channel": Channel,
    "party": Party,
    "direction": Direction,
    "outcome": Outcome,
    "promise_status": PromiseStatus,
    "consent": Consent,
    "contact_kind": ContactKind,
    "relationship": Relationship,
    "product": Product,
    "loan_status": LoanStatus,
    "import_state": ImportStatus,
    "timeline": EventKind,
    "task_status": TaskStatus,
    "message_status": MessageStatus,
}


def enum_label(kind: str, value: Any) -> str:
    """The label of a stored ``value`` (an enum member or its string) of ``kind`` (a key of
    ``LABELS``), in the current request's language; ``""`` for ``None``."""
    if value is None:
        return ""
    code = value.value if isinstance(value, enum.Enum) else str(value)
    label = LABELS[kind].get(code)
    return code if label is None else str(label)


def enum_choices(kind: str) -> list[tuple[str, LazyString]]:
    """``(stored value, label)`` for a select field; the labels are translated when drawn."""
    return list(LABELS[kind].items())


def _labeller(kind: str) -> Callable[[Any], str]:
    def label(value: Any) -> str:
        return enum_label(kind, value)

    label.__name__ = f"{kind}_label"
    label.__doc__ = f"The label of a stored {kind.replace('_', ' ')} value (see enum_label)."
    return label


case_status_label = _labeller("case_status")
channel_label = _labeller("channel")
party_label = _labeller("party")
direction_label = _labeller("direction")
outcome_label = _labeller("outcome")
promise_status_label = _labeller("promise_status")
consent_label = _labeller("consent")
contact_kind_label = _labeller("contact_kind")
relationship_label = _labeller("relationship")
product_label = _labeller("product")
loan_status_label = _labeller("loan_status")
import_state_label = _labeller("import_state")
timeline_kind_label = _labeller("timeline")
task_status_label = _labeller("task_status")
message_status_label = _labeller("message_status")
action_label = _labeller("action")
verdict_label = _labeller("verdict")
check_origin_label = _labeller("check_origin")
compliance_rule_label = _labeller("compliance_rule")

# What console.app registers as Jinja globals, for every template.
JINJA_GLOBALS: dict[str, Callable[..., Any]] = {
    "enum_label": enum_label,
    "case_status_label": case_status_label,
    "channel_label": channel_label,
    "party_label": party_label,
    "direction_label": direction_label,
    "outcome_label": outcome_label,
    "promise_status_label": promise_status_label,
    "consent_label": consent_label,
    "contact_kind_label": contact_kind_label,
    "relationship_label": relationship_label,
    "product_label": product_label,
    "loan_status_label": loan_status_label,
    "import_state_label": import_state_label,
    "timeline_kind_label": timeline_kind_label,
    "task_status_label": task_status_label,
    "message_status_label": message_status_label,
    "action_label": action_label,
    "verdict_label": verdict_label,
    "check_origin_label": check_origin_label,
    "compliance_rule_label": compliance_rule_label,
}
