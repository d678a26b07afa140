"""Deciding every open case again: after a publish, by hand, in chunks shared by processes."""

from __future__ import annotations

import os
import signal
import time

import durable_rules_engine
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from casedb.audit import verify
from casedb.models import (
    AuditEntry,
    CaseStatus,
    CollectionCase,
    Collector,
    ReevaluationChunk,
    ReevaluationRun,
    RuleDecision,
)
from rules_service.bulk_decide import Reevaluator
from rules_service.case_facts import case_facts, facts_of_cases
from rules_service.decision_table import Kind, from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.policy import Policy, publish_all
from rules_service.reevaluation import request_reevaluation
from rules_service.relay import Relay
from run import cli
from tests.rules_service.test_service import _service, many_cases

CASES = 60


def priority_v2(version: int = 2):
    """The shipped priority table as a new version with every score raised by 1000."""
    document = to_dict(default_policy()["priority"])
    document["version"] = version
    for row in document["rows"]:
        row["then"]["score"] += 1000
    return from_json(document)


@pytest.fixture
def decided(engine, staff, run_import, published):
    """60 open cases, decided once through the outbox; returns the relay."""
    many_cases(run_import, CASES)
    relay = Relay(engine)
    relay.run(once=True)
    return relay


def count(engine, model, *where) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model).where(*where))


def test_facts_read_for_a_chunk_are_the_facts_of_each_case_read_alone(
    engine, session, staff, run_import
):
    many_cases(run_import, 30)
    ids = session.scalars(select(CollectionCase.id)).all()
    together = facts_of_cases(session, ids)
    assert set(together) == set(ids)
    for case_id in ids:
        assert together[case_id] == case_facts(session, case_id)
    assert len({facts["ab_bucket"] for facts in together.values()}) > 5


def test_publishing_a_version_redecides_every_open_case_by_that_table(engine, decided):
    with Session(engine) as session, session.begin():
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.case_no.in_(["MK0", "MK1"]))
            .values(status=CaseStatus.PAID)
        )
        publish_all(session, [priority_v2()], by="analyst")
    with Session(engine) as session:
        run = session.scalars(select(ReevaluationRun).order_by(ReevaluationRun.id.desc())).first()
        assert (run.kinds, run.cases, run.requested_by) == (["priority"], CASES - 2, "analyst")
        assert "priority v2" in run.reason
    decided.run(once=True)
    assert decided.reevaluated == CASES - 2
    with Session(engine) as session:
        scores = dict(
            session.execute(select(CollectionCase.case_no, CollectionCase.priority_score)).all()
        )
        assert all(scores[f"MK{i}"] > 1000 for i in range(2, CASES))
        assert scores["MK0"] < 1000 and scores["MK1"] < 1000  # closed cases are left alone
        new = session.scalars(select(RuleDecision).where(RuleDecision.event_id.is_(None))).all()
        assert {(d.ruleset, d.version) for d in new} == {("priority", 2)}
        assert len(new) == CASES - 2
        assert all(d.rows and d.outputs[0]["then"]["score"] > 1000 for d in new)
        assert session.get(ReevaluationRun, run.id).finished_at is not None


def test_changes_are_audited_per_chunk_and_an_unchanged_decision_is_not_recorded_again(
    engine, decided
):
    with Session(engine) as session, session.begin():
        publish_all(session, [priority_v2()], by="analyst")
    decided.run(once=True)
    entries = count(engine, AuditEntry, AuditEntry.action == "reevaluate")
    assert entries == 1  # 60 cases, one chunk
    with Session(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "reevaluate")).one()
        assert entry.actor == "rules-service"
        assert len(entry.after) == CASES
        case_id, change = next(iter(entry.after.items()))
        assert change["priority_score"] > 1000
        assert entry.before[case_id]["priority_score"] < 1000
        assert verify(session) is None
    recorded = count(engine, RuleDecision)
    # Asked again by hand: the same version comes to the same rows, so nothing new is written.
    with Session(engine) as session, session.begin():
        request_reevaluation(session, "by hand")
    decided.run(once=True)
    assert decided.reevaluated == 2 * CASES
    assert count(engine, RuleDecision) == recorded
    assert count(engine, AuditEntry, AuditEntry.action == "reevaluate") == 1


def test_a_moved_case_is_moved_back_and_the_decision_that_did_it_is_recorded(engine, decided):
    with Session(engine) as session, session.begin():
        case = session.scalars(select(CollectionCase).where(CollectionCase.case_no == "MK7")).one()
        decided_collector = case.collector_id
        other = session.scalars(
            select(Collector).where(
                Collector.team_id == case.team_id, Collector.id != case.collector_id
            )
        ).first()
        case.collector_id = None
        case.team_id = other.team_id
        request_reevaluation(session, "by hand", [Kind.ASSIGNMENT])
    decided.run(once=True)
    with Session(engine) as session:
        case = session.scalars(select(CollectionCase).where(CollectionCase.case_no == "MK7")).one()
        assert case.collector_id is not None
        latest = session.scalars(
            select(RuleDecision)
            .where(RuleDecision.case_id == case.id, RuleDecision.event_id.is_(None))
            .order_by(RuleDecision.id.desc())
        ).first()
        assert latest.kind == "assignment" and latest.applied["collector"]
        assert decided_collector is not None


def test_bulk_assignment_respects_capacity_and_leaves_promised_cases(engine, decided):
    with Session(engine) as session, session.begin():
        session.execute(update(Collector).values(capacity=12))
        session.execute(update(CollectionCase).values(collector_id=None, team_id=None))
        session.execute(
            update(CollectionCase)
            .where(CollectionCase.case_no == "MK3")
            .values(status=CaseStatus.PROMISED)
        )
        request_reevaluation(session, "capacity", [Kind.ASSIGNMENT], chunk_size=7)
    decided.run(once=True)
    with Session(engine) as session:
        loads = dict(
            session.execute(
                select(CollectionCase.collector_id, func.count())
                .where(CollectionCase.collector_id.is_not(None))
                .group_by(CollectionCase.collector_id)
            ).all()
        )
        assert loads and max(loads.values()) <= 12
        promised = session.scalars(
            select(CollectionCase).where(CollectionCase.case_no == "MK3")
        ).one()
        assert promised.collector_id is None
        assert count(engine, ReevaluationChunk, ReevaluationChunk.done_at.is_(None)) == 0


def test_a_version_that_fails_in_the_engine_is_isolated_and_the_last_good_one_decides(
    engine, decided
):
    relay = decided
    with Session(engine) as session, session.begin():
        publish_all(session, [priority_v2(version=3)], by="analyst")
    relay.refresh()
    broken = relay.policy.current[Kind.PRIORITY]
    assert broken.table.version == 3
    # The version's ruleset dies inside the engine (durable-rules answers error 111 from now on).
    ruleset = relay.policy.engine._host._ruleset_directory[broken.engine_name]
    durable_rules_engine.delete_ruleset(ruleset._handle)
    relay.run(once=True)
    assert relay.policy.current[Kind.PRIORITY].table.version == 1
    assert broken.published_id in relay.policy.refused
    with Session(engine) as session:
        alert = session.scalars(select(AuditEntry).where(AuditEntry.action == "isolate")).one()
        assert alert.after["ruleset"] == "priority" and alert.after["version"] == 3
        assert alert.after["running_instead"] == "priority__v1"
        assert "error 111" in alert.after["reason"]
        assert max(session.scalars(select(CollectionCase.priority_score))) < 1000
        assert count(engine, ReevaluationChunk, ReevaluationChunk.done_at.is_(None)) == 0
    # It stays isolated: the next refresh does not bring it back.
    relay.refresh()
    assert relay.policy.current[Kind.PRIORITY].table.version == 1


def test_reevaluate_command_requests_and_works_a_run(cli_database, engine, decided):
    result = CliRunner().invoke(
        cli, ["rules", "reevaluate", "--kind", "priority", "--chunk-size", "25", "--work"]
    )
    assert result.exit_code == 0, result.output
    assert f"{CASES} open cases in 3 chunks" in result.output
    assert f"re-evaluated {CASES} cases" in result.output


def test_a_service_killed_mid_run_finishes_it_after_restart_with_each_case_decided_once(
    cli_database, engine, decided
):
    with Session(engine) as session, session.begin():
        publish_all(session, [priority_v2()], by="analyst")
        # Instead of the publish's run (one chunk), one of many small chunks.
        session.execute(update(ReevaluationChunk).values(done_at=func.now()))
        run = request_reevaluation(session, "small chunks", [Kind.PRIORITY], chunk_size=3)
        chunks = run.chunks
    service = _service(cli_database, "--poll", "0.1")
    deadline = time.monotonic() + 60
    while (
        count(engine, ReevaluationChunk, ReevaluationChunk.done_at.is_(None)) > chunks - 4
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    os.kill(service.pid, signal.SIGKILL)
    service.wait(timeout=10)
    left = count(engine, ReevaluationChunk, ReevaluationChunk.done_at.is_(None))
    assert 0 < left < chunks
    restarted = _service(cli_database, "--once")
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output
    assert count(engine, ReevaluationChunk, ReevaluationChunk.done_at.is_(None)) == 0
    with Session(engine) as session:
        per_case = session.execute(
            select(RuleDecision.case_id, func.count())
            .where(RuleDecision.event_id.is_(None))
            .group_by(RuleDecision.case_id)
        ).all()
        assert len(per_case) == CASES and {n for _, n in per_case} == {1}


def test_two_services_share_a_run_chunk_by_chunk(cli_database, engine, decided):
    if engine.dialect.name != "postgresql":
        pytest.skip("two processes share runs on PostgreSQL (FOR UPDATE SKIP LOCKED)")
    with Session(engine) as session, session.begin():
        publish_all(session, [priority_v2()], by="analyst")
        session.execute(update(ReevaluationChunk).values(done_at=func.now()))
        request_reevaluation(session, "small chunks", [Kind.PRIORITY], chunk_size=2)
    services = [_service(cli_database, "--once") for _ in range(2)]
    outputs = [s.communicate(timeout=180)[0] for s in services]
    assert [s.returncode for s in services] == [0, 0], outputs
    done = [int(o.rsplit("events applied, ", 1)[1].split()[0]) for o in outputs]
    assert sum(done) == CASES, outputs
    assert all(n > 0 for n in done), done
    with Session(engine) as session:
        per_case = session.execute(
            select(RuleDecision.case_id, func.count())
            .where(RuleDecision.event_id.is_(None))
            .group_by(RuleDecision.case_id)
        ).all()
        assert {n for _, n in per_case} == {1} and len(per_case) == CASES


def test_an_idle_service_on_postgresql_wakes_when_an_event_commits(
    cli_database, engine, staff, run_import, published
):
    if engine.dialect.name != "postgresql":
        pytest.skip("the NOTIFY wake-up is PostgreSQL's; SQLite polls")
    # A poll of ten minutes: only the NOTIFY can wake it before the deadline below.
    service = _service(cli_database, "--poll", "600")
    try:
        time.sleep(2)  # idle and listening
        many_cases(run_import, 1)
        deadline = time.monotonic() + 60
        while count(engine, RuleDecision) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count(engine, RuleDecision) > 0
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=30)


def test_a_decision_once_recorded_cannot_be_edited_or_deleted(engine, decided):
    with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
        connection.execute(update(RuleDecision).values(version=99))
    with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
        connection.execute(RuleDecision.__table__.delete())


def test_reevaluator_alone_reports_nothing_to_do(engine, published):
    policy = Policy()
    with Session(engine) as session:
        policy.refresh(session)
    assert Reevaluator(engine, policy).work_chunk() is None
