"""Rebalancing: when a collector's capacity drops, or they leave or change team, the cases they can
no longer carry go to qualified teammates with room; cases mid-promise never move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from casedb.models import (
    OPEN_STATUSES,
    AuditEntry,
    ChangeEvent,
    CollectionCase,
    Collector,
    EventKind,
    Team,
)
from casedb.types import utcnow
from rules_service.rebalance import RebalanceResult, rebalance_collector
from rules_service.relay import CASE_LOCK_SPACE, Relay

Seat = Callable[..., None]


@pytest.fixture
def calls_team(run_import):
    """The calls team of three (CA and CC with the ``high_risk`` skill), and the early team."""
    run_import("teams", [["team_code", "name"], ["calls", "电话催收组"], ["early", "早期提醒组"]])
    run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "skills", "capacity"],
            ["CA", "王五", "calls", "high_risk", "5"],
            ["CB", "赵六", "calls", "", "5"],
            ["CC", "钱七", "calls", "high_risk", "5"],
            ["CE", "孙八", "early", "", "10"],
        ],
    )


@pytest.fixture
def seat(engine, run_import, calls_team) -> Seat:
    """Opens M2 cases of the calls team: ``seat(("K1", "CA", 90), ("K2", "CA", 10, "promised"))``
    gives each case its collector, priority score and status (default ``new``)."""

    def open_cases(*cases: tuple[Any, ...], risk_level: str = "") -> None:
        numbers = [case[0] for case in cases]
        run_import(
            "customers",
            [["customer_no", "姓名", "身份证号", "省份"]]
            + [[f"C{n}", n, "", "北京"] for n in numbers],
        )
        run_import(
            "loans",
            [["loan_no", "customer_no", "product", "principal", "annual_rate"]]
            + [[f"L{n}", f"C{n}", "cash_loan", "10000", "0.18"] for n in numbers],
        )
        header = ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"]
        header += ["risk_level", "team_code", "collector_code", "status"]
        rows = []
        for number, collector, _, *status in cases:
            rows.append([number, f"L{number}", "2025-01-01", "45", "100"])
            rows[-1] += [risk_level, "calls", collector, status[0] if status else "new"]
        run_import("cases", [header, *rows])
        with Session(engine, info={"actor": "test"}) as session, session.begin():
            for number, _, priority, *_ in cases:
                case = session.scalars(
                    select(CollectionCase).where(CollectionCase.case_no == number)
                ).one()
                case.priority_score = priority

    return open_cases


def holdings(engine: Engine) -> dict[str, set[str]]:
    """Each collector's open cases, by code."""
    with Session(engine) as session:
        rows = session.execute(
            select(Collector.code, CollectionCase.case_no)
            .join(CollectionCase, CollectionCase.collector_id == Collector.id)
            .where(CollectionCase.status.in_(OPEN_STATUSES))
        ).all()
    held: dict[str, set[str]] = {}
    for code, case_no in rows:
        held.setdefault(code, set()).add(case_no)
    return held


def edit_collector(engine: Engine, code: str, actor: str = "admin", **values: Any) -> None:
    """A console-style edit through the ORM, committed."""
    with Session(engine, info={"actor": actor}) as session, session.begin():
        collector = session.scalars(select(Collector).where(Collector.code == code)).one()
        for name, value in values.items():
            setattr(collector, name, value)


def rebalance(engine: Engine, code: str) -> dict[str, Any]:
    """Rebalances collector ``code`` as the rules service does; the result by case and collector
    codes."""
    with Session(engine, info={"actor": "rules-service"}) as session, session.begin():
        collector_id = session.scalars(select(Collector.id).where(Collector.code == code)).one()
        result = rebalance_collector(session, collector_id)
        return readable(session, result)


def readable(session: Session, result: RebalanceResult) -> dict[str, Any]:
    cases = dict(session.execute(select(CollectionCase.id, CollectionCase.case_no)).all())
    codes = dict(session.execute(select(Collector.id, Collector.code)).all())
    return {
        "moved": [(cases[c], codes[a], codes[b]) for c, a, b in result.moved],
        "kept_mid_promise": [cases[c] for c in result.kept_mid_promise],
        "no_room": [cases[c] for c in result.no_room],
        "busy": [cases[c] for c in result.busy],
    }


def collector_events(engine: Engine) -> list[ChangeEvent]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(ChangeEvent)
                .where(ChangeEvent.kind == EventKind.COLLECTOR_CHANGED)
                .order_by(ChangeEvent.id)
            )
        )


def collector_id(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        return session.scalars(select(Collector.id).where(Collector.code == code)).one()


def settle(engine: Engine) -> None:
    """Everything pending so far has been acted on (the tests below start from a quiet outbox)."""
    with engine.begin() as connection:
        connection.execute(update(ChangeEvent).values(delivered_at=utcnow()))


# --- which cases move, and where --------------------------------------------------------------


def test_lowering_capacity_moves_the_surplus_to_teammates_with_room_keeping_the_top_priorities(
    engine, seat
):
    seat(
        ("K1", "CA", 90),
        ("K2", "CA", 70),
        ("K3", "CA", 50),
        ("K4", "CA", 30),
        ("K5", "CA", 10),
        *[(f"B{i}", "CB", 50) for i in range(4)],  # room for one
        *[(f"C{i}", "CC", 50) for i in range(3)],  # room for two
    )
    edit_collector(engine, "CA", capacity=2)

    result = rebalance(engine, "CA")

    held = holdings(engine)
    assert held["CA"] == {"K1", "K2"}
    assert {case for case, _, _ in result["moved"]} == {"K3", "K4", "K5"}
    # The highest-priority case given up is placed first, with the least loaded teammate.
    assert result["moved"][0] == ("K3", "CA", "CC")
    assert (len(held["CB"]), len(held["CC"])) == (5, 5)
    assert result["kept_mid_promise"] == result["no_room"] == []


def test_a_collector_who_leaves_gives_up_every_open_case_except_those_mid_promise(engine, seat):
    seat(
        ("K1", "CA", 90),
        ("K2", "CA", 50, "promised"),
        ("K3", "CA", 30),
        ("K4", "CA", 20, "paid"),  # closed: no longer anyone's load
    )
    edit_collector(engine, "CA", active=False)

    result = rebalance(engine, "CA")

    assert holdings(engine)["CA"] == {"K2"}
    assert sorted(case for case, _, _ in result["moved"]) == ["K1", "K3"]
    assert result["kept_mid_promise"] == ["K2"]
    with Session(engine) as session:
        paid = session.scalars(select(CollectionCase).where(CollectionCase.case_no == "K4")).one()
        assert paid.collector.code == "CA"


def test_mid_promise_cases_take_their_place_first_and_never_move(engine, seat):
    seat(
        ("K1", "CA", 90),
        ("K2", "CA", 10, "promised"),
        ("K3", "CA", 5, "promised"),
    )
    edit_collector(engine, "CA", capacity=1)

    result = rebalance(engine, "CA")

    # K2 takes the one place (the promise runs), K1 moves although its priority is higher, and
    # K3 stays beyond capacity rather than move mid-promise.
    assert holdings(engine)["CA"] == {"K2", "K3"}
    assert [case for case, _, _ in result["moved"]] == ["K1"]
    assert result["kept_mid_promise"] == ["K3"]


def test_a_collector_who_changes_team_gives_up_the_old_teams_cases(engine, seat):
    seat(("K1", "CA", 90), ("K2", "CA", 50, "promised"))
    with Session(engine, info={"actor": "admin"}) as session, session.begin():
        collector = session.scalars(select(Collector).where(Collector.code == "CA")).one()
        # What the console's form does: it sets the relationship, not the column.
        collector.team = session.scalars(select(Team).where(Team.code == "early")).one()

    result = rebalance(engine, "CA")

    assert holdings(engine)["CA"] == {"K2"}
    assert [(case, to in {"CB", "CC"}) for case, _, to in result["moved"]] == [("K1", True)]
    (event,) = collector_events(engine)
    with Session(engine) as session:
        calls, early = (
            session.scalars(select(Team.id).where(Team.code == code)).one()
            for code in ("calls", "early")
        )
    assert event.payload["changes"] == {"team_id": {"old": calls, "new": early}}


def test_nobody_with_room_leaves_the_case_where_it_is_and_reports_it(engine, seat):
    seat(("K1", "CA", 90), ("K2", "CA", 50), ("K3", "CA", 30), ("C1", "CC", 50))
    edit_collector(engine, "CB", capacity=0)
    edit_collector(engine, "CC", capacity=2)  # room for one more
    edit_collector(engine, "CA", capacity=1)

    result = rebalance(engine, "CA")

    # The one free place goes to the more important of the two cases given up.
    assert result["moved"] == [("K2", "CA", "CC")]
    assert result["no_room"] == ["K3"]
    assert holdings(engine)["CA"] == {"K1", "K3"}
    with Session(engine) as session:  # the cases that stayed have no entry in the trail
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == "rules-service")
        ).all()
    assert [(e.table_name, e.after) for e in entries] == [
        ("collection_case", {"collector_id": collector_id(engine, "CC")})
    ]


def test_a_case_needing_a_skill_only_goes_to_a_teammate_with_it(
    engine, seat, run_import, published
):
    seat(("H1", "CA", 50), risk_level="HIGH")  # M2 and high risk: the table asks for high_risk
    seat(("N1", "CB", 50), ("N2", "CC", 50))
    Relay(engine).run(once=True)  # the tables decide, and record the skill each case needs
    assert holdings(engine) == {"CA": {"H1"}, "CB": {"N1"}, "CC": {"N2"}}
    edit_collector(engine, "CA", active=False)

    Relay(engine).run(once=True)

    # CB is as loaded as CC and comes first, but has not the skill the decision requires.
    assert holdings(engine) == {"CB": {"N1"}, "CC": {"N2", "H1"}}


# --- the event, and the relay applying it -------------------------------------------------------


def test_a_console_edit_emits_one_event_that_the_relay_applies_once(engine, seat, published):
    seat(*[(f"K{i}", "CA", 10 * i) for i in range(1, 5)])
    settle(engine)
    edit_collector(engine, "CA", capacity=2, name="王五五")

    (event,) = collector_events(engine)
    assert event.case_id is None and event.actor == "admin" and event.delivered_at is None
    assert event.payload == {
        "collector_id": collector_id(engine, "CA"),
        "changes": {"capacity": {"old": 5, "new": 2}},
    }
    with Session(engine) as session:
        last_audit = session.scalar(select(func.max(AuditEntry.id)))

    assert Relay(engine).run(once=True) == 1

    assert holdings(engine)["CA"] == {"K4", "K3"}
    with Session(engine) as session:
        moves = session.scalars(
            select(AuditEntry).where(
                AuditEntry.id > last_audit, AuditEntry.table_name == "collection_case"
            )
        ).all()
        assert {entry.actor for entry in moves} == {"rules-service"}
        ca = collector_id(engine, "CA")
        assert [(e.before["collector_id"], e.after["collector_id"] != ca) for e in moves] == [
            (ca, True),
            (ca, True),
        ]
        # The rules service writes no events for its own moves.
        assert session.scalar(select(func.count()).where(ChangeEvent.delivered_at.is_(None))) == 0

    # Running again, or the event delivered twice, moves nothing more.
    before = holdings(engine)
    assert Relay(engine).run(once=True) == 0
    with engine.begin() as connection:
        connection.execute(
            update(ChangeEvent)
            .where(ChangeEvent.kind == EventKind.COLLECTOR_CHANGED)
            .values(delivered_at=None)
        )
    assert Relay(engine).run(once=True) == 1
    assert holdings(engine) == before
    with Session(engine) as session:
        assert session.scalar(
            select(func.count()).where(
                AuditEntry.id > last_audit, AuditEntry.table_name == "collection_case"
            )
        ) == len(moves)


def test_raising_capacity_or_other_edits_emit_no_event(engine, calls_team):
    edit_collector(engine, "CA", capacity=50)
    edit_collector(engine, "CB", name="赵六六", skills=["legal"], languages=["yue"])
    edit_collector(engine, "CC", active=True)  # unchanged
    assert collector_events(engine) == []


def test_an_edit_knows_the_old_capacity_even_when_it_was_not_loaded(engine, calls_team):
    with Session(engine, info={"actor": "admin"}) as session:  # expires everything on commit
        collector = session.scalars(select(Collector).where(Collector.code == "CA")).one()
        session.commit()
        collector.capacity = 3
        session.commit()
    (event,) = collector_events(engine)
    assert event.payload["changes"] == {"capacity": {"old": 5, "new": 3}}


def test_an_import_that_takes_room_away_emits_the_same_event(engine, calls_team, run_import):
    report = run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "capacity", "active"],
            ["CA", "王五", "calls", "3", "true"],  # capacity down
            ["CB", "赵六", "calls", "5", "false"],  # leaves
            ["CC", "钱七", "calls", "9", "true"],  # more room: nothing to do
        ],
    )
    events = collector_events(engine)
    assert [(e.payload["collector_id"], e.payload["changes"]) for e in events] == [
        (collector_id(engine, "CA"), {"capacity": {"old": 5, "new": 3}}),
        (collector_id(engine, "CB"), {"active": {"old": True, "new": False}}),
    ]
    assert {e.actor for e in events} == {f"import:{report.batch_id}"}


def test_a_case_another_process_is_working_on_waits_and_the_event_is_taken_again(
    engine, seat, published
):
    if engine.dialect.name != "postgresql":
        pytest.skip("per-case locks are PostgreSQL's; SQLite serialises the writers")
    seat(("K1", "CA", 90), ("K2", "CA", 50), ("K3", "CA", 30))
    settle(engine)
    edit_collector(engine, "CA", capacity=1)
    with Session(engine) as session:
        k3 = session.scalars(select(CollectionCase.id).where(CollectionCase.case_no == "K3")).one()

    with engine.connect() as other:  # another relay process has K3
        other.execute(
            text("SELECT pg_advisory_xact_lock(:space, :case_id)"),
            {"space": CASE_LOCK_SPACE, "case_id": k3},
        )
        assert Relay(engine).run(once=True) == 0
        assert holdings(engine)["CA"] == {"K1", "K3"}  # K2 moved, K3 waits
        (event,) = collector_events(engine)
        assert event.delivered_at is None
        other.rollback()

    assert Relay(engine).run(once=True) == 1
    assert holdings(engine)["CA"] == {"K1"}
