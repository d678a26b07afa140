"""Every metric of reports.metrics against values computed by hand on a small constructed book.

The book (six loans, five cases, two teams) lives through four business days: D0 (the first
snapshot, holding all history before it), D1 and D2 (snapshots written as the tick would write
them) and D3, the business date, read live. The expected numbers are worked out in the comments
from the facts below, not from the code under test.

Loans and cases (region, product; team / collector; case stock):
    L1 北京 cash_loan    K1 team A / a1  opened 01-15, DPD 45 (M2), overdue 1000, entry 1200,
                                          balance 8000
    L2 上海 cash_loan    K2 team A / a1  opened 02-19, DPD 10 (M1), overdue 300, entry 300,
                                          balance 2000; paid and closed on D2 (loan balance 0)
    L3 北京 credit_card  K3 team B / b1  opened 2024-11-21, DPD 100 (M4+), overdue and entry
                                          5000, balance 9000
    L4 上海 credit_card  K4 team B / b1  paid, opened 01-01, closed 02-20, entry 400; loan 1000
    L5 上海 cash_loan    (loan 5000) until K5 team B / b1 opens on D1: DPD 1 (M1), overdue and
                                          entry 700, balance 4000
    L6 北京 credit_card  no case, loan 3000
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from casedb.delinquency import set_business_date
from casedb.models import (
    Alert,
    CaseStatus,
    Channel,
    CollectionCase,
    Collector,
    ComplianceCheck,
    ContactAttempt,
    Customer,
    Loan,
    MonthlyStatement,
    Outcome,
    Party,
    PortfolioSnapshot,
    PortfolioSnapshotRun,
    PromiseStatus,
    PromiseToPay,
    RepaymentTransaction,
    RuleDecision,
    Team,
)
from reports import metrics
from reports.metrics import Scope
from reports.snapshots import SnapshotRefused, backfill, write_snapshot

D0, D1, D2, D3 = date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
LOCAL = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL)


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9)


class Book:
    """Ids of the constructed book's rows, and helpers to add facts to it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids: dict[str, int] = {}
        self.serial = 0

    def _no(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def add(self, name: str, row: object) -> object:
        self.session.add(row)
        self.session.flush()
        self.ids[name] = row.id  # type: ignore[attr-defined]
        return row

    def payment(self, loan: str, amount: int, when: datetime) -> None:
        self.session.add(
            RepaymentTransaction(
                txn_no=self._no("T"), loan_id=self.ids[loan], amount=Decimal(amount), paid_at=when
            )
        )

    def contact(
        self,
        case: str,
        collector: str,
        when: datetime,
        outcome: Outcome,
        channel: Channel = Channel.CALL,
        party: Party = Party.DEBTOR,
    ) -> ContactAttempt:
        attempt = ContactAttempt(
            attempt_no=self._no("A"),
            case_id=self.ids[case],
            customer_id=self.session.get(CollectionCase, self.ids[case]).customer_id,
            collector_id=self.ids[collector],
            channel=channel,
            party=party,
            started_at=when,
            outcome=outcome,
        )
        self.session.add(attempt)
        self.session.flush()
        return attempt

    def promise(self, case: str, amount: int, status: PromiseStatus, **extra: object) -> None:
        self.session.add(
            PromiseToPay(
                promise_no=self._no("P"),
                case_id=self.ids[case],
                amount=Decimal(amount),
                promised_for=extra.pop("promised_for", D3),
                status=status,
                **extra,
            )
        )

    def alert(self, case: str, kind: str, when: datetime) -> None:
        self.session.add(
            Alert(
                case_id=self.ids[case],
                kind=kind,
                severity="warning",
                raised_at=when,
                ruleset="alert",
                version=1,
                row="R1",
            )
        )

    def check(self, case: str | None, rule: str | None, when: datetime, customer: str) -> None:
        self.session.add(
            ComplianceCheck(
                checked_at=when,
                contact_at=when,
                case_id=self.ids[case] if case else None,
                customer_id=self.ids[customer],
                actor="a1",
                origin="click",
                agent="lender",
                channel="call",
                party="debtor",
                policy="CN",
                policy_version=1,
                verdict="blocked" if rule else "allowed",
                reasons=[],
                blocking_rule=rule,
            )
        )

    def decision(self, case: str, arm: str | None, when: datetime, kind: str = "strategy") -> None:
        self.session.add(
            RuleDecision(
                case_id=self.ids[case],
                ruleset=kind,
                version=1,
                checksum="0" * 64,
                kind=kind,
                rows=["R1"],
                outputs=[],
                facts={},
                applied={} if arm is None else {"arm": arm},
                decided_at=when,
            )
        )


def _case(book: Book, names: str, **v: object) -> object:
    """``names``: "case loan customer team collector"."""
    name, loan, customer, team, collector = names.split()
    dpd = v.pop("dpd", 0)
    bucket = "M0" if dpd <= 0 else "M1" if dpd <= 30 else "M2" if dpd <= 60 else "M4+"
    return book.add(
        name,
        CollectionCase(
            case_no=name,
            customer_id=book.ids[customer],
            loan_id=book.ids[loan],
            team_id=book.ids[team],
            collector_id=book.ids[collector],
            dpd=dpd,
            bucket=bucket,
            **{key: Decimal(x) if isinstance(x, int) else x for key, x in v.items()},
        ),
    )


def _snapshot(engine, day: date) -> None:
    with engine.begin() as connection:
        write_snapshot(connection, day, by="test", source="tick")


def _move_to(engine, day: date) -> None:
    with Session(engine) as session, session.begin():
        set_business_date(session, day)


@pytest.fixture
def book(engine) -> Book:
    with Session(engine) as session, session.begin():
        b = Book(session)
        b.add("A", Team(code="A", name="一组"))
        b.add("B", Team(code="B", name="二组"))
        b.add("a1", Collector(code="a1", name="催收员甲", team_id=b.ids["A"], username="a1"))
        b.add("b1", Collector(code="b1", name="催收员乙", team_id=b.ids["B"], username="b1"))
        regions = {1: "北京", 2: "上海", 3: "北京", 4: "上海", 5: "上海", 6: "北京"}
        products = {1: "cash_loan", 2: "cash_loan", 3: "credit_card", 4: "credit_card"}
        products |= {5: "cash_loan", 6: "credit_card"}
        balances = {1: 10000, 2: 0, 3: 0, 4: 1000, 5: 5000, 6: 3000}
        for n in range(1, 7):
            b.add(f"c{n}", Customer(customer_no=f"C{n}", name=f"客户{n}", region=regions[n]))
            b.add(
                f"L{n}",
                Loan(
                    loan_no=f"L{n}",
                    customer_id=b.ids[f"c{n}"],
                    product=products[n],
                    principal=Decimal(10000),
                    outstanding_balance=Decimal(balances[n]),
                ),
            )
        _case(
            b,
            "K1 L1 c1 A a1",
            opened_on=date(2025, 1, 15),
            dpd=45,
            overdue_principal=1000,
            overdue_at_entry=1200,
            outstanding_balance=8000,
        )
        _case(
            b,
            "K2 L2 c2 A a1",
            opened_on=date(2025, 2, 19),
            dpd=10,
            overdue_principal=300,
            overdue_at_entry=300,
            outstanding_balance=2000,
        )
        _case(
            b,
            "K3 L3 c3 B b1",
            opened_on=date(2024, 11, 21),
            dpd=100,
            overdue_principal=5000,
            overdue_at_entry=5000,
            outstanding_balance=9000,
        )
        _case(
            b,
            "K4 L4 c4 B b1",
            opened_on=date(2025, 1, 1),
            dpd=0,
            status=CaseStatus.PAID,
            closed_on=date(2025, 2, 20),
            overdue_at_entry=400,
        )
        # Before D0 (all in D0's window): K4's last payment, a payment on L5 (no case yet), the
        # contacts K2's and K3's promises were given in.
        b.payment("L4", 400, at(date(2025, 2, 20), 10))
        b.payment("L5", 600, at(date(2025, 2, 27), 10))
        a0 = b.contact("K2", "a1", at(date(2025, 2, 20), 10), Outcome.PROMISE_TO_PAY)
        a2 = b.contact("K3", "b1", at(date(2025, 2, 25), 10), Outcome.PROMISE_TO_PAY)
        b.promise("K2", 300, PromiseStatus.PENDING, contact_attempt_id=a0.id)
        b.promise("K3", 1000, PromiseStatus.PENDING, contact_attempt_id=a2.id)
        b.decision("K3", "champion", at(date(2025, 1, 1), 9))
        b.decision("K1", "champion", at(date(2025, 2, 1), 9))
        b.decision("K2", "champion", at(date(2025, 2, 19), 9))
        b.decision("K4", None, at(date(2025, 1, 1), 9))
        b.decision("K1", None, at(date(2025, 2, 1), 9), kind="alert")
        set_business_date(session, D0)
    _snapshot(engine, D0)

    with Session(engine) as session, session.begin():
        b.session = session
        _case(
            b,
            "K5 L5 c5 B b1",
            opened_on=D1,
            dpd=1,
            overdue_principal=700,
            overdue_at_entry=700,
            outstanding_balance=4000,
        )
        b.payment("L1", 200, at(D1, 10))
        b.payment("L6", 999, at(D1, 11))  # no case: not collected by collections
        p1 = b.contact("K1", "a1", at(D1, 10), Outcome.PROMISE_TO_PAY)
        b.contact("K1", "a1", at(D1, 11), Outcome.NO_ANSWER)
        b.contact("K1", "a1", at(D1, 12), Outcome.THIRD_PARTY_REACHED, party=Party.THIRD_PARTY)
        b.contact("K3", "b1", at(D1, 9), Outcome.DELIVERED, channel=Channel.SMS)
        b.contact("K3", "b1", at(D1, 14), Outcome.RIGHT_PARTY_CONTACT, channel=Channel.VISIT)
        b.contact("K3", "b1", at(D1, 23, 30), Outcome.BUSY)  # late evening: still D1
        b.promise("K1", 500, PromiseStatus.PENDING, contact_attempt_id=p1.id)
        b.promise(
            "K5",
            200,
            PromiseStatus.PARTLY_KEPT,
            created_at=at(D1, 11).astimezone(UTC),
            resolved_on=D1,
        )
        b.alert("K1", "broken_promises", at(D1, 15))
        b.check("K3", "quiet_hours", at(D1, 7), "c3")
        b.decision("K1", "challenger", at(D1, 10))
        b.decision("K5", "challenger", at(D1, 12))
        set_business_date(session, D1)
    _snapshot(engine, D1)

    with Session(engine) as session, session.begin():
        b.session = session
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.id == b.ids["K2"])
            .values(status=CaseStatus.PAID, closed_on=D2, dpd=0, bucket="M0")
        )
        b.payment("L3", 1000, at(D2, 0, 30))  # just after midnight: D2, not D1
        b.payment("L2", 300, at(D2, 9))
        session.execute(
            update(PromiseToPay)
            .where(PromiseToPay.case_id == b.ids["K2"])
            .values(status=PromiseStatus.KEPT, resolved_on=D2)
        )
        session.execute(
            update(PromiseToPay)
            .where(PromiseToPay.case_id == b.ids["K3"])
            .values(status=PromiseStatus.BROKEN, resolved_on=D2)
        )
        b.alert("K3", "missed_installments", at(D2, 8))
        b.alert("K3", "broken_promises", at(D2, 9))
        b.check("K1", "daily_connected_calls", at(D2, 16), "c1")
        b.check(None, "opt_out", at(D2, 17), "c6")
        b.check("K1", None, at(D2, 18), "c1")  # allowed: not a blocked contact
        set_business_date(session, D2)
    _snapshot(engine, D2)

    with Session(engine) as session, session.begin():
        b.session = session
        b.payment("L1", 50, at(D3, 9))
        b.contact("K1", "a1", at(D3, 9, 30), Outcome.RIGHT_PARTY_CONTACT)
        b.alert("K5", "no_recent_contact", at(D3, 8))
        b.check("K1", "quiet_hours", at(D3, 7), "c1")
        # Statements for the roll rates: L1 M1→M2→M3, L2 M1→M0→M0, L3 M0→M1→M0, L6 only in
        # January, L1 again in May (April missing: no pair).
        for loan, period, bucket, balance in [
            ("L1", date(2025, 1, 31), "M1", 100),
            ("L1", date(2025, 2, 28), "M2", 110),
            ("L1", date(2025, 3, 31), "M3", 120),
            ("L1", date(2025, 5, 31), "M4+", 130),
            ("L2", date(2025, 1, 31), "M1", 50),
            ("L2", date(2025, 2, 28), "M0", 0),
            ("L2", date(2025, 3, 31), "M0", 0),
            ("L3", date(2025, 1, 31), "M0", 10),
            ("L3", date(2025, 2, 28), "M1", 20),
            ("L3", date(2025, 3, 31), "M0", 30),
            ("L6", date(2025, 1, 31), "M0", 5),
        ]:
            session.add(
                MonthlyStatement(
                    loan_id=b.ids[loan],
                    period=period,
                    balance=Decimal(balance),
                    repayment_status=0,
                    dpd=0,
                    bucket=bucket,
                )
            )
        set_business_date(session, D3)
    return b


def connect(engine):
    return engine.connect()


# --- overdue rate, its trend, aging ----------------------------------------------------------


def test_overdue_rate_by_count_and_balance_on_the_last_day(engine, book):
    with connect(engine) as c:
        # D0: L1 (M2, 8000), L2 (M1, 2000), L3 (M4+, 9000) overdue of six accounts; the book's
        # balance 8000 + 2000 + 9000 + 1000 (L4, closed case) + 5000 (L5) + 3000 (L6) = 28000.
        d0 = metrics.overdue_rate(c, Scope(D0, D0))
        assert (d0.as_of, d0.accounts, d0.overdue_accounts) == (D0, 6, 3)
        assert (d0.balance, d0.overdue_balance) == (Decimal(28000), Decimal(19000))
        assert d0.by_count == approx(0.5)
        assert d0.by_balance == approx(19000 / 28000)
        assert d0.overdue_amount == Decimal(6300)  # 1000 + 300 + 5000
        # A period's rate is its last day's: D1, where K5 opened on L5 (M1, balance 4000).
        d1 = metrics.overdue_rate(c, Scope(D0, D1))
        assert (d1.as_of, d1.overdue_accounts, d1.balance) == (D1, 4, Decimal(27000))
        assert d1.by_count == approx(4 / 6)
        assert d1.by_balance == approx(23000 / 27000)
        # D3 is the business date: read live (K2 paid on D2, so L2 is current with 0).
        live = metrics.overdue_rate(c, Scope(D1, D3))
        assert (live.as_of, live.overdue_accounts, live.balance) == (D3, 3, Decimal(25000))
        assert live.by_balance == approx(21000 / 25000)


def test_overdue_rate_filters(engine, book):
    with connect(engine) as c:
        team_a = metrics.overdue_rate(c, Scope(D0, D0, team_id=book.ids["A"]))
        assert (team_a.accounts, team_a.overdue_accounts, team_a.by_count) == (2, 2, 1.0)
        later = metrics.overdue_rate(c, Scope(D2, D2, team_id=book.ids["A"]))
        assert (later.accounts, later.overdue_accounts, later.by_count) == (2, 1, 0.5)
        assert later.by_balance == approx(1.0)  # L2 is current with nothing left
        shanghai = metrics.overdue_rate(c, Scope(D1, D1, region="上海"))
        assert (shanghai.accounts, shanghai.overdue_accounts) == (3, 2)  # L2, L5 of L2, L4, L5
        assert shanghai.by_balance == approx(6000 / 7000)
        cards = metrics.overdue_rate(c, Scope(D0, D0, product="credit_card"))
        assert (cards.accounts, cards.overdue_accounts) == (3, 1)
        assert cards.by_balance == approx(9000 / 13000)
        one = metrics.overdue_rate(c, Scope(D3, D3, collector_id=book.ids["b1"]))
        assert (one.accounts, one.overdue_accounts) == (3, 2)  # L3, L4 (closed), L5
        supervised = metrics.overdue_rate(c, Scope(D0, D0, team_ids=(book.ids["B"],)))
        assert (supervised.accounts, supervised.overdue_accounts) == (2, 1)  # L3, L4


def test_overdue_rate_trend_is_one_point_per_snapshot_day_and_the_live_one(engine, book):
    with connect(engine) as c:
        trend = metrics.overdue_rate_trend(c, Scope(D0, D3))
    assert [p.as_of for p in trend.points] == [D0, D1, D2, D3]
    assert [p.by_count for p in trend.points] == [approx(0.5), approx(4 / 6), 0.5, 0.5]
    assert trend.points[1].by_balance == approx(23000 / 27000)
    assert trend.as_dict()["points"][0]["as_of"] == "2025-02-28"


def test_the_trend_keeps_past_days_as_they_were(engine, book):
    """Changing a case today does not rewrite yesterday: D1 stays as its snapshot says."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.id == book.ids["K1"])
            .values(dpd=0, bucket="M0")
        )
    with connect(engine) as c:
        trend = metrics.overdue_rate_trend(c, Scope(D1, D3))
    assert [p.overdue_accounts for p in trend.points] == [4, 3, 2]


def test_dpd_bucket_aging_with_groups(engine, book):
    with connect(engine) as c:
        aging = metrics.dpd_bucket_aging(c, Scope(D2, D2), group_by="team")
    rows = {b.bucket: b for b in aging.buckets}
    assert list(rows) == ["M0", "M1", "M2", "M3", "M4+"]
    # M0: L2 (closed, 0), L4 (closed, 1000), L6 (3000).
    assert (rows["M0"].accounts, rows["M0"].balance, rows["M0"].cases) == (3, 4000, 0)
    assert (rows["M1"].accounts, rows["M1"].cases, rows["M1"].overdue_amount) == (1, 1, 700)
    assert (rows["M2"].balance, rows["M2"].overdue_amount) == (8000, 1000)
    assert (rows["M3"].accounts, rows["M4+"].accounts, rows["M4+"].balance) == (0, 1, 9000)
    assert aging.groups == {"一组": {"M2": 1}, "二组": {"M1": 1, "M4+": 1}}


# --- recovery, cycle, promises, contacts -----------------------------------------------------


def test_recovery_rate(engine, book):
    with connect(engine) as c:
        # D1..D2: worked were the cases open on D2 (entry 1200 + 5000 + 700) and K2, closed on
        # D2 (300); collected on them 200 (L1) + 1000 (L3) + 300 (L2, the day K2 closed); L6's
        # 999 has no case.
        period = metrics.recovery_rate(c, Scope(D1, D2), group_by="team")
        assert (period.collected, period.overdue_at_entry) == (Decimal(1500), Decimal(7200))
        assert period.rate == approx(1500 / 7200)
        groups = {g.group: g for g in period.groups}
        assert groups["一组"].rate == approx(500 / 1500)
        assert (groups["二组"].collected, groups["二组"].overdue_at_entry) == (1000, 5700)
        # The first day holds everything before it: K4's 400 (K4 closed then) on the four cases
        # ever opened.
        first = metrics.recovery_rate(c, Scope(D0, D0))
        assert (first.collected, first.overdue_at_entry) == (Decimal(400), Decimal(6900))
        # Live: open today (1200 + 5000 + 700), collected today 50.
        today = metrics.recovery_rate(c, Scope(D3, D3))
        assert (today.collected, today.overdue_at_entry) == (Decimal(50), Decimal(6900))
        team_b = metrics.recovery_rate(c, Scope(D1, D2, team_id=book.ids["B"]))
        assert team_b.rate == approx(1000 / 5700)


def test_average_collection_cycle(engine, book):
    with connect(engine) as c:
        # K4: 01-01 → 02-20 (50 days, in D0's window); K2: 02-19 → 03-02 (11 days).
        whole = metrics.average_collection_cycle(c, Scope(D0, D3))
        assert (whole.closed_cases, whole.total_days, whole.average_days) == (2, 61, 30.5)
        # Open on D3: K1 (47 days), K3 (102), K5 (2).
        assert whole.open_cases == 3
        assert whole.open_average_age == approx(151 / 3)
        later = metrics.average_collection_cycle(c, Scope(D1, D3))
        assert (later.closed_cases, later.average_days) == (1, 11.0)
        none = metrics.average_collection_cycle(c, Scope(D3, D3))
        assert none.average_days is None and none.note == "no case closed in the period"


def test_promise_kept_rate(engine, book):
    with connect(engine) as c:
        # Made in D1..D2: K1's (500, given in a D1 call) and K5's (200, logged on D1);
        # resolved: K5's partly kept (D1), K2's kept and K3's broken (D2).
        promises = metrics.promise_kept_rate(c, Scope(D1, D2))
        assert (promises.made, promises.promised_amount) == (2, Decimal(700))
        assert (promises.kept, promises.partly_kept, promises.broken) == (1, 1, 1)
        assert promises.kept_rate == approx(1 / 3)
        assert promises.kept_or_partly_rate == approx(2 / 3)
        team_a = metrics.promise_kept_rate(c, Scope(D1, D2, team_id=book.ids["A"]))
        assert (team_a.made, team_a.resolved, team_a.kept_rate) == (1, 1, 1.0)
        # Before D0: the two promises made in February.
        assert metrics.promise_kept_rate(c, Scope(D0, D0)).made == 2


def test_right_party_contact_rate_and_contacts_per_case(engine, book):
    with connect(engine) as c:
        # D1: three calls on K1 (ptp, no answer, a third party), an SMS, a visit (rpc) and a
        # late busy call on K3: six contacts, five dials, two with the debtor.
        rate = metrics.right_party_contact_rate(c, Scope(D1, D2))
        assert (rate.contacts, rate.dials, rate.right_party_contacts) == (6, 5, 2)
        assert rate.rate == approx(0.4)
        # Open cases: 4 on D1, 3 on D2.
        per_case = metrics.contacts_per_case(c, Scope(D1, D2))
        assert per_case.average_open_cases == approx(3.5)
        assert per_case.per_case == approx(6 / 3.5)
        live = metrics.right_party_contact_rate(c, Scope(D3, D3))
        assert (live.contacts, live.dials, live.rate) == (1, 1, 1.0)


def test_collected_by_collector_and_team(engine, book):
    with connect(engine) as c:
        by_collector = metrics.collected_by_collector(c, Scope(D1, D2))
        by_team = metrics.collected_by_team(c, Scope(D1, D2))
    assert by_collector.total == Decimal(1500)
    assert [(r["name"], r["collected"]) for r in by_collector.rows] == [
        ("催收员乙", Decimal(1000)),
        ("催收员甲", Decimal(500)),
    ]
    assert by_collector.rows[1]["share"] == approx(1 / 3)
    assert [(r["name"], r["collected"]) for r in by_team.rows] == [("二组", 1000), ("一组", 500)]


def test_collector_league_table(engine, book):
    with connect(engine) as c:
        table = metrics.collector_league_table(c, Scope(D1, D2))
    first, second = table.rows
    assert (first.rank, first.name, first.team, first.open_cases) == (1, "催收员乙", "二组", 2)
    assert first.collected == Decimal(1000)
    assert first.recovery_rate == approx(1000 / 5700)
    assert (first.contacts, first.dials, first.rpc_rate) == (3, 2, 0.5)
    assert (first.promises_made, first.promise_kept_rate) == (1, 0.0)
    assert (second.rank, second.name, second.open_cases, second.collected) == (
        2,
        "催收员甲",
        1,
        500,
    )
    assert second.recovery_rate == approx(500 / 1500)
    assert (second.contacts, second.dials) == (3, 3)
    assert second.rpc_rate == approx(1 / 3)
    assert (second.promises_made, second.promise_kept_rate) == (1, 1.0)


def test_alerts_by_type_and_blocked_contacts_by_rule(engine, book):
    with connect(engine) as c:
        alerts = metrics.alerts_by_type(c, Scope(D1, D2))
        assert alerts.items == (("broken_promises", 2), ("missed_installments", 1))
        assert metrics.alerts_by_type(c, Scope(D1, D2, team_id=book.ids["A"])).total == 1
        assert metrics.alerts_by_type(c, Scope(D1, D3)).total == 4
        blocked = metrics.blocked_contacts_by_rule(c, Scope(D1, D2))
        assert blocked.total == 3  # the allowed check is not a blocked contact
        assert dict(blocked.items) == {"quiet_hours": 1, "daily_connected_calls": 1, "opt_out": 1}
        assert metrics.blocked_contacts_by_rule(c, Scope(D1, D2, region="北京")).total == 3
        assert metrics.blocked_contacts_by_rule(c, Scope(D1, D2, team_id=book.ids["B"])).items == (
            ("quiet_hours", 1),
        )
        with_today = metrics.blocked_contacts_by_rule(c, Scope(D1, D3))
        assert dict(with_today.items)["quiet_hours"] == 2
        shanghai = metrics.blocked_contacts_by_rule(c, Scope(D1, D2, region="上海"))
        assert (shanghai.total, shanghai.note) == (0, "no contact was blocked in the period")


# --- roll and cure rates ---------------------------------------------------------------------


def test_roll_rates_by_count_and_balance(engine, book):
    with connect(engine) as c:
        rolls = metrics.roll_rates(c, Scope(date(2025, 1, 1), date(2025, 12, 31)))
    assert rolls.months == ("2025-01", "2025-02", "2025-03")
    assert rolls.pairs == ("2025-01->2025-02", "2025-02->2025-03")
    first = rolls.counts["2025-01->2025-02"]
    assert (first["M1"]["M2"], first["M1"]["M0"], first["M0"]["M1"], first["M0"]["M0"]) == (
        1,
        1,
        1,
        0,
    )
    assert sum(n for row in first.values() for n in row.values()) == 3  # L6 has no February
    assert rolls.balances["2025-01->2025-02"]["M1"]["M2"] == Decimal(100)
    assert rolls.rate("2025-01->2025-02", "M1", "M2") == 0.5
    assert rolls.rate("2025-01->2025-02", "M1", "M2", by="balance") == approx(100 / 150)
    assert rolls.roll_forward("2025-01->2025-02") == {
        "M0": 1.0,
        "M1": 0.5,
        "M2": None,
        "M3": None,
    }
    second = rolls.counts["2025-02->2025-03"]
    assert (second["M2"]["M3"], second["M0"]["M0"], second["M1"]["M0"]) == (1, 1, 1)
    document = json.loads(rolls.as_json())
    assert document == {
        "months": ["2025-01", "2025-02", "2025-03"],
        "buckets": ["M0", "M1", "M2", "M3", "M4+"],
        "transitions": rolls.counts,
    }
    assert document["transitions"]["2025-01->2025-02"]["M1"] == {
        "M0": 1,
        "M1": 0,
        "M2": 1,
        "M3": 0,
        "M4+": 0,
    }


def test_roll_rates_filters(engine, book):
    year = (date(2025, 1, 1), date(2025, 12, 31))
    with connect(engine) as c:
        cash = metrics.roll_rates(c, Scope(*year, product="cash_loan")).counts  # L1, L2
        beijing = metrics.roll_rates(c, Scope(*year, region="北京")).counts  # L1, L3
        team_a = metrics.roll_rates(c, Scope(*year, team_id=book.ids["A"])).counts  # L1, L2
    pair = "2025-01->2025-02"
    assert (cash[pair]["M1"]["M2"], cash[pair]["M1"]["M0"], cash[pair]["M0"]["M1"]) == (1, 1, 0)
    assert (beijing[pair]["M1"]["M2"], beijing[pair]["M1"]["M0"]) == (1, 0)
    assert beijing[pair]["M0"]["M1"] == 1
    assert team_a == cash


def test_cure_rates(engine, book):
    with connect(engine) as c:
        cures = metrics.cure_rates(c, Scope(date(2025, 1, 1), date(2025, 3, 31)))
    rows = {(r.pair, r.bucket): r for r in cures.rows}
    january = rows[("2025-01->2025-02", "M1")]
    assert (january.accounts, january.cured, january.rate) == (2, 1, 0.5)
    assert january.balance_rate == approx(50 / 150)
    assert rows[("2025-02->2025-03", "M2")].rate == 0.0
    assert rows[("2025-02->2025-03", "M1")].rate == 1.0
    overall = {r.pair: r for r in cures.overall}
    assert (overall["2025-02->2025-03"].accounts, overall["2025-02->2025-03"].cured) == (2, 1)


# --- champion / challenger -------------------------------------------------------------------


def test_strategy_arm_results_with_confidence_intervals(engine, book):
    with connect(engine) as c:
        results = metrics.strategy_arm_results(c, Scope(D1, D3))
    arms = {a.arm: a for a in results.arms}
    # Champion: K2 (paid on D2: cured, 300 collected) and K3 (1000); challenger: K1 (200 + 50)
    # and K5 (nothing); K1 was a champion before its decision on D1.
    champion, challenger = arms["champion"], arms["challenger"]
    assert (champion.cases, champion.cured, champion.collected) == (2, 1, Decimal(1300))
    assert (challenger.cases, challenger.cured, challenger.collected) == (2, 0, Decimal(250))
    assert champion.sd_collected == approx(math.sqrt(245_000))
    assert results.cure_rate_difference == approx(-0.5)
    half_width = 1.959963984540054 * math.sqrt(0.5 * 0.5 / 2)
    assert results.cure_rate_ci == (approx(-0.5 - half_width), approx(-0.5 + half_width))
    assert results.collected_difference == approx(125 - 650)
    half_width = 1.959963984540054 * math.sqrt(245_000 / 2 + 31_250 / 2)
    assert results.collected_ci == (approx(-525 - half_width), approx(-525 + half_width))
    with connect(engine) as c:
        before = metrics.strategy_arm_results(c, Scope(D0, D0))
    assert [a.arm for a in before.arms] == ["champion"]
    assert before.note == "no case on the challenger arm in the scope"
    assert before.cure_rate_ci is None


# --- empty scopes, the JSON form, the data version -------------------------------------------

EVERY_METRIC = [
    metrics.overdue_rate,
    metrics.overdue_rate_trend,
    metrics.dpd_bucket_aging,
    metrics.recovery_rate,
    metrics.average_collection_cycle,
    metrics.promise_kept_rate,
    metrics.right_party_contact_rate,
    metrics.contacts_per_case,
    metrics.collected_by_collector,
    metrics.collected_by_team,
    metrics.collector_league_table,
    metrics.alerts_by_type,
    metrics.blocked_contacts_by_rule,
    metrics.roll_rates,
    metrics.cure_rates,
    metrics.strategy_arm_results,
]
EMPTY_SCOPES = {
    "future": Scope(date(2030, 1, 1), date(2030, 1, 31)),
    "backwards": Scope(D3, D0),
    "before any snapshot": Scope(date(2020, 1, 1), date(2020, 1, 31)),
    "no such team": Scope(D0, D3, team_id=999_999),
    "no such product": Scope(D0, D3, product="mortgage"),
    "no such region": Scope(D0, D3, region="火星"),
}


@pytest.mark.parametrize("metric", EVERY_METRIC, ids=lambda m: m.__name__)
def test_an_empty_scope_gives_an_empty_result_with_a_note(engine, book, metric):
    with connect(engine) as c:
        for name, scope in EMPTY_SCOPES.items():
            result = metric(c, scope)
            assert result.note, f"{metric.__name__} on {name}: no note"
            json.dumps(result.as_dict())  # well-formed


@pytest.mark.parametrize("metric", EVERY_METRIC, ids=lambda m: m.__name__)
def test_an_empty_database_gives_notes_not_errors(engine, metric):
    with connect(engine) as c:
        result = metric(c, Scope(D0, D3))
    assert result.note
    json.dumps(result.as_dict())


def test_as_dict_is_json(engine, book):
    with connect(engine) as c:
        tiles = metrics.dashboard_tiles(c, Scope(D1, D3))
    assert tiles["collected"] == Decimal(1550)
    for name, value in tiles.items():
        if name != "collected":
            document = json.loads(json.dumps(value.as_dict()))
            assert document["scope"]["start"] == "2025-03-01"
    assert tiles["recovery_rate"].as_dict()["collected"] == 1550.0


def test_the_data_version_moves_with_every_fact(engine, book):
    with connect(engine) as c:
        before = metrics.data_version(c)
    with Session(engine) as session, session.begin():
        book.session = session
        book.payment("L1", 1, at(D3, 12))
    with connect(engine) as c:
        after = metrics.data_version(c)
        assert after != before
        assert metrics.data_version(c) == after


# --- writing snapshots -----------------------------------------------------------------------


def test_a_day_before_the_latest_snapshot_is_refused(engine, book):
    with engine.begin() as connection, pytest.raises(SnapshotRefused, match="before the latest"):
        write_snapshot(connection, date(2025, 2, 27), by="test", source="tick")
    # Rewriting an earlier day from today's cases would lose what it was.
    with engine.begin() as connection, pytest.raises(SnapshotRefused, match="would be today's"):
        write_snapshot(connection, D1, by="test", source="tick")
    with engine.begin() as connection:
        again = write_snapshot(connection, D2, by="test", source="tick")  # the latest: fine
    assert (again.since, again.rows) == (D1, 6)  # one row per loan here
    with connect(engine) as c:
        assert metrics.overdue_rate(c, Scope(D1, D1)).overdue_accounts == 4
        assert metrics.recovery_rate(c, Scope(D1, D2)).collected == Decimal(1500)


def test_backfill_refuses_a_past_day_without_statements_and_a_future_day(engine, book):
    with engine.begin() as connection, pytest.raises(SnapshotRefused, match="cannot be recomp"):
        backfill(connection, date(2025, 3, 1), by="test")
    with engine.begin() as connection, pytest.raises(SnapshotRefused, match="after the business"):
        backfill(connection, date(2025, 3, 4), by="test")
    with engine.begin() as connection:
        results = backfill(connection, by="test")
    # The statement months before D3 are before the latest snapshot: only the business date.
    assert [(r.as_of, r.source) for r in results] == [(D3, "backfill")]
    with connect(engine) as c:
        runs = c.execute(select(PortfolioSnapshotRun.as_of)).scalars().all()
    assert sorted(runs) == [D0, D1, D2, D3]


def test_every_grain_of_a_day_adds_up_to_the_same_totals(engine, book):
    table = PortfolioSnapshot.__table__
    measures = ("accounts", "balance", "cases", "collected", "contacts", "entered", "closed")
    with connect(engine) as c:
        rows = c.execute(
            select(table.c.as_of, table.c.grain, *(func.sum(table.c[m]) for m in measures))
            .group_by(table.c.as_of, table.c.grain)
            .order_by(table.c.as_of, table.c.grain)
        ).all()
    by_day: dict[date, set[tuple]] = {}
    for day, _grain, *totals in rows:
        by_day.setdefault(day, set()).add(tuple(totals))
    assert sorted(by_day) == [D0, D1, D2]
    assert all(len(totals) == 1 for totals in by_day.values()), by_day
    with connect(engine) as c:
        grains = c.execute(select(table.c.grain).distinct()).scalars().all()
    assert sorted(grains) == ["collector", "detail", "portfolio"]
