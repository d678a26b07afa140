"""What the gate judges by: debtors and the events of their contact history.

One vocabulary for the replay file and the case database, so a contact is judged the same
whether an auditor replays it from a file or a collector clicks *call*: the database side turns
its rows into these events, the replay side parses them from JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CHANNELS = ("call", "sms", "email", "letter", "visit", "app_push")
PARTIES = ("debtor", "attorney", "third_party", "emergency_contact", "employer")
OUTCOMES = (
    "conversation",
    "no_answer",
    "voicemail",
    "busy",
    "not_in_service",
    "message_sent",
    "delivered",
)
DIRECTIONS = ("outbound", "inbound")
INSTRUCTION_TYPES = ("consent", "cease", "opt_out", "represented", "refused", "agreement")
EVENT_TYPES = ("contact", *INSTRUCTION_TYPES)
# People a debtor's contact history is about but who are not the debtor and may be told nothing.
THIRD_PARTIES = frozenset({"third_party", "emergency_contact", "employer"})
# Reg F 1006.14(b)(3)(ii): a call the network never put through (busy, not in service).
NOT_CONNECTED = frozenset({"busy", "not_in_service"})
# Nobody picked up: what the CN cap on unanswered dials counts.
UNANSWERED = frozenset({"no_answer", "busy", "voicemail", "not_in_service"})
LENDER = "lender"


class EventError(ValueError):
    """An event or debtor that cannot be judged; the message names it and the field."""


@dataclass(frozen=True)
class TimeWindow:
    """A daily stretch of local time, ``start`` included and ``end`` not; wraps past midnight
    when ``end`` <= ``start`` (22:00–08:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True)
class Debtor:
    id: str
    locations: tuple[ZoneInfo, ...]
    region: str | None = None
    inconvenient_times: tuple[TimeWindow, ...] = ()

    @property
    def home(self) -> ZoneInfo:
        """The zone whose calendar days the daily caps count in: the first location given."""
        return self.locations[0]


@dataclass(frozen=True)
class Contact:
    """A contact: one already made (history) or the one about to be made (being judged)."""

    id: str
    debtor: str
    at: datetime
    channel: str
    party: str = "debtor"
    direction: str = "outbound"
    agent: str = LENDER
    debts: tuple[str, ...] = ()
    outcome: str | None = None
    text: str = ""
    # Who exactly at that party: a phone number, a contact person; the CN dial cap is per number.
    target: str | None = None
    collectors: int | None = None
    type: str = field(default="contact", init=False)


@dataclass(frozen=True)
class Instruction:
    """Something the debtor (or a third party) told the collector: consent, cease, opt-out, ..."""

    id: str
    type: str
    debtor: str
    at: datetime
    debts: tuple[str, ...] = ()
    channel: str | None = None
    party: str | None = None
    target: str | None = None
    agent: str | None = None
    consent_for: datetime | None = None
    allows: str | None = None


Event = Contact | Instruction


def _where(event_id: str, name: str) -> str:
    return f"event {event_id!r}, field {name!r}"


def parse_time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise EventError(f"{where}: give an ISO 8601 time with its UTC offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise EventError(f"{where}: {value!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise EventError(f"{where}: {value!r} has no UTC offset; give e.g. -06:00 or Z")
    if not 1900 <= moment.year <= 2200:
        raise EventError(f"{where}: {value!r} is not a plausible time of a contact")
    return moment


def parse_clock(value: object, where: str) -> time:
    if not isinstance(value, str):
        raise EventError(f"{where}: give a local time as HH:MM")
    try:
        return time.fromisoformat(value)
    except ValueError as error:
        raise EventError(f"{where}: {value!r} is not a time of day (HH:MM)") from error


def zone(name: object, where: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise EventError(f"{where}: give an IANA time zone such as 'Asia/Shanghai'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise EventError(f"{where}: {name!r} is not an IANA time zone") from error


def _choice(raw: Mapping[str, Any], name: str, allowed: tuple[str, ...], where: str) -> str:
    value = raw.get(name)
    if value not in allowed:
        raise EventError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _optional_choice(
    raw: Mapping[str, Any], name: str, allowed: tuple[str, ...], event_id: str
) -> str | None:
    if raw.get(name) is None:
        return None
    return _choice(raw, name, allowed, _where(event_id, name))


def _text(raw: Mapping[str, Any], name: str, event_id: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise EventError(f"{_where(event_id, name)}: give a string")
    return str(value)


def _debts(raw: Mapping[str, Any], event_id: str) -> tuple[str, ...]:
    debts = raw.get("debts", [])
    if not isinstance(debts, list) or not all(isinstance(d, str | int) for d in debts):
        raise EventError(f"{_where(event_id, 'debts')}: give a list of debt ids")
    return tuple(str(d) for d in debts)


def parse_debtor(raw: object, position: int) -> Debtor:
    if not isinstance(raw, Mapping):
        raise EventError(f"debtor #{position}: give an object")
    debtor_id = raw.get("id")
    if not isinstance(debtor_id, str | int) or isinstance(debtor_id, bool) or debtor_id == "":
        raise EventError(f"debtor #{position}, field 'id': give the debtor's id")
    where = f"debtor {debtor_id!r}"
    locations = raw.get("locations")
    if not isinstance(locations, list) or not locations:
        raise EventError(f"{where}, field 'locations': give one IANA time zone or more")
    zones = tuple(zone(name, f"{where}, field 'locations'") for name in locations)
    windows = raw.get("inconvenient_times", []) or []
    if not isinstance(windows, list):
        raise EventError(f"{where}, field 'inconvenient_times': give a list of {{from, to}}")
    parsed = []
    for window in windows:
        if not isinstance(window, Mapping):
            raise EventError(f"{where}, field 'inconvenient_times': give {{from, to}} objects")
        start = parse_clock(window.get("from"), f"{where}, field 'inconvenient_times.from'")
        end = parse_clock(window.get("to"), f"{where}, field 'inconvenient_times.to'")
        parsed.append(TimeWindow(start, end))
    region = raw.get("region")
    if region is not None and not isinstance(region, str):
        raise EventError(f"{where}, field 'region': give a region code")
    return Debtor(str(debtor_id), zones, region, tuple(parsed))


def parse_event(raw: object, position: int) -> Event:
    """One event of a replay file, checked field by field."""
    if not isinstance(raw, Mapping):
        raise EventError(f"event #{position}: give an object")
    event_id = raw.get("id")
    if not isinstance(event_id, str | int) or isinstance(event_id, bool) or event_id == "":
        raise EventError(f"event #{position}, field 'id': give the event an id")
    event_id = str(event_id)
    kind = _choice(raw, "type", EVENT_TYPES, _where(event_id, "type"))
    debtor = _text(raw, "debtor", event_id)
    if not debtor:
        raise EventError(f"{_where(event_id, 'debtor')}: name the debtor")
    at = parse_time(raw.get("at"), _where(event_id, "at"))
    if kind == "contact":
        collectors = raw.get("collectors")
        if collectors is not None and (
            not isinstance(collectors, int) or isinstance(collectors, bool) or collectors < 0
        ):
            raise EventError(f"{_where(event_id, 'collectors')}: give a whole number")
        text = raw.get("text", "") or ""
        if not isinstance(text, str):
            raise EventError(f"{_where(event_id, 'text')}: give the text as a string")
        return Contact(
            id=event_id,
            debtor=debtor,
            at=at,
            channel=_choice(raw, "channel", CHANNELS, _where(event_id, "channel")),
            party=_optional_choice(raw, "party", PARTIES, event_id) or "debtor",
            direction=_optional_choice(raw, "direction", DIRECTIONS, event_id) or "outbound",
            agent=_text(raw, "agent", event_id) or LENDER,
            debts=_debts(raw, event_id),
            outcome=_optional_choice(raw, "outcome", OUTCOMES, event_id),
            text=text,
            target=_text(raw, "to", event_id) or _text(raw, "contact", event_id),
            collectors=collectors,
        )
    consent_for = None
    if kind == "consent" and raw.get("for") is not None:
        consent_for = parse_time(raw.get("for"), _where(event_id, "for"))
    allows = _text(raw, "allows", event_id)
    if kind == "agreement" and allows is None:
        raise EventError(f"{_where(event_id, 'allows')}: say what the debtor agreed to")
    if kind == "opt_out" and raw.get("channel") is None:
        raise EventError(f"{_where(event_id, 'channel')}: name the channel opted out of")
    if kind == "refused" and raw.get("party") is None:
        raise EventError(f"{_where(event_id, 'party')}: name who refused further contact")
    return Instruction(
        id=event_id,
        type=kind,
        debtor=debtor,
        at=at,
        debts=_debts(raw, event_id),
        channel=_optional_choice(raw, "channel", CHANNELS, event_id),
        party=_optional_choice(raw, "party", PARTIES, event_id),
        target=_text(raw, "to", event_id) or _text(raw, "contact", event_id),
        agent=_text(raw, "agent", event_id),
        consent_for=consent_for,
        allows=allows,
    )
