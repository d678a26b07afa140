"""The rules service end to end: outbox event → decision with provenance → case updated, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from casedb.models import (
    AuditEntry,
    CaseStatus,
    ChangeEvent,
    CollectionCase,
    PublishedRuleset,
    RuleDecision,
)
from casedb.session import make_engine
from casedb.timeline import case_timeline
from rules_service.decision_table import Kind, checksum, from_json, to_dict
from rules_service.default_policy import RULESETS_DIR, default_policy
from rules_service.policy import Policy, PublishError, publish, publish_defaults
from rules_service.relay import Relay
from run import cli

REPO = Path(__file__).resolve().parents[2]


def many_cases(run_import, count: int) -> None:
    """``count`` cases, each with a case_opened and then a dpd_changed event."""
    run_import(
        "customers",
        [["customer_no", "姓名", "身份证号", "省份"]]
        + [[f"M{i}", f"客户{i}", "", "北京"] for i in range(count)],
    )
    run_import(
        "loans",
        [["loan_no", "customer_no", "product", "principal", "annual_rate"]]
        + [[f"ML{i}", f"M{i}", "cash_loan", "10000", "0.18"] for i in range(count)],
    )
    for dpd in (10, 40):
        run_import(
            "cases",
            [["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"]]
            + [[f"MK{i}", f"ML{i}", "2025-01-01", str(dpd + i % 100), "100"] for i in range(count)],
            name=f"cases_{dpd}.csv",
        )


def decisions_per_event(engine) -> dict[tuple[int, str], int]:
    with engine.connect() as connection:
        return {
            (event_id, ruleset): n
            for event_id, ruleset, n in connection.execute(
                select(RuleDecision.event_id, RuleDecision.ruleset, func.count()).group_by(
                    RuleDecision.event_id, RuleDecision.ruleset
                )
            )
        }


def pending_count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(ChangeEvent).where(ChangeEvent.delivered_at.is_(None))
        )


def assert_each_event_applied_once(engine) -> None:
    with engine.connect() as connection:
        event_ids = connection.scalars(
            select(ChangeEvent.id).where(ChangeEvent.case_id.is_not(None))
        ).all()
    counts = decisions_per_event(engine)
    assert pending_count(engine) == 0
    assert set(counts.values()) == {1}
    assert set(counts) == {(e, kind.value) for e in event_ids for kind in Kind}


def test_an_imported_case_is_decided_with_provenance_and_updated(
    engine, session, staff, portfolio, published
):
    assert Relay(engine).run(once=True) == 1
    case = session.scalars(select(CollectionCase).where(CollectionCase.case_no == "K1")).one()
    # DPD 45 (M2), overdue 1,200.50: calls team, P3 55, M2 calls.
    assert (case.team.code, case.collector.code) == ("calls", "CA")
    assert (case.priority_score, case.priority_level) == (55, "P3")
    assert (case.strategy, case.next_action) == ("m2_calls", "call")
    event = session.scalars(select(ChangeEvent).where(ChangeEvent.case_id == case.id)).one()
    assert event.delivered_at is not None
    decisions = {
        d.kind: d
        for d in session.scalars(select(RuleDecision).where(RuleDecision.event_id == event.id))
    }
    assert set(decisions) == {"assignment", "priority", "strategy", "alert"}
    assignment = decisions["assignment"]
    shipped = default_policy()[Kind.ASSIGNMENT]
    assert (assignment.ruleset, assignment.version) == ("assignment", 1)
    assert assignment.checksum == checksum(shipped)
    assert assignment.rows == ["A09"]
    assert assignment.outputs[0]["when"] == {"bucket": '"M2"'}
    assert assignment.facts["bucket"] == "M2" and assignment.facts["status"] == "new"
    assert assignment.applied["collector"] == "王五 (CA)"
    assert decisions["priority"].rows == ["P09"] and decisions["priority"].facts["dpd"] == 45
    # The timeline tells it, naming the row and its conditions.
    entries = [e for e in case_timeline(session, case.id) if e.kind == "decision"]
    summaries = {e.summary.split(" ")[0]: e.summary for e in entries}
    assert summaries["assignment"].startswith("assignment v1 row A09: team=电话催收组 (calls)")
    assert "collector=王五 (CA)" in summaries["assignment"]
    assert summaries["assignment"].endswith('(bucket = "M2")')
    assert "row P09" in summaries["priority"] and "dpd in [31..60]" in summaries["priority"]
    assert {e.actor for e in entries} == {"rules"}
    # The case's changes are in the audit trail under the service's name.
    audited = session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "collection_case", AuditEntry.actor == "rules-service"
        )
    ).all()
    assert audited and audited[0].after["collector_id"] == case.collector_id
    # The service's own changes emit no events (no loop).
    assert pending_count(engine) == 0


def test_least_loaded_spreads_cases_and_keeps_a_qualified_collector(
    engine, session, staff, run_import, published
):
    many_cases(run_import, 4)  # dpd 40..43 after the second import: M2, calls team
    Relay(engine).run(once=True)
    collectors = session.scalars(
        select(CollectionCase.collector_id).order_by(CollectionCase.id)
    ).all()
    # Each case was first assigned in M0 (early), then moved to calls: two each.
    loads = {c: collectors.count(c) for c in set(collectors)}
    assert sorted(loads.values()) == [2, 2]


def test_running_twice_or_redelivering_an_event_applies_it_once(
    engine, staff, portfolio, published
):
    relay = Relay(engine)
    assert relay.run(once=True) == 1
    assert relay.run(once=True) == 0
    before = decisions_per_event(engine)
    # The event is marked pending again (as if the acknowledgement were lost): it is consumed,
    # but its decisions are not written or applied a second time.
    with engine.begin() as connection:
        connection.execute(update(ChangeEvent).values(delivered_at=None))
    assert Relay(engine).run(once=True) == 1
    assert decisions_per_event(engine) == before
    assert set(before.values()) == {1}
    assert pending_count(engine) == 0


def test_events_of_a_case_apply_in_order_and_the_latest_state_decides(
    engine, session, staff, run_import, published
):
    many_cases(run_import, 1)  # case_opened at DPD 10, then dpd_changed to 40
    relay = Relay(engine)
    relay.run(once=True)
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
            ["MK0", "ML0", "2025-01-01", "95", "100"],
        ],
        name="later.csv",
    )
    relay.run(once=True)
    events = session.scalars(select(ChangeEvent).order_by(ChangeEvent.id)).all()
    assert [e.kind.value for e in events] == ["case_opened", "dpd_changed", "dpd_changed"]
    decided = session.execute(
        select(RuleDecision.event_id, RuleDecision.facts)
        .where(RuleDecision.kind == "priority")
        .order_by(RuleDecision.id)
    ).all()
    # Decisions were written in event order; the last one saw the newest DPD.
    assert [event_id for event_id, _ in decided] == [e.id for e in events]
    assert decided[-1].facts["dpd"] == 95
    case = session.scalars(select(CollectionCase)).one()
    session.refresh(case)
    assert (case.team.code, case.priority_level) == ("legal_review", "P1")


def test_a_case_mid_promise_is_not_moved(engine, session, staff, portfolio, published):
    with engine.begin() as connection:
        connection.execute(update(CollectionCase).values(status=CaseStatus.PROMISED))
    Relay(engine).run(once=True)
    case = session.scalars(select(CollectionCase)).one()
    assert case.team_id is None and case.collector_id is None
    assignment = session.scalars(
        select(RuleDecision).where(RuleDecision.kind == "assignment")
    ).one()
    assert assignment.applied == {"unchanged": "the case is mid-promise"}
    assert case.priority_level == "P3"  # the other decisions still apply


def test_nothing_is_consumed_before_a_ruleset_is_published(engine, portfolio):
    with pytest.raises(RuntimeError, match="no published ruleset"):
        Relay(engine).run(once=True)
    assert pending_count(engine) == 1


def test_publishing_is_idempotent_and_a_version_is_never_edited(session):
    first = publish_defaults(session)
    again = publish_defaults(session)
    assert all(p.created for p in first) and not any(p.created for p in again)
    table = default_policy()[Kind.PRIORITY]
    document = to_dict(table)
    document["rows"][0]["then"]["score"] = 96
    with pytest.raises(PublishError, match="already published with other content"):
        publish(session, from_json(document))


def _bad_versions(kind_table, name):
    """A document that does not parse, and one whose checksum does not match."""
    broken = to_dict(kind_table) | {"name": name, "version": 2}
    broken["rows"][0]["when"]["dpd"] = ">>> 90"
    tampered = to_dict(kind_table) | {"name": name, "version": 3}
    return [(2, broken, "0" * 64), (3, tampered, checksum(kind_table))]


def test_a_bad_published_version_is_refused_and_the_last_good_one_keeps_running(
    engine, session, staff, portfolio, fresh_name, caplog
):
    name = fresh_name()
    table = default_policy()[Kind.PRIORITY]
    good = from_json(to_dict(table) | {"name": name})
    publish(session, good)
    session.commit()
    relay = Relay(engine)
    relay.refresh()
    assert relay.policy.current[Kind.PRIORITY].engine_name == f"{name}__v1"
    for version, document, digest in _bad_versions(table, name):
        session.add(
            PublishedRuleset(
                name=name, kind="priority", version=version, checksum=digest, document=document
            )
        )
        session.commit()
        relay.refresh()
        assert relay.policy.current[Kind.PRIORITY].engine_name == f"{name}__v1"
    assert "refused" in caplog.text and "checksum mismatch" in caplog.text
    # A new good version is picked up by the running service (hot reload).
    newer = to_dict(table) | {"name": name, "version": 4}
    newer["rows"][-1]["then"]["score"] = 11
    publish(session, from_json(newer))
    session.commit()
    relay.run(once=True)
    assert relay.policy.current[Kind.PRIORITY].engine_name == f"{name}__v4"
    decision = session.scalars(select(RuleDecision).where(RuleDecision.kind == "priority")).one()
    assert (decision.ruleset, decision.version) == (name, 4)
    # A fresh process skips the bad versions too and runs the newest good one.
    fresh = Policy()
    fresh.refresh(session)
    assert fresh.current[Kind.PRIORITY].engine_name == f"{name}__v4"


def test_evaluate_writes_nothing_and_explain_shows_why(
    cli_database, engine, session, staff, portfolio, published
):
    result = CliRunner().invoke(cli, ["rules", "evaluate", "--case", "K1"])
    assert result.exit_code == 0, result.output
    assert '"M2"' in result.output and 'row A09: when bucket = "M2"' in result.output
    assert "decisions (not saved)" in result.output
    assert session.scalar(select(func.count()).select_from(RuleDecision)) == 0
    assert session.scalars(select(CollectionCase)).one().team_id is None
    result = CliRunner().invoke(cli, ["rules", "explain", "--case", "K1"])
    assert "no decision recorded yet" in result.output
    assert CliRunner().invoke(cli, ["rules", "run", "--once"]).exit_code == 0
    result = CliRunner().invoke(cli, ["rules", "explain", "--case", "K1"])
    assert result.exit_code == 0, result.output
    assert "team 电话催收组 (calls), collector 王五 (CA), priority 55 P3" in result.output
    assert "(case_opened)" in result.output
    assert "row P09: when dpd in [31..60]" in result.output
    assert "facts seen: dpd=45" in result.output


def test_publish_command_is_idempotent(cli_database):
    files = [str(p) for p in sorted(RULESETS_DIR.glob("*.json"))]
    first = CliRunner().invoke(cli, ["rules", "publish", *files])
    assert first.exit_code == 0 and first.output.count(" published") == 4
    again = CliRunner().invoke(cli, ["rules", "publish", *files])
    assert again.output.count("already published") == 4


# --- real processes ---------------------------------------------------------------------------


def _service(database_url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "rules", "run", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_service_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    cli_database, engine, staff, run_import, published
):
    many_cases(run_import, 150)
    total = pending_count(engine)
    assert total == 300
    service = _service(cli_database, "--batch", "20", "--poll", "0.1")
    deadline = time.monotonic() + 60
    while pending_count(engine) > total - 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(service.pid, signal.SIGKILL)
    service.wait(timeout=10)
    left = pending_count(engine)
    assert 0 < left < total, service.stdout.read()
    # Restarted, it resumes where it stopped.
    restarted = _service(cli_database, "--once")
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output
    assert f"rules service: {left} events applied" in output
    assert_each_event_applied_once(engine)


def test_two_services_share_the_work_without_doubles(
    cli_database, engine, staff, run_import, published
):
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "two processes sharing the outbox is the PostgreSQL deployment (per-case advisory "
            "locks); SQLite serialises writers, so one service per SQLite database"
        )
    # Both running and listening before the events arrive, so both compete for them.
    services = [_service(cli_database, "--batch", "10", "--poll", "0.05") for _ in range(2)]
    time.sleep(3)
    many_cases(run_import, 200)
    deadline = time.monotonic() + 120
    while pending_count(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    for service in services:
        service.send_signal(signal.SIGTERM)
    outputs = [s.communicate(timeout=60)[0] for s in services]
    assert [s.returncode for s in services] == [0, 0], outputs
    total = 400  # 200 cases, two imports each
    applied = [int(o.rsplit("rules service: ", 1)[1].split()[0]) for o in outputs]
    assert sum(applied) == total
    assert all(n > 0 for n in applied), applied
    assert_each_event_applied_once(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM rule_decision")) == total * 4


def test_a_service_survives_losing_its_database_connections_and_resumes(
    cli_database, engine, staff, run_import, published
):
    if engine.dialect.name != "postgresql":
        pytest.skip("cutting a server's connections needs PostgreSQL (pg_terminate_backend)")
    service = _service(cli_database, "--poll", "0.1")
    try:
        many_cases(run_import, 20)
        deadline = time.monotonic() + 60
        while pending_count(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending_count(engine) == 0
        # An outage as the service sees it: the server cuts every connection it holds and
        # refuses new ones for a few seconds.
        name = make_url(cli_database).database
        admin = make_engine(os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            cut = connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :name AND backend_type = 'client backend'"
                ),
                {"name": name},
            )
            time.sleep(4)
            assert service.poll() is None, "the service exited when the database went away"
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        assert cut >= 1
        engine.dispose()
        run_import(
            "cases",
            [["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"]]
            + [[f"MK{i}", f"ML{i}", "2025-01-01", "95", "100"] for i in range(20)],
            name="after_outage.csv",
        )
        deadline = time.monotonic() + 90
        while pending_count(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.poll() is None, "the service exited instead of waiting for the database"
        assert pending_count(engine) == 0
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=60)
    assert "database unavailable" in output
    assert_each_event_applied_once(engine)
