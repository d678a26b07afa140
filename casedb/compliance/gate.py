"""The contact gate: may this contact happen now, under this policy, after this history?

``DebtorHistory`` holds what the rules need of one debtor's past — the recent contacts, and the
standing instructions (cease, opt-outs, refusals, consent, representation) — and nothing older
than the longest window a rule looks back over, so judging costs the same after ten contacts or
ten thousand. The replay feeds it events one by one; the case database builds it from indexed
queries over the same windows. ``judge`` is pure: the same history, contact and policy always
give the same verdict, with every reason and, when blocked only for a while, the earliest time
the contact would be allowed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from casedb.compliance.events import (
    LENDER,
    NOT_CONNECTED,
    THIRD_PARTIES,
    UNANSWERED,
    Contact,
    Debtor,
    Event,
    Instruction,
    TimeWindow,
)
from casedb.compliance.policy import Policy, Rule

ALLOWED, REVIEW, BLOCKED = "allowed", "review", "blocked"
_RANK = {ALLOWED: 0, REVIEW: 1, BLOCKED: 2}
# Debtor-side people a Reg F call count never includes (1006.6(d)(1)(ii)-(vi)): the consumer's
# attorney and the like; a conversation with them is not one with the consumer either.
EXCLUDED_PARTIES = frozenset({"attorney"})
# A debtor who writes in at an hour the rules close may be answered once at that hour: within
# this time of their message (comment 6(b)(1)-2).
REPLY_AT_THE_HOUR = timedelta(hours=1)
# Calls nobody answered: what a quick redial repeats (busy and dead numbers never connected).
RANG_UNANSWERED = frozenset({"no_answer", "voicemail"})
# The longest look-back of any count: the CN "debtor unreachable" window, with a margin.
DEFAULT_MEMORY = timedelta(days=32)


@dataclass(frozen=True)
class Reason:
    rule: str
    message: str
    message_zh: str
    sources: tuple[str, ...]
    verdict: str
    # When the rule stops objecting if nothing else happens meanwhile; None: not by waiting.
    until: datetime | None = None

    @property
    def source(self) -> str:
        return ", ".join(self.sources)

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.rule,
            "verdict": self.verdict,
            "message": self.message,
            "message_zh": self.message_zh,
            "source": self.source,
        }


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reasons: tuple[Reason, ...]
    # For a blocked contact that only has to wait: the earliest time it would be allowed.
    earliest: datetime | None = None
    policy: str = ""
    policy_version: int = 0

    @property
    def allowed(self) -> bool:
        return self.verdict != BLOCKED

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "rules": [reason.as_dict() for reason in self.reasons],
            "earliest_allowed_at": self.earliest.isoformat() if self.earliest else None,
            "policy": self.policy,
            "policy_version": self.policy_version,
        }


@dataclass
class DebtorHistory:
    """What the gate remembers of one debtor: recent contacts and standing instructions."""

    debtor: Debtor
    memory: timedelta = DEFAULT_MEMORY
    contacts: deque[Contact] = field(default_factory=deque)
    # The outbound calls among them, which most counts read.
    calls: deque[Contact] = field(default_factory=deque)
    # Local calendar day of moments seen lately, in the debtor's home zone.
    days: dict[datetime, date] = field(default_factory=dict)
    # Standing instructions: kept whatever their age, as they hold until revoked.
    ceased: list[Instruction] = field(default_factory=list)
    # (channel, target) → when; target None: the whole channel (one number or address otherwise).
    opt_outs: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    represented_at: datetime | None = None
    refusals: list[Instruction] = field(default_factory=list)
    consents: deque[Instruction] = field(default_factory=deque)
    agreements: set[str] = field(default_factory=set)
    # The debtor wrote or called in on a channel: one reply on it is owed (Reg F 1006.14(h)(2)(ii),
    # comments 6(b)(1)-2 and 6(b)(2)-1), whatever the opt-outs, representation or the hour.
    replies_owed: dict[str, datetime] = field(default_factory=dict)
    # All-time communications with each third party (attempts nobody answered are not), which
    # the "only once" rule counts.
    third_party_contacts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    last_debtor_conversation: datetime | None = None

    def record(self, event: Event) -> None:
        """Take one event, which must not be earlier than the latest one taken."""
        if isinstance(event, Contact):
            self._record_contact(event)
        else:
            self._record_instruction(event)

    def _record_contact(self, contact: Contact) -> None:
        self.contacts.append(contact)
        if contact.channel == "call" and contact.direction == "outbound":
            self.calls.append(contact)
        cutoff = contact.at - self.memory
        while self.contacts and self.contacts[0].at < cutoff:
            self.contacts.popleft()
        while self.calls and self.calls[0].at < cutoff:
            self.calls.popleft()
        while self.consents and self.consents[0].at < cutoff:
            self.consents.popleft()
        if contact.direction == "inbound":
            if contact.party == "debtor":
                self.replies_owed[contact.channel] = contact.at
            if contact.party == "debtor" and contact.outcome == "conversation":
                self.last_debtor_conversation = contact.at
            return
        if contact.channel in self.replies_owed:
            self.replies_owed.pop(contact.channel)
        if contact.party in THIRD_PARTIES and contact.outcome not in UNANSWERED:
            key = (contact.party, contact.target)
            self.third_party_contacts[key] = self.third_party_contacts.get(key, 0) + 1
        if contact.party == "debtor" and contact.outcome == "conversation":
            self.last_debtor_conversation = contact.at

    def _record_instruction(self, instruction: Instruction) -> None:
        kind = instruction.type
        if kind == "cease":
            self.ceased.append(instruction)
        elif kind == "opt_out" and instruction.channel:
            self.opt_outs[(instruction.channel, instruction.target)] = instruction.at
            self.replies_owed.pop(instruction.channel, None)
        elif kind == "represented":
            self.represented_at = instruction.at
        elif kind == "refused":
            self.refusals.append(instruction)
        elif kind == "consent":
            self.consents.append(instruction)
        elif kind == "agreement" and instruction.allows:
            self.agreements.add(instruction.allows)


# --- helpers over time --------------------------------------------------------------------


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def _day_start(day: date, zone: ZoneInfo, at: time = time(0)) -> datetime:
    return datetime.combine(day, at, zone).astimezone(UTC)


def _next_window_exit(moment: datetime, zone: ZoneInfo, window: TimeWindow) -> datetime:
    """The first instant at or after ``moment`` at which local time in ``zone`` is outside
    ``window``."""
    here = local(moment, zone)
    if not window.contains(here.time()):
        return moment
    day = here.date()
    if window.start >= window.end and here.time() >= window.start:
        day += timedelta(days=1)
    return _day_start(day, zone, window.end)


def _outside_all(moment: datetime, zones: Iterable[ZoneInfo], windows: list[TimeWindow]) -> bool:
    for zone in zones:
        clock = local(moment, zone).time()
        if any(window.contains(clock) for window in windows):
            return False
    return True


def earliest_outside(
    moment: datetime, zones: tuple[ZoneInfo, ...], windows: list[TimeWindow]
) -> datetime | None:
    """The first instant from ``moment`` that is outside every window in every zone, or None
    when there is none within two days (zones too far apart to share a convenient hour)."""
    candidate = moment
    horizon = moment + timedelta(days=2)
    while candidate <= horizon:
        if _outside_all(candidate, zones, windows):
            return candidate
        later = [
            _next_window_exit(candidate, zone, window)
            for zone in zones
            for window in windows
            if window.contains(local(candidate, zone).time())
        ]
        step = max(later)
        candidate = step if step > candidate else candidate + timedelta(minutes=1)
    return None


# --- the rules ----------------------------------------------------------------------------


@dataclass
class _Judgement:
    contact: Contact
    history: DebtorHistory
    policy: Policy
    reasons: list[Reason] = field(default_factory=list)

    @property
    def debtor(self) -> Debtor:
        return self.history.debtor

    def day(self, moment: datetime) -> date:
        days = self.history.days
        day = days.get(moment)
        if day is None:
            if len(days) > 2 * len(self.history.contacts) + 32:
                days.clear()  # bounded by the window, so memory does not grow with the history
            day = days[moment] = moment.astimezone(self.debtor.home).date()
        return day

    def flag(
        self, rule: Rule, message: str, message_zh: str, until: datetime | None = None
    ) -> None:
        self.reasons.append(Reason(rule.id, message, message_zh, rule.sources, rule.verdict, until))

    def prior_outbound_calls(self) -> Iterable[Contact]:
        return self.history.calls

    def calls_today(self) -> list[Contact]:
        """The outbound calls earlier on the contact's local day (newest first)."""
        start = _day_start(self.day(self.contact.at), self.debtor.home)
        today = []
        for call in reversed(self.history.calls):
            if call.at < start:
                break
            today.append(call)
        return today

    def same_collector(self, contact: Contact) -> bool:
        """Under per-debt counting, each debt collector counts its own calls (an agency is a
        different debt collector from the lender); under CN they count together."""
        return self.policy.counting == "debtor" or contact.agent == self.contact.agent

    def debts_shared(self, contact: Contact, debt: str) -> bool:
        return not contact.debts or not self.contact.debts or debt in contact.debts

    def same_person(self, contact: Contact) -> bool:
        """Reg F counts calls "to a particular person": the debtor, or one third party."""
        if self.contact.party == "debtor":
            return contact.party == "debtor"
        return contact.party == self.contact.party and contact.target == self.contact.target

    def reply_owed(self, within: timedelta | None = None) -> bool:
        """The debtor wrote or called in on this channel and has not had their one reply."""
        since = self.history.replies_owed.get(self.contact.channel)
        if since is None or self.contact.party != "debtor":
            return False
        return within is None or self.contact.at - since <= within

    def consented(self, call: Contact, debt: str | None, window: timedelta) -> bool:
        """Reg F 1006.14(b)(3)(i): a call placed within seven days of consent given directly to
        this debt collector; the consent ends early with the telephone conversation it was
        for (comment 14(b)(3)(i)-2)."""
        for consent in self.history.consents:
            if consent.channel not in (None, "call"):
                continue
            if debt is not None and consent.debts and debt not in consent.debts:
                continue
            if consent.agent not in (None, call.agent):
                continue
            first_day = self.day(consent.at)
            if not (consent.at <= call.at and self.day(call.at) < first_day + window):
                continue
            ended = any(
                consent.at < c.at < call.at
                and c.channel == "call"
                and c.outcome == "conversation"
                and c.agent == call.agent
                and c.party == call.party
                for c in self.history.contacts
            )
            if not ended:
                return True
        return False


def _time_of_day(j: _Judgement, rule: Rule, windows: list[TimeWindow], what: str) -> None:
    contact = j.contact
    if contact.channel not in rule.params.get("channels", ()) or contact.direction != "outbound":
        return
    if "late_hours" in j.history.agreements or j.reply_owed(REPLY_AT_THE_HOUR):
        return
    if any(
        c.consent_for is not None
        and c.agent in (None, contact.agent)
        and c.consent_for <= contact.at < c.consent_for + timedelta(hours=1)
        for c in j.history.consents
    ):
        return
    if _outside_all(contact.at, j.debtor.locations, windows):
        return
    zones = j.debtor.locations
    clocks = ", ".join(f"{local(contact.at, z):%H:%M} {z.key}" for z in zones)
    until = earliest_outside(contact.at, zones, windows)
    spans = ", ".join(str(w) for w in windows)
    several = " in every place the debtor may be" if len(zones) > 1 else ""
    j.flag(
        rule,
        f"{what} ({spans} local time{several}); it is {clocks}",
        f"{'债务人表示不便联系的时段' if what.startswith('the debtor') else '禁止催收时段'}"
        f"（当地时间 {spans}）；现在是 {clocks}",
        until,
    )


def _quiet_hours(j: _Judgement, rule: Rule) -> None:
    _time_of_day(j, rule, [rule.window()], "no collection contact in the quiet hours")


def _inconvenient_time(j: _Judgement, rule: Rule) -> None:
    _time_of_day(j, rule, [rule.window()], "an inconvenient time at the consumer's location")


def _debtor_inconvenient_time(j: _Judgement, rule: Rule) -> None:
    if j.debtor.inconvenient_times:
        _time_of_day(
            j, rule, list(j.debtor.inconvenient_times), "the debtor said this time is inconvenient"
        )


def _next_day(j: _Judgement, day: date) -> datetime:
    return _day_start(day + timedelta(days=1), j.debtor.home)


def _daily_connected_calls(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.channel != "call" or contact.party != "debtor" or contact.direction != "outbound":
        return
    today = j.day(contact.at)
    connected = [c for c in j.calls_today() if c.party == "debtor" and c.outcome == "conversation"]
    limit = rule.params["max"]
    if len(connected) >= limit:
        agents = sorted({c.agent for c in connected})
        j.flag(
            rule,
            f"already {len(connected)} connected calls with the debtor today (at most {limit}, "
            f"lender and agencies together: {', '.join(agents)})",
            f"今日已与债务人接通 {len(connected)} 次（每日最多 {limit} 次，机构与委外合计）",
            _next_day(j, today),
        )


def _daily_unanswered_dials(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.channel != "call" or contact.direction != "outbound":
        return
    today = j.day(contact.at)
    unanswered = [
        c
        for c in j.calls_today()
        if c.outcome in UNANSWERED and c.party == contact.party and c.target == contact.target
    ]
    limit = rule.params["max"]
    if len(unanswered) >= limit:
        j.flag(
            rule,
            f"already {len(unanswered)} unanswered dials to this number today (at most {limit})",
            f"今日已向该号码拨打 {len(unanswered)} 次未接通（每日最多 {limit} 次）",
            _next_day(j, today),
        )


def _rapid_redial(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.channel != "call" or contact.direction != "outbound":
        return
    since = contact.at - timedelta(minutes=rule.params["minutes"])
    for c in j.prior_outbound_calls():
        if (
            c.outcome in RANG_UNANSWERED
            and c.party == contact.party
            and c.target == contact.target
            and since < c.at <= contact.at
        ):
            j.flag(
                rule,
                f"an unanswered call to the same number {local(c.at, j.debtor.home):%H:%M}, "
                f"less than {rule.params['minutes']} minutes ago",
                f"{rule.params['minutes']} 分钟内已有一次未接通的呼叫"
                f"（{local(c.at, j.debtor.home):%H:%M}）",
                c.at + timedelta(minutes=rule.params["minutes"]),
            )
            return


def _debts_of(j: _Judgement) -> list[str | None]:
    return list(j.contact.debts) or [None]


def _counted_calls(j: _Judgement, debt: str | None) -> list[Contact]:
    """Calls placed to the debtor about ``debt`` that count toward Reg F's frequencies."""
    window = timedelta(days=j.policy.rules.get("consent_window", _DEFAULT_CONSENT).params["days"])
    return [
        c
        for c in j.prior_outbound_calls()
        if j.same_person(c)
        and j.same_collector(c)
        and (debt is None or j.debts_shared(c, debt))
        and c.outcome not in NOT_CONNECTED
        and not j.consented(c, debt, window)
    ]


_DEFAULT_CONSENT = Rule("consent_window", {"days": 7}, ("us.regf.1006.14.b.3",))


def _call_excluded(j: _Judgement, debt: str | None) -> bool:
    contact = j.contact
    if contact.channel != "call" or contact.direction != "outbound":
        return True
    if contact.party in EXCLUDED_PARTIES:
        return True
    window = timedelta(days=j.policy.rules.get("consent_window", _DEFAULT_CONSENT).params["days"])
    return j.consented(contact, debt, window)


def _call_frequency(j: _Judgement, rule: Rule) -> None:
    days, limit = rule.params["days"], rule.params["max"]
    today = j.day(j.contact.at)
    first = today - timedelta(days=days - 1)
    for debt in _debts_of(j):
        if _call_excluded(j, debt):
            continue
        dates = sorted(j.day(c.at) for c in _counted_calls(j, debt) if first <= j.day(c.at))
        if len(dates) < limit:
            continue
        # Waiting until the oldest calls leave the window: day of the (n-limit+1)th call + days.
        free_day = dates[len(dates) - limit] + timedelta(days=days)
        about = f" about debt {debt}" if debt else ""
        j.flag(
            rule,
            f"already {len(dates)} calls{about} in the {days} days from {first:%Y-%m-%d} "
            f"(more than {limit} in {days} consecutive days is presumed harassment)",
            f"{first:%Y-%m-%d} 起 {days} 天内已就该笔债务呼叫 {len(dates)} 次"
            f"（连续 {days} 天不得超过 {limit} 次）",
            _day_start(free_day, j.debtor.home),
        )


def _call_after_conversation(j: _Judgement, rule: Rule) -> None:
    days = rule.params["days"]
    today = j.day(j.contact.at)
    for debt in _debts_of(j):
        if _call_excluded(j, debt):
            continue
        conversations = [
            c
            for c in j.history.contacts
            if c.channel == "call"
            and j.same_person(c)
            and c.outcome == "conversation"
            and j.same_collector(c)
            and (debt is None or j.debts_shared(c, debt))
            and today < j.day(c.at) + timedelta(days=days)
        ]
        if not conversations:
            continue
        last = max(j.day(c.at) for c in conversations)
        about = f" about debt {debt}" if debt else ""
        j.flag(
            rule,
            f"a telephone conversation{about} on {last:%Y-%m-%d}: no call for {days} days "
            "counting that day",
            f"已于 {last:%Y-%m-%d} 就该笔债务通话：含当日 {days} 天内不得再次致电",
            _day_start(last + timedelta(days=days), j.debtor.home),
        )


def _cease(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.direction != "outbound" or contact.party in EXCLUDED_PARTIES:
        return
    for cease in j.history.ceased:
        if cease.debts and contact.debts and not set(cease.debts) & set(contact.debts):
            continue
        j.flag(
            rule,
            f"the consumer asked in writing on {local(cease.at, j.debtor.home):%Y-%m-%d} that "
            "communication cease",
            f"债务人已于 {local(cease.at, j.debtor.home):%Y-%m-%d} 书面要求停止联系",
        )
        return


def _opt_out(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    opted = j.history.opt_outs.get((contact.channel, None)) or j.history.opt_outs.get(
        (contact.channel, contact.target)
    )
    if contact.direction != "outbound" or opted is None or j.reply_owed():
        return
    since = local(opted, j.debtor.home)
    j.flag(
        rule,
        f"the debtor opted out of {contact.channel} on {since:%Y-%m-%d}",
        f"债务人已于 {since:%Y-%m-%d} 拒绝通过 {contact.channel} 联系",
    )


def _represented(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.direction != "outbound" or contact.party != "debtor" or j.reply_owed():
        return
    if j.history.represented_at is not None:
        j.flag(
            rule,
            "the consumer is represented by an attorney: communicate with the attorney",
            "债务人已委托律师：请与其律师联系",
        )


def _third_party_refused(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.party not in THIRD_PARTIES or contact.direction != "outbound":
        return
    for refusal in j.history.refusals:
        if refusal.party == contact.party and refusal.target in (None, contact.target):
            j.flag(
                rule,
                f"this {contact.party.replace('_', ' ')} asked not to be contacted again",
                "该联系人已明确拒绝再被联系",
            )
            return


def _third_party_repeat(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.party not in THIRD_PARTIES or contact.direction != "outbound":
        return
    count = j.history.third_party_contacts.get((contact.party, contact.target), 0)
    if count >= rule.params["max"]:
        j.flag(
            rule,
            f"already contacted this {contact.party.replace('_', ' ')} {count} time(s): only "
            "again if they asked or the earlier answer was wrong or incomplete",
            f"已联系该第三方 {count} 次：除非其要求，不得再次联系",
        )


def _third_party_debtor_reachable(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.party not in THIRD_PARTIES or contact.direction != "outbound":
        return
    since = contact.at - timedelta(days=rule.params["days"])
    reached = j.history.last_debtor_conversation
    if reached is not None and reached >= since:
        j.flag(
            rule,
            f"the debtor was reached on {local(reached, j.debtor.home):%Y-%m-%d}: contact "
            "persons only when the debtor cannot be reached",
            f"债务人已于 {local(reached, j.debtor.home):%Y-%m-%d} 联系上：仅在无法联系债务人时"
            "方可联系紧急联系人",
        )
        return
    failed = sum(
        1
        for c in j.prior_outbound_calls()
        if c.party == "debtor" and c.outcome in UNANSWERED and c.at >= since
    )
    needed = rule.params["min_failed_attempts"]
    if failed < needed:
        j.flag(
            rule,
            f"only {failed} failed attempts to reach the debtor in {rule.params['days']} days "
            f"(try the debtor at least {needed} times first)",
            f"{rule.params['days']} 天内仅 {failed} 次未能联系上债务人（须先尝试至少 {needed} 次）",
        )


def _field_visit_collectors(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.channel != "visit":
        return
    low, high = rule.params["min"], rule.params["max"]
    count = contact.collectors
    if count is None or not low <= count <= high:
        j.flag(
            rule,
            f"a field visit needs {low} to {high} collectors, not {count or 'an unknown number'}",
            f"上门催收须 {low} 至 {high} 人，当前 {count if count is not None else '未填写'}",
        )


def _field_visit_daily(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if contact.channel != "visit":
        return
    today = j.day(contact.at)
    visits = [c for c in j.history.contacts if c.channel == "visit" and j.day(c.at) == today]
    if len(visits) >= rule.params["max"]:
        j.flag(
            rule,
            f"already {len(visits)} field visit(s) today (at most {rule.params['max']})",
            f"今日已上门 {len(visits)} 次（每日最多 {rule.params['max']} 次）",
            _next_day(j, today),
        )


def _script(j: _Judgement, rule: Rule) -> None:
    contact = j.contact
    if not contact.text.strip() or contact.direction != "outbound":
        return
    from casedb.compliance.script_audit import audit_script  # noqa: PLC0415  (heavy: opencc)

    audit = audit_script(
        contact.text,
        lawful_actions=rule.params["lawful_actions"],
        to_third_party=contact.party in THIRD_PARTIES,
    )
    if audit.verdict == "pass":
        return
    verdict = BLOCKED if audit.verdict == "block" else REVIEW
    found = "; ".join(f"{f.category}: “{f.text}”" for f in audit.findings)
    sources = tuple(dict.fromkeys((*rule.sources, *(f.source for f in audit.findings))))
    j.reasons.append(
        Reason(
            rule.id,
            f"the text fails the script audit ({found})",
            f"话术审核未通过（{found}）",
            sources,
            verdict,
        )
    )


RULES = {
    "quiet_hours": _quiet_hours,
    "inconvenient_time": _inconvenient_time,
    "debtor_inconvenient_time": _debtor_inconvenient_time,
    "daily_connected_calls": _daily_connected_calls,
    "daily_unanswered_dials": _daily_unanswered_dials,
    "rapid_redial": _rapid_redial,
    "call_frequency_7in7": _call_frequency,
    "call_after_conversation": _call_after_conversation,
    "cease": _cease,
    "opt_out": _opt_out,
    "represented": _represented,
    "third_party_refused": _third_party_refused,
    "third_party_repeat": _third_party_repeat,
    "third_party_debtor_reachable": _third_party_debtor_reachable,
    "field_visit_collectors": _field_visit_collectors,
    "field_visit_daily": _field_visit_daily,
    "script": _script,
}


def _evaluate(contact: Contact, history: DebtorHistory, policy: Policy) -> list[Reason]:
    judgement = _Judgement(contact, history, policy)
    for rule_id, rule in policy.rules_for(history.debtor.region).items():
        check = RULES.get(rule_id)
        if check is not None:
            check(judgement, rule)
    return judgement.reasons


def judge(contact: Contact, history: DebtorHistory, policy: Policy) -> Verdict:
    """The gate's answer for ``contact`` given everything in ``history`` (all before it)."""
    reasons = _evaluate(contact, history, policy)
    verdict = max((r.verdict for r in reasons), key=_RANK.__getitem__, default=ALLOWED)
    earliest = None
    blocking = [r for r in reasons if r.verdict == BLOCKED]
    if blocking and all(r.until is not None for r in blocking):
        earliest = _earliest_allowed(contact, history, policy, blocking)
        if earliest is not None:
            earliest = earliest.astimezone(history.debtor.home)
    return Verdict(verdict, tuple(reasons), earliest, policy.name, policy.version)


def _earliest_allowed(
    contact: Contact, history: DebtorHistory, policy: Policy, blocking: list[Reason]
) -> datetime | None:
    """Wait for the latest of the blocking rules, then ask again: the new moment may fall in
    quiet hours or on a new day's cap."""
    candidate = max(r.until for r in blocking if r.until is not None)
    for _ in range(8):
        moved = Contact(**{**_fields(contact), "at": candidate})
        again = [r for r in _evaluate(moved, history, policy) if r.verdict == BLOCKED]
        if not again:
            return candidate
        if any(r.until is None for r in again):
            return None
        candidate = max(r.until for r in again if r.until is not None)
    return None


def _fields(contact: Contact) -> Mapping[str, object]:
    return {name: getattr(contact, name) for name in contact.__dataclass_fields__ if name != "type"}


__all__ = [
    "ALLOWED",
    "BLOCKED",
    "LENDER",
    "REVIEW",
    "DebtorHistory",
    "Reason",
    "Verdict",
    "judge",
]
