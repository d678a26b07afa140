"""A compliance policy: which gate rules apply, with what parameters, and the law behind each.

A policy is a JSON document (``rulesets/compliance/policies/*.json`` ship CN and US-RegF) so
analysts can change a parameter — a quiet hour, a cap — without code, and every change is a new
version under maker-checker. Parsing refuses what the gate could not apply, naming the rule and
the parameter, so a broken policy can never be published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from casedb.compliance.events import CHANNELS, EventError, TimeWindow, parse_clock

POLICY_DIR = Path(__file__).resolve().parents[2] / "rulesets" / "compliance" / "policies"

# Each rule's parameters: name → (kind, default). Kinds: int, clock, channels, verdict, str.
RULE_PARAMETERS: dict[str, dict[str, tuple[str, Any]]] = {
    "quiet_hours": {
        "from": ("clock", "22:00"),
        "to": ("clock", "08:00"),
        "channels": ("channels", None),
    },
    "inconvenient_time": {
        "from": ("clock", "21:00"),
        "to": ("clock", "08:00"),
        "channels": ("channels", None),
    },
    "debtor_inconvenient_time": {"channels": ("channels", None)},
    "daily_connected_calls": {"max": ("int", 3)},
    "daily_unanswered_dials": {"max": ("int", 6)},
    "rapid_redial": {"minutes": ("int", 5)},
    "call_frequency_7in7": {"max": ("int", 7), "days": ("int", 7)},
    "call_after_conversation": {"days": ("int", 7)},
    "consent_window": {"days": ("int", 7)},
    "cease": {},
    "opt_out": {},
    "represented": {},
    "third_party_refused": {},
    "third_party_repeat": {"max": ("int", 1)},
    "third_party_debtor_reachable": {"days": ("int", 30), "min_failed_attempts": ("int", 3)},
    "field_visit_collectors": {"min": ("int", 2), "max": ("int", 3)},
    "field_visit_daily": {"max": ("int", 1)},
    "script": {"lawful_actions": ("strings", [])},
}
# Channels the time-of-day rules cover when a policy does not list them: mail is read when the
# reader chooses, so a letter has no inconvenient hour.
TIMED_CHANNELS = ("call", "sms", "email", "visit", "app_push")
COUNTING = ("debtor", "debt_and_agent")


class PolicyError(ValueError):
    """A policy document the gate cannot apply; the message names the rule and parameter."""


@dataclass(frozen=True)
class Rule:
    id: str
    params: Mapping[str, Any]
    sources: tuple[str, ...]
    verdict: str = "blocked"

    def clock(self, name: str) -> time:
        return self.params[name]

    def window(self) -> TimeWindow:
        return TimeWindow(self.params["from"], self.params["to"])


@dataclass(frozen=True)
class Policy:
    name: str
    version: int
    title_zh: str
    title_en: str
    # "debtor": a cap counts every contact with the debtor, the lender's and agencies' together
    # (CN). "debt_and_agent": per debt and per debt collector (Reg F 1006.14(b)(4)).
    counting: str
    rules: Mapping[str, Rule]
    region_overrides: Mapping[str, Mapping[str, Rule]] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def rules_for(self, region: str | None) -> Mapping[str, Rule]:
        """The rules with the debtor's region's overrides applied (the seed: some regions
        forbid calls after a given hour)."""
        override = self.region_overrides.get(region or "")
        return {**self.rules, **override} if override else self.rules


def _parameter(rule_id: str, name: str, kind: str, value: object) -> Any:
    where = f"rule {rule_id!r}, parameter {name!r}"
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PolicyError(f"{where}: give a whole number of 0 or more, not {value!r}")
        return value
    if kind == "clock":
        try:
            return parse_clock(value, where)
        except EventError as error:
            raise PolicyError(str(error)) from error
    if kind == "channels":
        if value is None:
            return TIMED_CHANNELS
        if not isinstance(value, list) or not value or any(c not in CHANNELS for c in value):
            raise PolicyError(f"{where}: give a list of channels out of {', '.join(CHANNELS)}")
        return tuple(value)
    if kind == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PolicyError(f"{where}: give a list of names")
        return tuple(value)
    raise AssertionError(kind)


def _rule(rule_id: str, raw: object, base: Rule | None = None) -> Rule:
    if rule_id not in RULE_PARAMETERS:
        raise PolicyError(f"rule {rule_id!r} is unknown; known rules: {', '.join(RULE_PARAMETERS)}")
    if not isinstance(raw, Mapping):
        raise PolicyError(f"rule {rule_id!r}: give an object of parameters")
    known = RULE_PARAMETERS[rule_id]
    extra = set(raw) - set(known) - {"source", "verdict", "enabled"}
    if extra:
        raise PolicyError(
            f"rule {rule_id!r}: unknown parameter {sorted(extra)[0]!r}; "
            f"it takes {', '.join(known) or 'no parameters'}"
        )
    params = {}
    for name, (kind, default) in known.items():
        if name in raw:
            params[name] = _parameter(rule_id, name, kind, raw[name])
        elif base is not None:
            params[name] = base.params[name]
        else:
            params[name] = _parameter(rule_id, name, kind, default)
    if rule_id == "script":
        from casedb.compliance.script_audit import LAWFUL_ACTIONS  # noqa: PLC0415

        unknown = sorted(set(params["lawful_actions"]) - set(LAWFUL_ACTIONS))
        if unknown:
            raise PolicyError(
                f"rule 'script', parameter 'lawful_actions': {unknown[0]!r} is not one of "
                f"{', '.join(sorted(LAWFUL_ACTIONS))}"
            )
    sources = raw.get("source", list(base.sources) if base else [])
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise PolicyError(f"rule {rule_id!r}, parameter 'source': give knowledge-base ids")
    if not sources:
        raise PolicyError(f"rule {rule_id!r}: name its legal source (knowledge-base id)")
    verdict = raw.get("verdict", base.verdict if base else "blocked")
    if verdict not in ("blocked", "review"):
        raise PolicyError(f"rule {rule_id!r}, parameter 'verdict': give 'blocked' or 'review'")
    return Rule(rule_id, params, tuple(sources), verdict)


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """A policy from its JSON document; raises ``PolicyError`` naming what is wrong."""
    if not isinstance(document, Mapping):
        raise PolicyError("a policy is a JSON object")
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError("the policy needs a name")
    version = document.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PolicyError("the policy's version is a whole number from 1")
    counting = document.get("counting", "debtor")
    if counting not in COUNTING:
        raise PolicyError(f"'counting' is one of {', '.join(COUNTING)}")
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, Mapping) or not raw_rules:
        raise PolicyError("the policy needs at least one rule")
    rules = {
        rule_id: _rule(rule_id, raw)
        for rule_id, raw in raw_rules.items()
        if not (isinstance(raw, Mapping) and raw.get("enabled") is False)
    }
    overrides: dict[str, dict[str, Rule]] = {}
    raw_overrides = document.get("region_overrides", {}) or {}
    if not isinstance(raw_overrides, Mapping):
        raise PolicyError("'region_overrides' maps a region code to rule parameters")
    for region, changes in raw_overrides.items():
        if not isinstance(changes, Mapping):
            raise PolicyError(f"region {region!r}: give rule parameters to override")
        overrides[region] = {}
        for rule_id, raw in changes.items():
            try:
                overrides[region][rule_id] = _rule(rule_id, raw, rules.get(rule_id))
            except PolicyError as error:
                raise PolicyError(f"region {region!r}: {error}") from error
    return Policy(
        name=name,
        version=version,
        title_zh=str(document.get("title_zh", name)),
        title_en=str(document.get("title_en", name)),
        counting=counting,
        rules=rules,
        region_overrides=overrides,
        document=dict(document),
    )


def shipped_policy_documents() -> dict[str, dict[str, Any]]:
    """The presets that ship, by name."""
    documents = {}
    for path in sorted(POLICY_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        documents[document["name"]] = document
    return documents


def shipped_policy(name: str) -> Policy:
    documents = shipped_policy_documents()
    if name not in documents:
        raise PolicyError(f"no policy {name!r}; the shipped ones are {', '.join(documents)}")
    return parse_policy(documents[name])
