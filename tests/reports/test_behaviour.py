"""Behaviour patterns on constructed data with a known effect: a payday effect on the 10th and
25th found (and a flat month not), contacts by time window and channel with their sample sizes
and the payments that followed, and a treatment step's effect."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from casedb.models import CaseTask, Channel, CollectionCase, ContactAttempt, Outcome, Party
from casedb.session import transaction
from reports import behaviour

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2025, 1, 1), date(2025, 6, 30)
PAYDAYS = (10, 25)


def _loans(run_import, n: int = 4) -> None:
    run_import(
        "customers",
        [
            ["customer_no", "name", "timezone"],
            *[[f"C{i}", f"客户{i}", "Asia/Shanghai"] for i in range(n)],
        ],
    )
    run_import(
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal"],
            *[[f"L{i}", f"C{i}", "cash_loan", "10000"] for i in range(n)],
        ],
    )


def _payments(run_import, per_day: int, payday_extra: int, undated: int = 0) -> int:
    rows, day, number = [], FIRST, 0
    while day <= LAST:
        count = per_day + (payday_extra if day.day in PAYDAYS else 0)
        for k in range(count):
            # Late in the local evening: the UTC date is the day before (local time counts).
            local = datetime(day.year, day.month, day.day, 23, 30, tzinfo=SHANGHAI)
            rows.append([f"T{number}", f"L{k % 4}", "100", local.isoformat(), "bank"])
            number += 1
        day += timedelta(days=1)
    for k in range(undated):
        rows.append([f"U{k}", "L0", "999", "2025-03-31T12:00:00+08:00", "uci_monthly_total"])
    run_import("payments", [["txn_no", "loan_no", "amount", "paid_at", "channel"], *rows])
    return number


def test_a_payday_effect_on_the_10th_and_25th_is_found(engine, run_import):
    _loans(run_import)
    total = _payments(run_import, per_day=2, payday_extra=6, undated=5)
    with engine.connect() as connection:
        found = behaviour.payday_effect(connection)
    assert found.payments == total == 181 * 2 + 12 * 6
    assert found.excluded_undated == 5, "monthly totals have no day: left out and counted"
    assert (found.first_day, found.last_day) == (FIRST, LAST)
    by_day = {f.key: f for f in found.by_day}
    # Six 10ths in January–June, eight payments on each; 181 days, 434 payments.
    assert by_day[10].occurrences == 6 and by_day[10].payments == 48
    assert by_day[10].index == pytest.approx(8 / (434 / 181))
    assert by_day[31].occurrences == 3 and by_day[31].index == pytest.approx(2 / (434 / 181))
    assert sorted(found.peak_days[:2]) == [10, 25]
    assert found.p_value < 1e-6


def test_a_flat_month_shows_no_payday_effect(engine, run_import):
    _loans(run_import)
    _payments(run_import, per_day=2, payday_extra=0)
    with engine.connect() as connection:
        found = behaviour.payday_effect(connection)
    # Every calendar day alike once divided by how often it occurs (fewer 31sts than 10ths).
    assert {round(f.index, 9) for f in found.by_day} == {1.0}
    assert found.chi2 == pytest.approx(0.0)
    assert found.p_value == pytest.approx(1.0)


def test_no_dated_payment_is_said_not_computed(engine, run_import):
    _loans(run_import)
    _payments(run_import, per_day=0, payday_extra=0, undated=3)
    with engine.connect() as connection:
        found = behaviour.payday_effect(connection)
    assert found.payments == 0 and found.by_day == []
    assert found.note == (
        "no payment with a known day in the period (3 monthly totals with no day were left out)"
    )


def test_contacts_by_time_window_and_channel_with_payments_after(engine, run_import, portfolio):
    run_import(
        "payments",
        [
            ["txn_no", "loan_no", "amount", "paid_at", "channel"],
            ["P1", "L1", "500", "2025-03-05T12:00:00+08:00", "bank"],
        ],
    )
    with transaction(engine) as session:
        case = session.scalar(select(CollectionCase).where(CollectionCase.case_no == "K1"))
        number = 0
        for day in range(1, 11):
            for hour, reached in ((9, day <= 6), (19, day <= 2)):
                number += 1
                session.add(
                    ContactAttempt(
                        attempt_no=f"A{number}",
                        case_id=case.id,
                        customer_id=case.customer_id,
                        channel=Channel.CALL,
                        party=Party.DEBTOR,
                        started_at=datetime(2025, 3, day, hour, tzinfo=SHANGHAI).astimezone(UTC),
                        local_timezone="Asia/Shanghai",
                        outcome=Outcome.RIGHT_PARTY_CONTACT if reached else Outcome.NO_ANSWER,
                    )
                )
        session.add(
            ContactAttempt(
                attempt_no="S1",
                case_id=case.id,
                customer_id=case.customer_id,
                channel=Channel.SMS,
                party=Party.DEBTOR,
                started_at=datetime(2025, 3, 1, 10, tzinfo=SHANGHAI),
                local_timezone="Asia/Shanghai",
                outcome=Outcome.DELIVERED,
            )
        )
    with engine.connect() as connection:
        found = behaviour.contact_patterns(connection, attribution_days=7)
    windows = {w["key"]: w for w in found.by_window}
    morning, evening = windows["08-12"], windows["18-21"]
    assert (morning["contacts"], morning["rpc"]) == (11, 6)
    assert (evening["contacts"], evening["rpc"]) == (10, 2)
    assert evening["rpc_rate"] == pytest.approx(0.2)
    # The payment on 5 March at noon follows the calls of 1–5 March at 9:00 and 1–4 March at
    # 19:00 (and the SMS of 1 March) within seven days.
    assert (morning["paid"], evening["paid"]) == (6, 4)
    assert morning["collected"] == pytest.approx(3000.0)
    assert windows["other"]["contacts"] == 0
    channels = {c["key"]: c for c in found.by_channel}
    assert channels["call"]["contacts"] == 20 and channels["sms"]["contacts"] == 1
    hours = {h["key"]: h for h in found.by_hour}
    assert hours[9]["contacts"] == 10 and hours[19]["rpc"] == 2
    lo, hi = morning["paid_rate_ci"]
    assert lo < 6 / 11 < hi


def test_a_treatment_step_and_its_strategy_are_measured(engine, run_import, portfolio):
    run_import(
        "payments",
        [
            ["txn_no", "loan_no", "amount", "paid_at", "channel"],
            ["P1", "L1", "800", "2025-03-05T12:00:00+08:00", "bank"],
            ["P2", "L1", "200", "2025-04-30T12:00:00+08:00", "bank"],
        ],
    )
    with transaction(engine) as session:
        case_id = session.scalar(select(CollectionCase.id).where(CollectionCase.case_no == "K1"))
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.id == case_id)
            .values(strategy="m1_gentle_reminders", dpd=0)
        )
        session.add(
            CaseTask(
                case_id=case_id,
                path="m1_gentle_reminders",
                path_version=1,
                step="S1",
                action="sms_reminder",
                automated=True,
                due_at=datetime(2025, 3, 1, 1, tzinfo=UTC),
                status="done",
                done_at=datetime(2025, 3, 1, 1, tzinfo=UTC),
            )
        )
    with engine.connect() as connection:
        found = behaviour.strategy_effectiveness(connection, attribution_days=14)
    (strategy,) = found.strategies
    assert strategy["strategy"] == "m1_gentle_reminders"
    assert (strategy["cases"], strategy["cured"], strategy["actions"]) == (1, 1, 1)
    assert strategy["collected"] == pytest.approx(1000.0)
    (step,) = found.steps
    assert (step["step"], step["action"], step["actions"], step["cases"]) == (
        "S1",
        "sms_reminder",
        1,
        1,
    )
    # Only the payment within 14 days of the SMS counts for the step.
    assert step["paid_rate"] == 1.0 and step["collected_per_action"] == pytest.approx(800.0)
