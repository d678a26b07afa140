"""Settlements and payment plans (和解与分期) in the console: a case's settlements with the form to
propose one, a supervisor's inbox of proposals to approve or reject, and the same as a JSON API.

Who may agree what is :mod:`casedb.settlements`' rule: a collector up to their discount limit at
once, above it a supervisor approves (never the one who proposed it), above the supervisor's
limit nobody. Every page and call is limited to the cases in the user's data scope (a collector's
own, a supervisor's teams'); a case or settlement outside it is not found (404). A refusal is
answered with its reason: 400 for bad input, 403 beyond the user's authority, 409 when the case
or the settlement is not in a state that allows it. Pages answer in HTML (forms with a CSRF
token); ``/api/v1/settlement/...`` answers in JSON (a token, like the rest of the API). Every
change is an ORM change under the signed-in user, so the audit trail keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import permission_name, protect
from flask_babel import gettext, lazy_pgettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb import settlements as domain
from casedb.delinquency import business_date
from casedb.models import (
    OPEN_STATUSES,
    CollectionCase,
    Settlement,
    SettlementKind,
    SettlementStatus,
    Team,
)
from casedb.promises import amount_owed
from casedb.types import CENT
from console.scope import case_scope_condition, current_roles

INBOX_LIMIT = 200
NOTE_LIMIT = domain.NOTE_LIMIT
AMOUNT_LIMIT = Decimal("1e13")  # money columns hold less than this

STATUS_LABELS = {
    SettlementStatus.PROPOSED.value: lazy_pgettext("settlement status", "Awaiting approval"),
    SettlementStatus.ACTIVE.value: lazy_pgettext("settlement status", "Active"),
    SettlementStatus.REJECTED.value: lazy_pgettext("settlement status", "Rejected"),
    SettlementStatus.COMPLETED.value: lazy_pgettext("settlement status", "Completed"),
    SettlementStatus.BROKEN.value: lazy_pgettext("settlement status", "Broken"),
    SettlementStatus.CANCELLED.value: lazy_pgettext("settlement status", "Cancelled"),
}
KIND_LABELS = {
    SettlementKind.SETTLEMENT.value: lazy_pgettext("settlement kind", "Settlement"),
    SettlementKind.PAYMENT_PLAN.value: lazy_pgettext("settlement kind", "Payment plan"),
}


def status_label(value: Any) -> str:
    value = getattr(value, "value", value)
    return str(STATUS_LABELS.get(value, value))


def kind_label(value: Any) -> str:
    value = getattr(value, "value", value)
    return str(KIND_LABELS.get(value, value))


class RefusedError(Exception):
    """A request the settlements pages cannot do, with its HTTP status and the reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def refusal_of(error: domain.SettlementRefused) -> RefusedError:
    """The domain's refusal as an answer: beyond authority 403, wrong state 409, else 400."""
    if isinstance(error, domain.OutsideAuthority):
        return RefusedError(str(error), 403)
    if isinstance(error, domain.SettlementConflict):
        return RefusedError(str(error), 409)
    return RefusedError(str(error), 400)


# --- reading the input ------------------------------------------------------------------------


def _amount(text: Any, what: str) -> Decimal:
    if isinstance(text, bool) or not isinstance(text, str | int | Decimal):
        raise RefusedError(gettext("%(field)s: give an amount such as 900.00", field=what), 400)
    try:
        amount = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise RefusedError(
            gettext("%(field)s: give an amount such as 900.00", field=what), 400
        ) from None
    if not amount.is_finite() or amount <= 0 or amount >= AMOUNT_LIMIT:
        raise RefusedError(gettext("%(field)s: give an amount such as 900.00", field=what), 400)
    if amount != amount.quantize(CENT):
        raise RefusedError(gettext("%(field)s: at most two decimals", field=what), 400)
    return amount


def _date(text: Any, what: str) -> date:
    try:
        if not isinstance(text, str):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RefusedError(
            gettext("%(field)s: give a date as YYYY-MM-DD", field=what), 400
        ) from None


def _instalment_lines(text: str) -> list[tuple[str, str]]:
    """The form's instalments: one a line, a date and an amount (``2025-04-01 500.00``)."""
    rows = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) != 2:
            raise RefusedError(
                gettext(
                    "Instalment %(n)d: give a date and an amount, such as 2025-04-01 500.00",
                    n=number,
                ),
                400,
            )
        rows.append((parts[0], parts[1]))
    return rows


@dataclass
class Proposal:
    """A proposal as asked for, checked for form; the domain checks the terms."""

    kind: SettlementKind
    agreed_amount: Decimal | None = None
    pay_by: date | None = None
    instalments: list[tuple[date, Decimal]] = field(default_factory=list)
    note: str | None = None

    @classmethod
    def parse(cls, body: Any) -> Proposal:
        """From a form or a JSON object; raises ``RefusedError`` (400) naming the first bad
        field. JSON instalments are ``[{"due_on": "2025-04-01", "amount": "500.00"}, ...]``;
        a form's are lines of a date and an amount."""
        if not hasattr(body, "get"):
            raise RefusedError(gettext("Send a JSON object"), 400)
        kind = body.get("kind") or SettlementKind.SETTLEMENT.value
        if not isinstance(kind, str) or kind not in KIND_LABELS:
            raise RefusedError(gettext("Kind: choose a settlement or a payment plan"), 400)
        note = body.get("note") or ""
        if not isinstance(note, str):
            raise RefusedError(gettext("Note: write it as text"), 400)
        if len(note.strip()) > NOTE_LIMIT:
            raise RefusedError(gettext("Note: at most %(n)d characters", n=NOTE_LIMIT), 400)
        proposal = cls(SettlementKind(kind), note=note.strip() or None)
        if proposal.kind is SettlementKind.SETTLEMENT:
            proposal.agreed_amount = _amount(body.get("agreed_amount"), gettext("Agreed amount"))
            if body.get("pay_by"):
                proposal.pay_by = _date(body.get("pay_by"), gettext("Pay by"))
            return proposal
        raw = body.get("instalments")
        if isinstance(raw, str):
            rows: list[Any] = _instalment_lines(raw)
        elif isinstance(raw, list):
            rows = raw
        else:
            raise RefusedError(gettext("Instalments: give at least one"), 400)
        if len(rows) > domain.MAX_INSTALMENTS:
            raise RefusedError(gettext("Instalments: at most %(n)d", n=domain.MAX_INSTALMENTS), 400)
        for number, row in enumerate(rows, start=1):
            if isinstance(row, dict):
                due_on, amount = row.get("due_on"), row.get("amount")
            elif isinstance(row, list | tuple) and len(row) == 2:
                due_on, amount = row
            else:
                raise RefusedError(
                    gettext(
                        "Instalment %(n)d: give a date and an amount, such as 2025-04-01 500.00",
                        n=number,
                    ),
                    400,
                )
            what = gettext("Instalment %(n)d", n=number)
            proposal.instalments.append((_date(due_on, what), _amount(amount, what)))
        if not proposal.instalments:
            raise RefusedError(gettext("Instalments: give at least one"), 400)
        return proposal


def _decision_note(body: Any, required: bool) -> str | None:
    note = body.get("note") if hasattr(body, "get") else None
    if note is not None and not isinstance(note, str):
        raise RefusedError(gettext("Note: write it as text"), 400)
    note = (note or "").strip()
    if required and not note:
        raise RefusedError(gettext("Say why"), 400)
    if len(note) > NOTE_LIMIT:
        raise RefusedError(gettext("Note: at most %(n)d characters", n=NOTE_LIMIT), 400)
    return note or None


# --- what the pages and the API share ---------------------------------------------------------


class Settlements:
    """The settlement steps for the signed-in user, in their data scope, on the business date."""

    def __init__(self, session: Session) -> None:
        self.session = session
        roles, self.username = current_roles()
        self.scope = case_scope_condition(roles, self.username)
        self.role = domain.authority_of(roles)
        self.limit = domain.discount_limit(self.role) if self.role else None

    def case(self, case_id: int) -> CollectionCase:
        case = self.session.scalar(
            select(CollectionCase).where(CollectionCase.id == case_id, self.scope)
        )
        if case is None:
            raise RefusedError(gettext("No such case in your scope"), 404)
        return case

    def settlement(self, settlement_id: int) -> Settlement:
        found = self.session.scalar(
            select(Settlement)
            .join(CollectionCase, CollectionCase.id == Settlement.case_id)
            .where(Settlement.id == settlement_id, self.scope)
        )
        if found is None:
            raise RefusedError(gettext("No such settlement in your scope"), 404)
        return found

    def _authority(self) -> str:
        if self.role is None:
            raise RefusedError(gettext("Only collectors and supervisors agree settlements"), 403)
        return self.role

    def may_decide(self, settlement: Settlement) -> bool:
        """Whether the user could approve or reject ``settlement`` (not theirs, within limit)."""
        return (
            self.limit is not None
            and settlement.status is SettlementStatus.PROPOSED
            and settlement.proposed_by != self.username
            and settlement.discount_percent <= self.limit
        )

    def propose(self, case_id: int, body: Any) -> Settlement:
        case = self.case(case_id)
        role = self._authority()
        proposal = Proposal.parse(body)
        on = business_date(self.session)
        try:
            if proposal.agreed_amount is not None:
                return domain.propose_settlement(
                    self.session,
                    case,
                    agreed_amount=proposal.agreed_amount,
                    pay_by=proposal.pay_by,
                    by=self.username,
                    role=role,
                    on=on,
                    note=proposal.note,
                )
            return domain.propose_payment_plan(
                self.session,
                case,
                instalments=proposal.instalments,
                by=self.username,
                role=role,
                on=on,
                note=proposal.note,
            )
        except domain.SettlementRefused as refused:
            raise refusal_of(refused) from None

    def decide(self, settlement_id: int, decision: str, body: Any) -> Settlement:
        settlement = self.settlement(settlement_id)
        role = self._authority()
        note = _decision_note(body, required=decision != "approve")
        on = business_date(self.session)
        arguments = {"by": self.username, "role": role, "on": on}
        try:
            if decision == "approve":
                domain.approve_settlement(self.session, settlement, note=note, **arguments)
            elif decision == "reject":
                domain.reject_settlement(self.session, settlement, note=note or "", **arguments)
            else:
                domain.cancel_settlement(self.session, settlement, note=note or "", **arguments)
        except domain.SettlementRefused as refused:
            raise refusal_of(refused) from None
        return settlement

    def of_case(self, case: CollectionCase) -> list[Settlement]:
        return domain.settlements_of(self.session, case.id)

    def pending(self) -> list[tuple[Settlement, str, str | None]]:
        """Proposals awaiting approval in scope, oldest first: (settlement, case no., team)."""
        return [
            (settlement, case_no, team)
            for settlement, case_no, team in self.session.execute(
                select(Settlement, CollectionCase.case_no, Team.name)
                .join(CollectionCase, CollectionCase.id == Settlement.case_id)
                .outerjoin(Team, Team.id == CollectionCase.team_id)
                .where(Settlement.status == SettlementStatus.PROPOSED, self.scope)
                .order_by(Settlement.created_at, Settlement.id)
                .limit(INBOX_LIMIT)
            )
        ]


def case_record(case: CollectionCase) -> dict[str, Any]:
    return {
        "id": case.id,
        "case_no": case.case_no,
        "status": case.status.value,
        "open": case.status in OPEN_STATUSES,
        "owed_amount": str(amount_owed(case).quantize(CENT)),
    }


# --- the pages ----------------------------------------------------------------------------------


class SettlementsView(BaseView):
    """A case's settlements and the form to propose one; the approval inbox."""

    route_base = "/settlements"
    default_view = "pending"

    def _steps(self) -> Settlements:
        return Settlements(self.appbuilder.session)

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", "SettlementsView")

    @expose("/case/<int:case_id>")
    @has_access
    @permission_name("list")
    def case_settlements(self, case_id: int) -> Response:
        return self._case_page(case_id)

    def _case_page(
        self, case_id: int, error: str = "", status: int = 200, form: Any = None
    ) -> Response:
        steps = self._steps()
        try:
            case = steps.case(case_id)
        except RefusedError:
            abort(404)
        found = steps.of_case(case)
        html = self.render_template(
            "settlements_case.html",
            case=case,
            owed=amount_owed(case),
            settlements=found,
            schedules={s.id: domain.schedule_of(s) for s in found},
            has_open=any(s.status in domain.OPEN_SETTLEMENT_STATUSES for s in found),
            case_open=case.status in OPEN_STATUSES,
            steps=steps,
            may_propose=self._may("propose") and steps.role is not None,
            may_decide=self._may("decide"),
            collector_limit=domain.COLLECTOR_DISCOUNT_LIMIT_PERCENT,
            supervisor_limit=domain.SUPERVISOR_DISCOUNT_LIMIT_PERCENT,
            max_instalments=domain.MAX_INSTALMENTS,
            form=form or {},
            error=error,
            status_label=status_label,
            kind_label=kind_label,
            kinds=[(value, str(label)) for value, label in KIND_LABELS.items()],
        )
        return Response(html, status=status)

    @expose("/case/<int:case_id>/propose", methods=["POST"])
    @has_access
    @permission_name("propose")
    def propose(self, case_id: int) -> Response:
        session = self.appbuilder.session
        try:
            found = self._steps().propose(case_id, request.form)
        except RefusedError as refused:
            session.rollback()
            if refused.status == 404:
                abort(404)
            return self._case_page(case_id, str(refused), refused.status, request.form)
        session.commit()
        if found.status is SettlementStatus.ACTIVE:
            flash(gettext("Settlement agreed"), "success")
        else:
            flash(gettext("Settlement proposed: it awaits a supervisor's approval"), "info")
        return redirect(url_for("SettlementsView.case_settlements", case_id=case_id))

    @expose("/pending")
    @has_access
    @permission_name("decide")
    def pending(self) -> Response:
        return self._pending_page()

    def _pending_page(self, error: str = "", status: int = 200) -> Response:
        steps = self._steps()
        html = self.render_template(
            "settlements_pending.html",
            rows=steps.pending(),
            steps=steps,
            error=error,
            status_label=status_label,
            kind_label=kind_label,
            limit=INBOX_LIMIT,
        )
        return Response(html, status=status)

    def _decide(self, settlement_id: int, decision: str, done: str) -> Response:
        session = self.appbuilder.session
        back_to_case = request.form.get("next") == "case"
        try:
            found = self._steps().decide(settlement_id, decision, request.form)
        except RefusedError as refused:
            session.rollback()
            if refused.status == 404:
                abort(404)
            if back_to_case:
                case_id = session.scalar(
                    select(Settlement.case_id).where(Settlement.id == settlement_id)
                )
                return self._case_page(case_id, str(refused), refused.status)
            return self._pending_page(str(refused), refused.status)
        session.commit()
        flash(done, "success")
        if back_to_case or decision == "cancel":
            return redirect(url_for("SettlementsView.case_settlements", case_id=found.case_id))
        return redirect(url_for("SettlementsView.pending"))

    @expose("/<int:settlement_id>/approve", methods=["POST"])
    @has_access
    @permission_name("decide")
    def approve(self, settlement_id: int) -> Response:
        return self._decide(settlement_id, "approve", gettext("Settlement approved"))

    @expose("/<int:settlement_id>/reject", methods=["POST"])
    @has_access
    @permission_name("decide")
    def reject(self, settlement_id: int) -> Response:
        return self._decide(settlement_id, "reject", gettext("Settlement rejected"))

    @expose("/<int:settlement_id>/cancel", methods=["POST"])
    @has_access
    @permission_name("propose")
    def cancel(self, settlement_id: int) -> Response:
        return self._decide(settlement_id, "cancel", gettext("Settlement cancelled"))


# --- the JSON API -------------------------------------------------------------------------------


class SettlementApi(BaseApi):
    """``/api/v1/settlement/``: a case's settlements, proposing, the approval inbox, decisions."""

    resource_name = "settlement"
    openapi_spec_tag = "Settlements"

    def _steps(self) -> Settlements:
        return Settlements(self.appbuilder.session)

    def _refused(self, refused: RefusedError) -> Response:
        self.appbuilder.session.rollback()
        return self.response(refused.status, message=str(refused))

    def _body(self) -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise RefusedError(gettext("Send a JSON object"), 400)
        return body

    @expose("/case/<int:case_id>", methods=["GET"])
    @protect()
    @permission_name("list")
    def case_settlements(self, case_id: int) -> Response:
        """A case's settlements, newest first.
        ---
        get:
          summary: A case's settlements and the user's discount authority
          parameters:
          - in: path
            name: case_id
            schema:
              type: integer
          responses:
            200:
              description: The case, the user's authority and the settlements
            404:
              $ref: '#/components/responses/404'
        """
        steps = self._steps()
        try:
            case = steps.case(case_id)
        except RefusedError as refused:
            return self._refused(refused)
        return self.response(
            200,
            case=case_record(case),
            authority={"role": steps.role, "limit_percent": steps.limit},
            settlements=[domain.settlement_record(s) for s in steps.of_case(case)],
        )

    @expose("/case/<int:case_id>", methods=["POST"])
    @protect()
    @permission_name("propose")
    def propose(self, case_id: int) -> Response:
        """Propose a settlement or a payment plan on a case.
        ---
        post:
          summary: Propose a settlement (kind, agreed_amount, pay_by) or a payment plan (kind,
            instalments [{due_on, amount}]), with an optional note
          parameters:
          - in: path
            name: case_id
            schema:
              type: integer
          responses:
            201:
              description: Agreed (active) or awaiting approval (proposed)
            400:
              $ref: '#/components/responses/400'
            403:
              description: Beyond the user's authority
            404:
              $ref: '#/components/responses/404'
            409:
              description: The case is closed or already has a settlement
        """
        try:
            found = self._steps().propose(case_id, self._body())
        except RefusedError as refused:
            return self._refused(refused)
        self.appbuilder.session.commit()
        return self.response(201, settlement=domain.settlement_record(found))

    @expose("/pending", methods=["GET"])
    @protect()
    @permission_name("decide")
    def pending(self) -> Response:
        """Proposals awaiting approval in the user's scope, oldest first.
        ---
        get:
          summary: Proposals awaiting approval
          responses:
            200:
              description: The proposals, each with its case number and whether the user may
                decide it
        """
        steps = self._steps()
        return self.response(
            200,
            result=[
                {
                    **domain.settlement_record(settlement),
                    "case_no": case_no,
                    "team": team,
                    "may_decide": steps.may_decide(settlement),
                }
                for settlement, case_no, team in steps.pending()
            ],
        )

    def _decide(self, settlement_id: int, decision: str) -> Response:
        try:
            body = request.get_json(silent=True)
            found = self._steps().decide(settlement_id, decision, body or {})
        except RefusedError as refused:
            return self._refused(refused)
        self.appbuilder.session.commit()
        return self.response(200, settlement=domain.settlement_record(found))

    @expose("/<int:settlement_id>/approve", methods=["POST"])
    @protect()
    @permission_name("decide")
    def approve(self, settlement_id: int) -> Response:
        """Approve a proposal (not one's own, within one's limit); an optional note.
        ---
        post:
          summary: Approve a proposed settlement
          parameters:
          - in: path
            name: settlement_id
            schema:
              type: integer
          responses:
            200:
              description: The settlement, now active
            403:
              description: The user's own proposal, or beyond their limit
            404:
              $ref: '#/components/responses/404'
            409:
              description: Not awaiting approval, or its first payment date has passed
        """
        return self._decide(settlement_id, "approve")

    @expose("/<int:settlement_id>/reject", methods=["POST"])
    @protect()
    @permission_name("decide")
    def reject(self, settlement_id: int) -> Response:
        """Reject a proposal, with the reason in ``note``.
        ---
        post:
          summary: Reject a proposed settlement
          parameters:
          - in: path
            name: settlement_id
            schema:
              type: integer
          responses:
            200:
              description: The settlement, now rejected
            400:
              $ref: '#/components/responses/400'
            403:
              description: The user's own proposal, or beyond their limit
            404:
              $ref: '#/components/responses/404'
            409:
              description: Not awaiting approval
        """
        return self._decide(settlement_id, "reject")

    @expose("/<int:settlement_id>/cancel", methods=["POST"])
    @protect()
    @permission_name("propose")
    def cancel(self, settlement_id: int) -> Response:
        """Withdraw a proposed or active settlement, with the reason in ``note``.
        ---
        post:
          summary: Cancel a settlement
          parameters:
          - in: path
            name: settlement_id
            schema:
              type: integer
          responses:
            200:
              description: The settlement, now cancelled
            400:
              $ref: '#/components/responses/400'
            403:
              description: Neither its proposer nor within the user's limit
            404:
              $ref: '#/components/responses/404'
            409:
              description: Already ended
        """
        return self._decide(settlement_id, "cancel")
