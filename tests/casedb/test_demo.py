"""The demo portfolio: generated people, contacts and promises on top of the real UCI import."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from casedb import pii
from casedb.demo import build_demo
from casedb.importing.uci import UciImport
from casedb.models import (
    ChangeEvent,
    CollectionCase,
    Collector,
    ContactAttempt,
    ContactPoint,
    Customer,
    EventKind,
    PromiseToPay,
    Team,
    ThirdPartyContact,
)
from casedb.session import session_factory

BUSINESS_DATE = date(2005, 9, 30)
UCI_ROWS = 300
# GB/T 2260: the first two digits of a resident ID name the province.
PROVINCE_CODES = {
    "北京": "11", "天津": "12", "河北": "13", "山西": "14", "内蒙古": "15", "辽宁": "21",
    "吉林": "22", "黑龙江": "23", "上海": "31", "江苏": "32", "浙江": "33", "安徽": "34",
    "福建": "35", "江西": "36", "山东": "37", "河南": "41", "湖北": "42", "湖南": "43",
    "广东": "44", "广西": "45", "海南": "46", "重庆": "50", "四川": "51", "贵州": "52",
    "云南": "53", "西藏": "54", "陕西": "61", "甘肃": "62", "青海": "63", "宁夏": "64",
    "新疆": "65",
}  # fmt: skip
CONNECTED = {
    "rpc", "ptp", "refused_to_pay", "dispute", "hardship", "already_paid", "cease_requested",
    "wrong_number", "third_party_reached", "third_party_refused",
}  # fmt: skip
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def uci_portfolio(engine: Engine, uci_csv: Path, tmp_path: Path) -> Engine:
    """The first 300 accounts of the real UCI file, imported as ``run.py import uci`` would."""
    small = tmp_path / "uci_small.csv"
    with uci_csv.open(encoding="utf-8") as source:
        lines = [next(source) for _ in range(UCI_ROWS + 1)]
    small.write_text("".join(lines), encoding="utf-8")
    report = UciImport(engine, small).run()
    assert report.ok, report.summary()
    return engine


def _session(engine: Engine) -> Session:
    return session_factory(engine)()


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the demo generates, with references spelled as external ids."""
    cp, tp, ca, ptp = ContactPoint, ThirdPartyContact, ContactAttempt, PromiseToPay
    with _session(engine) as s:
        return {
            "customers": sorted(
                (c.customer_no, c.name, c.birth_date, c.id_number, c.region, c.city, c.timezone)
                for c in s.scalars(select(Customer))
            ),
            "contact_points": sorted(
                (p.contact_point_no, p.kind, p.value, p.consent, p.ceased, p.opted_out, p.invalid)
                for p in s.scalars(select(cp))
            ),
            "third_parties": sorted(
                (t.third_party_no, t.name, t.relationship_to_debtor, t.phone, t.refused_contact)
                for t in s.scalars(select(tp))
            ),
            "attempts": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        ca.attempt_no,
                        ca.channel,
                        ca.party,
                        ca.direction,
                        ca.started_at,
                        ca.outcome,
                        ca.duration_seconds,
                        ca.notes,
                        ca.collector_id,
                        cp.contact_point_no,
                        tp.third_party_no,
                    )
                    .outerjoin(cp, cp.id == ca.contact_point_id)
                    .outerjoin(tp, tp.id == ca.third_party_contact_id)
                )
            ),
            "promises": sorted(
                tuple(r)
                for r in s.execute(
                    select(
                        ptp.promise_no,
                        ptp.amount,
                        ptp.promised_for,
                        ptp.status,
                        ptp.amount_paid,
                        ptp.resolved_on,
                        ca.attempt_no,
                    ).join(ca, ca.id == ptp.contact_attempt_id)
                )
            ),
        }


def _events(engine: Engine) -> int:
    with _session(engine) as s:
        return s.scalar(select(func.count()).select_from(ChangeEvent))


def _id_check_character(first_17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first_17, weights, strict=True))
    return "10X98765432"[total % 11]


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_refuses_to_build_without_the_uci_portfolio(engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"import the UCI portfolio first: python run\.py import"):
        build_demo(engine, seed=1)


def test_same_seed_twice_changes_nothing(uci_portfolio: Engine) -> None:
    first = build_demo(uci_portfolio, seed=7)
    assert first.count("customer").updated == UCI_ROWS
    assert first.count("contact_point").inserted >= UCI_ROWS
    assert first.count("contact_attempt").inserted > 0
    assert first.count("promise_to_pay").inserted > 0
    before, events = _snapshot(uci_portfolio), _events(uci_portfolio)

    second = build_demo(uci_portfolio, seed=7)

    assert not second.changed, second.summary()
    assert second.events == 0
    assert second.count("customer").unchanged == UCI_ROWS
    assert _snapshot(uci_portfolio) == before
    assert _events(uci_portfolio) == events
    assert "customer" in second.summary()


def test_another_seed_gives_other_people_and_exactly_its_own_history(
    uci_portfolio: Engine,
) -> None:
    build_demo(uci_portfolio, seed=1)
    names_1 = {row[0]: row[1] for row in _snapshot(uci_portfolio)["customers"]}
    build_demo(uci_portfolio, seed=2)
    switched = _snapshot(uci_portfolio)
    names_2 = {row[0]: row[1] for row in switched["customers"]}
    differing = sum(names_1[no] != names_2[no] for no in names_1)
    assert differing > 0.9 * UCI_ROWS

    # Nothing of seed 1 is left behind: the result is what a fresh build with seed 2 gives.
    with _session(uci_portfolio) as s, s.begin():
        for model in (PromiseToPay, ContactAttempt, ThirdPartyContact, ContactPoint):
            s.execute(delete(model))
    build_demo(uci_portfolio, seed=2)
    assert _snapshot(uci_portfolio) == switched


def test_generated_rows_the_seed_does_not_produce_are_removed(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=11)
    before = _snapshot(uci_portfolio)
    with _session(uci_portfolio) as s, s.begin():
        case = s.scalars(select(CollectionCase).order_by(CollectionCase.case_no)).first()
        stray_point = ContactPoint(
            contact_point_no=f"DEMO-CP-{case.customer.customer_no}-X",
            customer_id=case.customer_id,
            kind="work_phone",
        )
        stray_point.value = "010-88886666"
        s.add(stray_point)
        s.flush()
        s.add(
            ContactAttempt(
                attempt_no=f"DEMO-CA-{case.case_no}-99",
                case_id=case.id,
                customer_id=case.customer_id,
                contact_point_id=stray_point.id,
                channel="call",
                started_at=datetime(2005, 9, 29, 2, tzinfo=UTC),
                outcome="no_answer",
            )
        )

    report = build_demo(uci_portfolio, seed=11)

    assert report.count("contact_attempt").removed == 1
    assert report.count("contact_point").removed == 1
    assert _snapshot(uci_portfolio) == before


def test_customers_get_consistent_chinese_identities(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=3)
    with _session(uci_portfolio) as s:
        customers = list(s.scalars(select(Customer)))
    assert len(customers) == UCI_ROWS
    for c in customers:
        assert CJK.fullmatch(c.name[0]), c.name
        assert 2 <= len(c.name) <= 4, c.name
        assert c.region in PROVINCE_CODES
        assert c.timezone == ("Asia/Urumqi" if c.region == "新疆" else "Asia/Shanghai")
        ZoneInfo(c.timezone)  # a real IANA name
        number = c.id_number
        assert c.id_type == "resident_id"
        assert re.fullmatch(r"\d{17}[\dX]", number), number
        assert number[17] == _id_check_character(number[:17]), number
        assert number[:2] == PROVINCE_CODES[c.region]
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        assert born == c.birth_date
        assert _age_on(born, BUSINESS_DATE) == c.age
        assert int(number[16]) % 2 == (1 if c.gender == "male" else 0)
        assert c.id_number_masked == pii.mask_id_number(number)
        assert c.id_number_masked == number[:6] + "********" + number[-4:]
        assert c.id_number_digest == pii.id_number_digest(number)
        assert c.attributes["demo_generated"] == [
            "name",
            "birth_date",
            "id_type",
            "id_number",
            "region",
            "city",
            "timezone",
        ]
        assert c.attributes["demo_seed"] == 3
        assert {"SEX", "EDUCATION", "MARRIAGE"} <= set(c.attributes)  # the UCI facts stay
        assert c.source == "uci"
    assert len({c.region for c in customers}) > 10


def test_phones_are_china_mobiles_and_shown_masked(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=4)
    with _session(uci_portfolio) as s:
        points = list(s.scalars(select(ContactPoint)))
        parties = list(s.scalars(select(ThirdPartyContact)))
        customers = {c.id: c for c in s.scalars(select(Customer))}
    mobiles = [p for p in points if p.kind == "mobile"]
    assert sorted(p.customer_id for p in mobiles) == sorted(customers)
    assert all(p.contact_point_no.startswith("DEMO-CP-") for p in points)
    for p in mobiles:
        assert re.fullmatch(r"1[3-9]\d{9}", p.value), p.value
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", p.value_masked)
        assert p.value_masked == p.value[:3] + "****" + p.value[-4:]
        assert p.value_digest == pii.phone_digest(p.value)
        assert p.is_primary
        assert p.timezone == customers[p.customer_id].timezone
        assert p.region == customers[p.customer_id].region
        assert p.ceased == (p.ceased_at is not None)
        assert p.opted_out == (p.opted_out_at is not None)
    emails = [p for p in points if p.kind == "email"]
    assert emails
    assert all("@" in p.value and p.value_masked.endswith(p.value.split("@")[1]) for p in emails)
    assert any(p.kind == "home_phone" for p in points)
    assert {p.consent for p in mobiles} <= {"unknown", "granted"}

    with _session(uci_portfolio) as s:
        in_case = set(s.scalars(select(CollectionCase.customer_id)))
    assert parties
    assert {t.customer_id for t in parties} <= in_case
    assert 0.3 * len(in_case) <= len(parties) <= 0.7 * len(in_case)
    for t in parties:
        assert t.third_party_no.startswith("DEMO-TP-")
        assert re.fullmatch(r"1[3-9]\d{9}", t.phone)
        assert t.phone_masked == t.phone[:3] + "****" + t.phone[-4:]
        assert t.phone_digest == pii.phone_digest(t.phone)
        assert t.refused_contact == (t.refused_at is not None)


def test_contact_history_happens_in_the_debtors_daytime(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=5)
    with _session(uci_portfolio) as s:
        rows = s.execute(
            select(ContactAttempt, Customer.timezone, CollectionCase.opened_on)
            .join(Customer, Customer.id == ContactAttempt.customer_id)
            .join(CollectionCase, CollectionCase.id == ContactAttempt.case_id)
        ).all()
        collectors = set(s.scalars(select(Collector.id)))
    assert rows
    outcomes = [a.outcome for a, _, _ in rows]
    assert max(set(outcomes), key=outcomes.count) == "no_answer"
    for attempt, zone, opened_on in rows:
        assert attempt.attempt_no.startswith("DEMO-CA-")
        assert attempt.local_timezone == zone
        local = attempt.started_at.astimezone(ZoneInfo(zone))
        assert time(8) <= local.time() < time(21), (attempt.attempt_no, local)
        assert max(date(2005, 8, 1), opened_on) <= local.date() <= BUSINESS_DATE
        assert attempt.collector_id in collectors
        connected = attempt.channel == "call" and attempt.outcome in CONNECTED
        assert (attempt.duration_seconds > 0) == connected, attempt.attempt_no
        if connected:
            assert CJK.search(attempt.notes or ""), attempt.notes
        if attempt.party == "debtor":
            assert attempt.contact_point_id is not None
        else:
            assert attempt.third_party_contact_id is not None
    assert {a.channel for a, _, _ in rows} >= {"call", "sms"}
    assert sum(a.party == "debtor" for a, _, _ in rows) > 0.8 * len(rows)


def test_promises_follow_their_contact_and_resolve_consistently(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=6)
    with _session(uci_portfolio) as s:
        rows = s.execute(
            select(PromiseToPay, ContactAttempt, CollectionCase)
            .join(ContactAttempt, ContactAttempt.id == PromiseToPay.contact_attempt_id)
            .join(CollectionCase, CollectionCase.id == PromiseToPay.case_id)
        ).all()
        ptp_contacts = s.scalar(
            select(func.count()).where(ContactAttempt.outcome == "ptp").select_from(ContactAttempt)
        )
    assert rows
    assert len(rows) == ptp_contacts
    for promise, contact, case in rows:
        assert promise.promise_no.startswith("DEMO-PTP-")
        assert contact.outcome == "ptp"
        assert contact.case_id == promise.case_id
        assert promise.collector_id == contact.collector_id
        assert 0 < promise.amount <= case.overdue_amount
        made_on = contact.started_at.astimezone(ZoneInfo(contact.local_timezone)).date()
        assert 1 <= (promise.promised_for - made_on).days <= 10
        if promise.promised_for >= BUSINESS_DATE:
            assert promise.status == "pending"
            assert promise.amount_paid == 0
            assert promise.resolved_on is None
            continue
        assert promise.status in {"kept", "partly_kept", "broken"}
        assert promise.resolved_on is not None
        if promise.status == "kept":
            assert promise.amount_paid == promise.amount
            assert made_on < promise.resolved_on <= promise.promised_for
        elif promise.status == "partly_kept":
            assert 0 < promise.amount_paid < promise.amount
        else:
            assert promise.amount_paid == 0
            assert promise.resolved_on > promise.promised_for
    # Cases are left for the rules service to assign.
    with _session(uci_portfolio) as s:
        assigned = s.scalar(
            select(func.count())
            .select_from(CollectionCase)
            .where(
                (CollectionCase.team_id.is_not(None)) | (CollectionCase.collector_id.is_not(None))
            )
        )
    assert assigned == 0


def test_logged_contacts_and_promises_raise_change_events(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=8)
    with _session(uci_portfolio) as s:
        events = list(s.scalars(select(ChangeEvent).where(ChangeEvent.actor == "demo")))
        attempts = set(s.scalars(select(ContactAttempt.attempt_no)))
        promises = {p.promise_no: p.status for p in s.scalars(select(PromiseToPay))}
    logged = {e.payload["attempt_no"] for e in events if e.kind == EventKind.CONTACT_LOGGED}
    made = {e.payload["promise_no"] for e in events if e.kind == EventKind.PROMISE_MADE}
    kept = {e.payload["promise_no"] for e in events if e.kind == EventKind.PROMISE_KEPT}
    broken = {e.payload["promise_no"] for e in events if e.kind == EventKind.PROMISE_BROKEN}
    assert logged == attempts
    assert made == set(promises)
    assert kept == {no for no, status in promises.items() if status in {"kept", "partly_kept"}}
    assert broken == {no for no, status in promises.items() if status == "broken"}
    assert all(e.case_id is not None for e in events)


def test_teams_and_collectors_to_work_the_demo(uci_portfolio: Engine) -> None:
    build_demo(uci_portfolio, seed=9)
    with _session(uci_portfolio) as s:
        teams = {t.code: t for t in s.scalars(select(Team))}
        collectors = list(s.scalars(select(Collector).order_by(Collector.id)))
    assert len(teams) >= 5
    assert all(code.startswith("DEMO-T-") for code in teams)
    assert {"早期提醒组", "法务组", "大额专案组"} <= {t.name for t in teams.values()}
    assert len(collectors) >= 20
    assert [c.username for c in collectors] == [f"collector{n}" for n in range(1, 21)]
    for c in collectors:
        assert c.code.startswith("DEMO-C-")
        assert CJK.match(c.name)
        assert c.team_id in {t.id for t in teams.values()}
        assert set(c.skills) <= {"high_balance", "legal", "hardship", "cantonese", "english"}
        assert "zh" in c.languages
        assert set(c.regions) <= set(PROVINCE_CODES)
        assert 150 <= c.capacity <= 400
