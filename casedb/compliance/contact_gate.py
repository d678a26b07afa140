"""The contact gate over the case database: ask before every outbound contact, log the answer.

A collector's click to call, an automated treatment step and an agency's API call all come
here. The debtor's history is read from indexed windows — contacts of the last
``DEFAULT_MEMORY`` days by ``(customer_id, started_at)``, standing instructions by customer,
earlier contacts with one contact person by that person — so the answer costs the same however
long the debtor's history is. Every answer is appended to ``compliance_check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import config
from casedb.compliance.events import LENDER, Contact, Debtor, Instruction, zone
from casedb.compliance.gate import (
    BLOCKED,
    DEFAULT_MEMORY,
    DebtorHistory,
    Reason,
    Verdict,
    judge,
)
from casedb.compliance.policy import Policy, parse_policy, shipped_policy
from casedb.dialing import callable_reason
from casedb.models import (
    CollectionCase,
    Collector,
    ComplianceCheck,
    CompliancePolicyVersion,
    ContactAttempt,
    ContactPoint,
    Customer,
    DebtorInstruction,
    OutboundMessage,
    Outcome,
    Team,
    ThirdPartyContact,
    VersionStatus,
)
from casedb.models.cases import RIGHT_PARTY_OUTCOMES
from casedb.outbound import Hold, basic_gate

# The most contacts of one debtor read back for one answer: far above what any cap allows in
# the look-back window, and the bound that keeps a runaway history from slowing the gate.
MAX_RECENT_CONTACTS = 2000
ORIGINS = ("click", "automated", "api", "note")
UNANSWERED_OUTCOMES = (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL, Outcome.NOT_IN_SERVICE)
REPLAY_OUTCOMES = {
    **dict.fromkeys(RIGHT_PARTY_OUTCOMES, "conversation"),
    Outcome.THIRD_PARTY_REACHED: "conversation",
    Outcome.THIRD_PARTY_REFUSED: "conversation",
    Outcome.NO_ANSWER: "no_answer",
    Outcome.BUSY: "busy",
    Outcome.VOICEMAIL: "voicemail",
    Outcome.NOT_IN_SERVICE: "not_in_service",
    Outcome.WRONG_NUMBER: "delivered",
    Outcome.DELIVERED: "delivered",
}


class ContactBlocked(PermissionError):  # noqa: N818  (reads as the domain says it)
    """The gate said no; ``verdict`` holds every reason and the earliest time allowed."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        reasons = "; ".join(r.message for r in verdict.reasons if r.verdict == BLOCKED)
        when = f" (allowed from {verdict.earliest:%Y-%m-%d %H:%M %Z})" if verdict.earliest else ""
        super().__init__(f"blocked by the compliance gate: {reasons}{when}")


@dataclass(frozen=True)
class ContactRequest:
    """The contact about to be made."""

    channel: str
    party: str = "debtor"
    contact_point_id: int | None = None
    third_party_contact_id: int | None = None
    text: str = ""
    collectors: int | None = None
    at: datetime | None = None


def active_policy(session: Session, name: str | None = None) -> Policy:
    """The published version of the policy in force (``config.COMPLIANCE_POLICY``), or the
    shipped preset while none has been published."""
    name = name or config.COMPLIANCE_POLICY
    document = session.scalar(
        select(CompliancePolicyVersion.document).where(
            CompliancePolicyVersion.name == name,
            CompliancePolicyVersion.status == VersionStatus.PUBLISHED,
        )
    )
    return parse_policy(document) if document is not None else shipped_policy(name)


def agent_of(session: Session, collector_id: int | None) -> str:
    """The debt collector a contact is made for: the collector's agency, or the lender."""
    if collector_id is None:
        return LENDER
    agency = session.scalar(
        select(Team.agency)
        .join(Collector, Collector.team_id == Team.id)
        .where(Collector.id == collector_id)
    )
    return agency or LENDER


def debtor_of(customer: Customer, point: ContactPoint | None = None) -> Debtor:
    """The debtor as the gate sees them: every zone they may be in (the customer's and, when
    the contact point has its own, that one too), and their region."""
    names = [customer.timezone or config.DEFAULT_TIMEZONE]
    if point is not None and point.timezone and point.timezone not in names:
        names.append(point.timezone)
    zones = tuple(zone(name, f"customer {customer.customer_no}, timezone") for name in names)
    region = (point.region if point is not None and point.region else None) or customer.region
    return Debtor(customer.customer_no, zones, region)


def target_of(point_id: int | None, third_party_id: int | None) -> str | None:
    if third_party_id is not None:
        return f"tp:{third_party_id}"
    return f"cp:{point_id}" if point_id is not None else None


def history_of(
    session: Session,
    customer: Customer,
    debtor: Debtor,
    at: datetime,
    target: str | None = None,
    party: str = "debtor",
) -> DebtorHistory:
    """The debtor's history up to ``at``, read through indexes over the gate's windows."""
    history = DebtorHistory(debtor)
    events: list[Contact | Instruction] = []
    instructions = session.execute(
        select(DebtorInstruction, CollectionCase.case_no)
        .outerjoin(CollectionCase, CollectionCase.id == DebtorInstruction.case_id)
        .where(
            DebtorInstruction.customer_id == customer.id,
            DebtorInstruction.revoked_at.is_(None),
            DebtorInstruction.given_at <= at,
        )
    )
    for row, case_no in instructions:
        events.append(
            Instruction(
                id=f"i{row.id}",
                type=row.kind,
                debtor=debtor.id,
                at=row.given_at,
                debts=(case_no,) if case_no else (),
                channel=row.channel,
                party=row.party,
                target=target_of(row.contact_point_id, row.third_party_contact_id),
                consent_for=row.consent_for,
                allows=row.allows,
            )
        )
    for third_party_id, refused_at in session.execute(
        select(ThirdPartyContact.id, ThirdPartyContact.refused_at).where(
            ThirdPartyContact.customer_id == customer.id, ThirdPartyContact.refused_contact
        )
    ):
        for party in ("third_party", "emergency_contact"):
            events.append(
                Instruction(
                    id=f"r{third_party_id}{party}",
                    type="refused",
                    debtor=debtor.id,
                    at=refused_at or datetime.min.replace(tzinfo=UTC),
                    party=party,
                    target=f"tp:{third_party_id}",
                )
            )
    recent = session.execute(
        select(
            ContactAttempt.id,
            ContactAttempt.started_at,
            ContactAttempt.channel,
            ContactAttempt.party,
            ContactAttempt.direction,
            ContactAttempt.outcome,
            ContactAttempt.contact_point_id,
            ContactAttempt.third_party_contact_id,
            ContactAttempt.collector_id,
            CollectionCase.case_no,
            Team.agency,
        )
        .join(CollectionCase, CollectionCase.id == ContactAttempt.case_id)
        .outerjoin(Collector, Collector.id == ContactAttempt.collector_id)
        .outerjoin(Team, Team.id == Collector.team_id)
        .where(
            ContactAttempt.customer_id == customer.id,
            ContactAttempt.started_at > at - DEFAULT_MEMORY,
            ContactAttempt.started_at <= at,
        )
        .order_by(ContactAttempt.started_at.desc())
        .limit(MAX_RECENT_CONTACTS)
    ).all()
    for row in reversed(recent):
        events.append(
            Contact(
                id=f"c{row.id}",
                debtor=debtor.id,
                at=row.started_at,
                channel=row.channel.value,
                party=row.party.value,
                direction=row.direction.value,
                agent=row.agency or LENDER,
                debts=(row.case_no,),
                outcome=REPLAY_OUTCOMES.get(row.outcome, "delivered"),
                target=target_of(row.contact_point_id, row.third_party_contact_id),
            )
        )
    events.sort(key=lambda event: event.at)
    for event in events:
        history.record(event)
    if target is not None and target.startswith("tp:"):
        # Communications with this person before the window count toward "only once" too.
        earlier = session.scalar(
            select(func.count())
            .select_from(ContactAttempt)
            .where(
                ContactAttempt.third_party_contact_id == int(target[3:]),
                ContactAttempt.direction == "outbound",
                ContactAttempt.outcome.not_in(UNANSWERED_OUTCOMES),
                ContactAttempt.started_at <= at - DEFAULT_MEMORY,
            )
        )
        if earlier:
            key = (party, target)
            history.third_party_contacts[key] = history.third_party_contacts.get(key, 0) + earlier
    return history


def _point_reason(policy: Policy, point: ContactPoint) -> Reason | None:
    """A number the debtor closed (cease, opt-out, withdrawn consent, invalid) is closed to
    every channel that uses it, under any policy."""
    reason = callable_reason(point) if point.kind.value != "email" else None
    if point.kind.value == "email" and (point.ceased or point.opted_out):
        reason = "the debtor opted out of contact at this address"
    if reason is None:
        return None
    rule = policy.rules.get("opt_out") or policy.rules.get("cease")
    sources = rule.sources if rule is not None else ()
    return Reason("opt_out", reason, "该联系方式已被债务人关闭或无效", sources, BLOCKED)


def check_contact(
    session: Session,
    case: CollectionCase,
    request: ContactRequest,
    *,
    actor: str,
    origin: str = "click",
    collector_id: int | None = None,
    policy: Policy | None = None,
) -> Verdict:
    """The gate's answer for ``request`` on ``case``, appended to the compliance log. Raises
    nothing for a no: callers decide (the console refuses, the sender holds the message)."""
    if origin not in ORIGINS:
        raise ValueError(f"origin is one of {', '.join(ORIGINS)}")
    policy = policy or active_policy(session)
    at = (request.at or datetime.now(UTC)).astimezone(UTC)
    customer = session.get(Customer, case.customer_id)
    point = (
        session.get(ContactPoint, request.contact_point_id) if request.contact_point_id else None
    )
    if point is not None and point.customer_id != case.customer_id:
        raise ValueError("the contact point is not the case's customer's")
    debtor = debtor_of(customer, point)
    target = target_of(request.contact_point_id, request.third_party_contact_id)
    collector_id = collector_id if collector_id is not None else case.collector_id
    contact = Contact(
        id="request",
        debtor=debtor.id,
        at=at,
        channel=request.channel,
        party=request.party,
        agent=agent_of(session, collector_id),
        debts=(case.case_no,),
        text=request.text,
        target=target,
        collectors=request.collectors,
    )
    history = history_of(session, customer, debtor, at, target, request.party)
    verdict = judge(contact, history, policy)
    if point is not None and (extra := _point_reason(policy, point)) is not None:
        verdict = Verdict(BLOCKED, (*verdict.reasons, extra), None, policy.name, policy.version)
    record(session, case, contact, verdict, actor=actor, origin=origin, point=point)
    return verdict


def record(
    session: Session,
    case: CollectionCase | None,
    contact: Contact,
    verdict: Verdict,
    *,
    actor: str,
    origin: str,
    point: ContactPoint | None = None,
) -> ComplianceCheck:
    blocking = next((r.rule for r in verdict.reasons if r.verdict == BLOCKED), None)
    entry = ComplianceCheck(
        checked_at=datetime.now(UTC),
        contact_at=contact.at,
        case_id=case.id if case is not None else None,
        customer_id=case.customer_id if case is not None else None,
        actor=actor,
        origin=origin,
        agent=contact.agent,
        channel=contact.channel,
        party=contact.party,
        target=point.value_masked if point is not None else contact.target,
        policy=verdict.policy,
        policy_version=verdict.policy_version,
        verdict=verdict.verdict,
        reasons=[reason.as_dict() for reason in verdict.reasons],
        earliest_allowed_at=verdict.earliest,
        blocking_rule=blocking,
    )
    session.add(entry)
    session.flush()
    return entry


def outbound_gate(session: Session, message: OutboundMessage, now: datetime) -> str | Hold | None:
    """The gate for automated messages (``casedb.outbound``): a message the policy only delays
    (quiet hours, a daily cap) is held until it would be allowed; one it forbids is blocked."""
    if reason := basic_gate(session, message, now):
        return reason
    case = session.get(CollectionCase, message.case_id)
    text = "\n".join(part for part in (message.subject, message.body) if part)
    verdict = check_contact(
        session,
        case,
        ContactRequest(channel=message.channel, text=text, at=now),
        actor="outbound",
        origin="automated",
    )
    if verdict.verdict != BLOCKED:
        return None
    reasons = "; ".join(r.message for r in verdict.reasons if r.verdict == BLOCKED)
    if verdict.earliest is not None:
        return Hold(reasons, verdict.earliest.astimezone(UTC))
    return reasons
