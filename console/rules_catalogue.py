"""What the rule-authoring pages offer analysts: the case facts a table may test and the
decision outputs each kind of table gives, with their labels in the user's language and units;
the labels of kinds, hit policies, version states and analysis findings.

The facts come from :data:`rules_service.facts.FACTS` (which carries its own English and Chinese
labels); the outputs per kind are those the shipped tables in ``rulesets/`` use (a test checks
that they agree), the ones the rules service reads marked required.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString, get_locale, lazy_gettext, lazy_pgettext

from casedb.models import VersionStatus
from rules_service.decision_table import REQUIRED_OUTPUTS, HitPolicy, Kind
from rules_service.facts import FACTS, Fact, FactType

KIND_LABELS: dict[str, LazyString] = {
    Kind.ASSIGNMENT: lazy_pgettext("ruleset kind", "Assignment"),
    Kind.PRIORITY: lazy_pgettext("ruleset kind", "Priority"),
    Kind.STRATEGY: lazy_pgettext("ruleset kind", "Strategy"),
    Kind.ALERT: lazy_pgettext("ruleset kind", "Risk alerts"),
}

STATUS_LABELS: dict[str, LazyString] = {
    VersionStatus.DRAFT: lazy_pgettext("version status", "Draft"),
    VersionStatus.SUBMITTED: lazy_pgettext("version status", "Submitted"),
    VersionStatus.APPROVED: lazy_pgettext("version status", "Approved"),
    VersionStatus.PUBLISHED: lazy_pgettext("version status", "Published"),
    VersionStatus.RETIRED: lazy_pgettext("version status", "Retired"),
    VersionStatus.REJECTED: lazy_pgettext("version status", "Rejected"),
}
# Bootstrap 3 label classes of the states.
STATUS_STYLES = {
    VersionStatus.DRAFT: "default",
    VersionStatus.SUBMITTED: "info",
    VersionStatus.APPROVED: "primary",
    VersionStatus.PUBLISHED: "success",
    VersionStatus.RETIRED: "warning",
    VersionStatus.REJECTED: "danger",
}

HIT_POLICY_LABELS: dict[str, LazyString] = {
    HitPolicy.FIRST: lazy_gettext("FIRST: the first matching row decides"),
    HitPolicy.UNIQUE: lazy_gettext("UNIQUE: at most one row may match"),
    HitPolicy.PRIORITY: lazy_gettext(
        "PRIORITY: the matching row whose enum outputs rank highest decides"
    ),
    HitPolicy.COLLECT: lazy_gettext("COLLECT: every matching row, in table order"),
}

FINDING_LABELS: dict[str, LazyString] = {
    "gap": lazy_pgettext("finding", "Gap"),
    "overlap": lazy_pgettext("finding", "Overlap"),
    "shadowed": lazy_pgettext("finding", "Shadowed row"),
    "duplicate": lazy_pgettext("finding", "Duplicate rows"),
    "type_conflict": lazy_pgettext("finding", "Type conflict"),
}

TYPE_LABELS: dict[str, LazyString] = {
    FactType.NUMBER: lazy_pgettext("fact type", "number"),
    FactType.INTEGER: lazy_pgettext("fact type", "integer"),
    FactType.TEXT: lazy_pgettext("fact type", "text"),
    FactType.BOOLEAN: lazy_pgettext("fact type", "yes/no"),
    FactType.DATE: lazy_pgettext("fact type", "date"),
    FactType.ENUM: lazy_pgettext("fact type", "choice"),
}

UNIT_LABELS: dict[str, LazyString] = {
    "days": lazy_pgettext("unit", "days"),
    "CNY": lazy_pgettext("unit", "CNY"),
    "years": lazy_pgettext("unit", "years"),
}


@dataclass(frozen=True)
class OutputSpec:
    """One decision output a kind of table may give."""

    name: str
    type: FactType
    label: LazyString
    values: tuple[str, ...] = ()

    def column(self) -> dict[str, Any]:
        """The output column as the table document declares it."""
        column: dict[str, Any] = {"name": self.name, "type": self.type.value}
        if self.values:
            column["values"] = list(self.values)
        return column


OUTPUTS: Mapping[Kind, tuple[OutputSpec, ...]] = {
    Kind.ASSIGNMENT: (
        OutputSpec("team", FactType.TEXT, lazy_pgettext("output", "Team (code or name)")),
        OutputSpec("required_skill", FactType.TEXT, lazy_pgettext("output", "Required skill")),
        OutputSpec(
            "selection",
            FactType.ENUM,
            lazy_pgettext("output", "How the collector is chosen"),
            ("keep_current", "least_loaded", "round_robin"),
        ),
    ),
    Kind.PRIORITY: (
        OutputSpec("score", FactType.INTEGER, lazy_pgettext("output", "Priority score")),
        OutputSpec(
            "level",
            FactType.ENUM,
            lazy_pgettext("output", "Priority level"),
            ("P1", "P2", "P3", "P4"),
        ),
    ),
    Kind.STRATEGY: (
        OutputSpec("segment", FactType.TEXT, lazy_pgettext("output", "Segment")),
        OutputSpec("treatment_path", FactType.TEXT, lazy_pgettext("output", "Treatment path")),
        OutputSpec(
            "next_action",
            FactType.ENUM,
            lazy_pgettext("output", "Next action"),
            ("sms_reminder", "app_push", "call", "formal_letter", "legal_review"),
        ),
        OutputSpec(
            "arm",
            FactType.ENUM,
            lazy_pgettext("output", "Champion/challenger arm"),
            ("champion", "challenger"),
        ),
        OutputSpec(
            "challenger_path",
            FactType.TEXT,
            lazy_pgettext("output", "Challenger's treatment path"),
        ),
        OutputSpec(
            "challenger_percent",
            FactType.INTEGER,
            lazy_pgettext("output", "Share of cases for the challenger (%)"),
        ),
    ),
    Kind.ALERT: (
        OutputSpec("alert", FactType.TEXT, lazy_pgettext("output", "Alert")),
        OutputSpec(
            "severity",
            FactType.ENUM,
            lazy_pgettext("output", "Severity"),
            ("critical", "warning", "info"),
        ),
        OutputSpec("message_en", FactType.TEXT, lazy_pgettext("output", "Message in English")),
        OutputSpec("message_zh", FactType.TEXT, lazy_pgettext("output", "Message in Chinese")),
    ),
}


def chinese() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "zh"


def fact_label(fact: Fact) -> str:
    return fact.zh if chinese() else fact.en


def kind_label(kind: object) -> str:
    value = getattr(kind, "value", kind)
    return str(KIND_LABELS.get(str(value), value))


def status_label(status: object) -> str:
    value = getattr(status, "value", status)
    return str(STATUS_LABELS.get(str(value), value))


def finding_label(kind: object) -> str:
    return str(FINDING_LABELS.get(str(kind), kind))


def fact_catalogue() -> list[dict[str, Any]]:
    """Every fact a table may test, for the editor: name, type, label, unit, values."""
    return [
        {
            "name": fact.name,
            "type": fact.type.value,
            "type_label": str(TYPE_LABELS[fact.type]),
            "label": fact_label(fact),
            "unit": str(UNIT_LABELS.get(fact.unit, fact.unit)) if fact.unit else "",
            "values": list(fact.values),
        }
        for fact in FACTS.values()
    ]


def output_catalogue(kind: Kind) -> list[dict[str, Any]]:
    """The outputs a table of ``kind`` may give, for the editor; the required ones marked."""
    required = set(REQUIRED_OUTPUTS[kind])
    return [
        {
            **spec.column(),
            "label": str(spec.label),
            "type_label": str(TYPE_LABELS[spec.type]),
            "required": spec.name in required,
            "values": list(spec.values),
        }
        for spec in OUTPUTS[kind]
    ]


def output_labels(kind: Kind) -> dict[str, str]:
    return {spec.name: str(spec.label) for spec in OUTPUTS.get(kind, ())}


def blank_document(kind: Kind, name: str) -> dict[str, Any]:
    """A table of ``kind`` with one input (days past due), the kind's required outputs and one
    row that matches every case: a valid start for an analyst."""
    required = set(REQUIRED_OUTPUTS[kind])
    outputs = [spec for spec in OUTPUTS[kind] if spec.name in required]
    return {
        "format": 1,
        "name": name,
        "kind": kind.value,
        "version": 1,
        "hit_policy": HitPolicy.FIRST.value,
        "description": {},
        "inputs": [{"fact": "dpd", "type": FACTS["dpd"].type.value}],
        "outputs": [spec.column() for spec in outputs],
        "rows": [
            {
                "id": "R1",
                "when": {"dpd": "-"},
                "then": {spec.name: (spec.values[0] if spec.values else None) for spec in outputs},
            }
        ],
    }
