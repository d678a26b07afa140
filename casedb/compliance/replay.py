"""Audit replay: re-judge a whole contact history against a policy, contact by contact.

Each contact gets the verdict the gate would have given at that moment, from the events before
it only. A file is read twice with a streaming parser — first the policy and debtors, then the
events one at a time — and verdicts are written as they are reached, so a million contacts
replay in the memory of the debtors' recent windows, not of the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import ijson

from casedb.compliance.events import (
    Contact,
    Debtor,
    Event,
    EventError,
    parse_debtor,
    parse_event,
)
from casedb.compliance.gate import DebtorHistory, Verdict, judge
from casedb.compliance.policy import Policy, PolicyError, parse_policy, shipped_policy

PolicyResolver = Callable[[str], Policy]


class ReplayError(ValueError):
    """The replay input is not usable; the message names the event (or debtor) and field."""


def contact_result(contact: Contact, verdict: Verdict) -> dict[str, Any]:
    """One line of the replay's output, in the documented format."""
    result: dict[str, Any] = {
        "id": contact.id,
        "verdict": verdict.verdict,
        "rules": [
            {"id": r.rule, "message": r.message, "source": r.source} for r in verdict.reasons
        ],
    }
    if verdict.earliest is not None:
        result["earliest_allowed_at"] = verdict.earliest.isoformat()
    return result


def resolve_policy(value: object, policies: PolicyResolver = shipped_policy) -> Policy:
    try:
        if isinstance(value, Mapping):
            return parse_policy(value)
        if isinstance(value, str) and value:
            return policies(value)
    except PolicyError as error:
        raise ReplayError(f"field 'policy': {error}") from error
    raise ReplayError("field 'policy': name a policy (CN, US-RegF) or give one inline")


class Replay:
    """Judges events in time order, keeping a bounded history per debtor."""

    def __init__(self, policy: Policy, debtors: Iterable[Debtor]) -> None:
        self.policy = policy
        self.debtors = {debtor.id: debtor for debtor in debtors}
        self.histories: dict[str, DebtorHistory] = {}
        self.last_seen: dict[str, tuple[str, Any]] = {}

    def take(self, event: Event) -> dict[str, Any] | None:
        """Record ``event``; for a contact, first judge it and return its result."""
        debtor = self.debtors.get(event.debtor)
        if debtor is None:
            raise ReplayError(f"event {event.id!r}, field 'debtor': no debtor {event.debtor!r}")
        previous = self.last_seen.get(event.debtor)
        if previous is not None and event.at < previous[1]:
            raise ReplayError(
                f"event {event.id!r}, field 'at': earlier than event {previous[0]!r} of the same "
                "debtor; give each debtor's events in time order"
            )
        self.last_seen[event.debtor] = (event.id, event.at)
        history = self.histories.get(event.debtor)
        if history is None:
            history = self.histories[event.debtor] = DebtorHistory(debtor)
        result = None
        if isinstance(event, Contact):
            result = contact_result(event, judge(event, history, self.policy))
        history.record(event)
        return result


def _debtors(raw: object) -> list[Debtor]:
    if not isinstance(raw, list):
        raise ReplayError("field 'debtors': give a list of debtors")
    debtors = []
    seen = set()
    for position, item in enumerate(raw, start=1):
        try:
            debtor = parse_debtor(item, position)
        except EventError as error:
            raise ReplayError(str(error)) from error
        if debtor.id in seen:
            raise ReplayError(f"debtor {debtor.id!r}: listed twice")
        seen.add(debtor.id)
        debtors.append(debtor)
    return debtors


def _events(raw: Iterable[object], unique: bool = True) -> Iterator[Event]:
    """Parsed events; ``unique`` refuses an id used twice (it remembers every id, so the
    streaming replay, which must not grow with the file, leaves it off)."""
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        try:
            event = parse_event(item, position)
        except EventError as error:
            raise ReplayError(str(error)) from error
        if unique:
            if event.id in seen:
                raise ReplayError(f"event {event.id!r}, field 'id': used twice")
            seen.add(event.id)
        yield event


def replay_document(
    document: Mapping[str, Any], policies: PolicyResolver = shipped_policy
) -> list[dict[str, Any]]:
    """Replay an in-memory document; events are taken in time order (file order on ties)."""
    if not isinstance(document, Mapping):
        raise ReplayError("the replay input is a JSON object with policy, debtors and events")
    replay = Replay(
        resolve_policy(document.get("policy"), policies), _debtors(document.get("debtors"))
    )
    raw_events = document.get("events")
    if not isinstance(raw_events, list):
        raise ReplayError("field 'events': give a list of events")
    events = sorted(_events(raw_events), key=lambda event: event.at)
    return [result for event in events if (result := replay.take(event)) is not None]


def _header(stream: BinaryIO) -> tuple[object, object]:
    """The policy and debtors of a replay file, passing over its events without keeping them."""
    found: dict[str, object] = {}
    builder: ijson.ObjectBuilder | None = None
    building = ""
    for prefix, event, value in ijson.parse(stream, use_float=True):
        if builder is not None:
            if prefix == building and event in ("end_map", "end_array"):
                builder.event(event, value)
                found[building] = builder.value
                builder = None
            else:
                builder.event(event, value)
        elif prefix in ("policy", "debtors") and event in ("start_map", "start_array"):
            builder, building = ijson.ObjectBuilder(), prefix
            builder.event(event, value)
        elif prefix == "policy" and event in ("string", "number", "null", "boolean"):
            found["policy"] = value
    if "debtors" not in found:
        raise ReplayError("field 'debtors': missing")
    return found.get("policy"), found["debtors"]


def replay_file(path: Path, out: TextIO, policies: PolicyResolver = shipped_policy) -> int:
    """Replay the file at ``path`` in streaming memory, writing the JSON array to ``out``;
    returns the number of contacts judged. Each debtor's events must be in time order."""
    try:
        with path.open("rb") as stream:
            policy_value, raw_debtors = _header(stream)
        replay = Replay(resolve_policy(policy_value, policies), _debtors(raw_debtors))
        judged = 0
        out.write("[")
        with path.open("rb") as stream:
            for event in _events(ijson.items(stream, "events.item", use_float=True), unique=False):
                result = replay.take(event)
                if result is not None:
                    out.write(",\n" if judged else "\n")
                    out.write(json.dumps(result, ensure_ascii=False))
                    judged += 1
        out.write("\n]\n" if judged else "]\n")
        return judged
    except ijson.JSONError as error:
        raise ReplayError(f"the file is not valid JSON: {error}") from error
