"""Reading the console's plain HTML forms into domain arguments, with errors in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

import config
from casedb.contact_log import PromiseTerms
from casedb.models import Channel, Outcome, Party


@dataclass(frozen=True)
class ContactForm:
    channel: Channel
    party: Party
    outcome: Outcome
    started_at: datetime
    duration_seconds: int
    notes: str
    promise: PromiseTerms | None
    contact_point_id: int | None = None

    @classmethod
    def from_request(cls, form: MultiDict, timezone: str | None) -> ContactForm:
        """Raises ``ValueError`` naming the field that is wrong."""
        try:
            channel = Channel(form.get("channel", ""))
            party = Party(form.get("party", "debtor"))
            outcome = Outcome(form.get("outcome", ""))
        except ValueError as exc:
            raise ValueError(f"choose a valid channel, party and outcome ({exc})") from None
        zone = ZoneInfo(timezone or config.DEFAULT_TIMEZONE)
        try:
            started_at = datetime.fromisoformat(form.get("started_at", "")).replace(tzinfo=zone)
        except ValueError:
            raise ValueError("time of contact: use the debtor's local date and time") from None
        try:
            duration = int(form.get("duration_seconds") or 0)
        except ValueError:
            raise ValueError("duration: a whole number of seconds") from None
        promise = None
        if form.get("promise_amount") or form.get("promise_date"):
            try:
                amount = Decimal(form.get("promise_amount", ""))
                promised_for = datetime.fromisoformat(form.get("promise_date", "")).date()
            except (InvalidOperation, ValueError):
                raise ValueError("promise: give an amount and a date") from None
            promise = PromiseTerms(amount, promised_for)
        notes = form.get("notes", "").strip()
        if len(notes) > 4000:
            raise ValueError("notes: at most 4,000 characters")
        try:
            point = int(form["contact_point_id"]) if form.get("contact_point_id") else None
        except ValueError:
            raise ValueError("number called: choose one of the customer's numbers") from None
        return cls(channel, party, outcome, started_at, duration, notes, promise, point)

    def as_arguments(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "party": self.party,
            "outcome": self.outcome,
            "started_at": self.started_at,
            "duration_seconds": self.duration_seconds,
            "notes": self.notes,
            "promise": self.promise,
            "contact_point_id": self.contact_point_id,
        }
