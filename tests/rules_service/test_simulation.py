"""Simulating a draft table over the open portfolio: what would change, for whom, and why."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casedb.audit import verify
from casedb.models import (
    AuditEntry,
    CollectionCase,
    Collector,
    Customer,
    RulesetVersion,
    Team,
    VersionStatus,
)
from rules_service.decision_table import DecisionTable, Kind, checksum, from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.relay import Relay
from rules_service.simulation import (
    JOB_TIMEOUT_SECONDS,
    simulate,
    simulation_job,
    start_simulation,
)
from tests.rules_service.test_service import many_cases

CASES = 60


@pytest.fixture
def decided(engine, staff, run_import, published) -> None:
    """60 open cases decided once by the shipped tables (what the simulation compares with)."""
    many_cases(run_import, CASES)
    Relay(engine).run(once=True)


def priority_draft(score_up: int = 1000, level: str | None = "P1") -> DecisionTable:
    """The shipped priority table as version 2, every score raised and every level changed."""
    document = to_dict(default_policy()["priority"])
    document["version"] = 2
    for row in document["rows"]:
        row["then"]["score"] += score_up
        if level is not None:
            row["then"]["level"] = level
    return from_json(document)


def assignment_draft(team: str = "early") -> DecisionTable:
    """Every case to one team, least loaded first."""
    document = to_dict(default_policy()["assignment"])
    document["version"] = 2
    document["rows"] = [
        {
            "id": "ALL",
            "when": {},
            "then": {"team": team, "required_skill": None, "selection": "least_loaded"},
        }
    ]
    return from_json(document)


def stored(session: Session) -> dict[str, Any]:
    return {
        case.case_no: case
        for case in session.scalars(select(CollectionCase).order_by(CollectionCase.id))
    }


def test_a_priority_draft_that_raises_every_score_changes_every_case(engine, session, decided):
    cases = stored(session)
    draft = priority_draft()
    progress: list[tuple[int, int]] = []

    result = simulate(engine, draft, progress=lambda d, t: progress.append((d, t)), chunk=25)

    assert result["cases"] == CASES
    assert result["running"]["name"] == "priority" and result["running"]["version"] == 1
    assert result["draft"]["checksum"] == checksum(draft)
    assert result["changed"]["priority_score"] == CASES
    not_p1 = Counter(c.priority_level for c in cases.values() if c.priority_level != "P1")
    assert result["changed"]["priority_level"] == sum(not_p1.values()) > 0
    level_moves = {
        (t["from"], t["to"]): t["cases"] for t in result["transitions"]["priority_level"]["top"]
    }
    assert level_moves == {(level, "P1"): n for level, n in not_p1.items()}
    assert result["priority_score_delta"] == {
        "cases": CASES,
        "mean": 1000,
        "min": 1000,
        "max": 1000,
    }
    assert result["changed"]["team"] == result["changed"]["strategy"] == 0
    assert result["changed"]["any"] == CASES
    assert progress == [(0, CASES), (25, CASES), (50, CASES), (60, CASES)]
    assert result["errors"]["facts_refused"] == 0

    assert len(result["sample"]) == 50
    assert len({entry["case_no"] for entry in result["sample"]}) == 50
    for entry in result["sample"]:
        case = cases[entry["case_no"]]
        before, after = entry["before"], entry["after"]
        # The running version, evaluated again on the same facts, says what the case holds.
        assert before["priority_score"] == case.priority_score == entry["current"]["priority_score"]
        assert after["priority_score"] == before["priority_score"] + 1000
        assert after["priority_level"] == "P1"
        assert before["version"] == "priority__v1" and after["version"] == "priority__v2"
        for side, table in ((before, default_policy()["priority"]), (after, draft)):
            [row] = side["rows"]
            assert row["when"] == table.conditions[row["row"]]
            assert row["then"]["score"] == side["priority_score"]
        assert "priority_score" in entry["changed"]
    assert sum(result["rows_fired"]["after"].values()) == CASES


def test_an_assignment_draft_moving_every_case_shows_the_workload_before_and_after(
    engine, session, decided
):
    cases = stored(session)
    early = session.scalars(select(Team).where(Team.code == "early")).one()
    in_other_teams = sum(1 for c in cases.values() if c.team_id != early.id)
    assert in_other_teams > 0

    result = simulate(engine, assignment_draft("early"))

    assert result["changed"]["team"] == in_other_teams
    team_moves = result["transitions"]["team"]["top"]
    assert all(move["to"] == "early" for move in team_moves)
    assert sum(move["cases"] for move in team_moves) == in_other_teams
    workload = result["workload"]
    teams = {team["code"]: team for team in workload["teams"]}
    collectors = {c["code"]: c for c in workload["collectors"]}
    # Before: the running version again on the same facts keeps every case where it is.
    current_teams = Counter(c.team_id for c in cases.values())
    for team in workload["teams"]:
        assert team["before"] == team["current"] == current_teams[team["id"]]
    for collector in workload["collectors"]:
        assert collector["before"] == collector["current"]
    # After: the early team takes all 60; its one collector only up to her capacity of 10.
    assert teams["early"]["after"] == CASES
    assert teams["early"]["capacity"] == 10 and teams["early"]["over_after"] is True
    assert teams["calls"]["after"] == 0 and teams["calls"]["capacity"] == 20
    assert teams["calls"]["before"] > 0
    assert collectors["CE"]["after"] == 10 and collectors["CE"]["over_after"] is False
    assert collectors["CA"]["after"] == collectors["CB"]["after"] == 0
    assert collectors["CA"]["team"] == "calls" and collectors["CA"]["capacity"] == 10
    assert workload["no_collector"]["after"] == CASES - 10
    assert workload["over_capacity"]["teams_after"] == 1
    assert result["changed"]["collector"] > 0
    entry = result["sample"][0]
    assert entry["after"]["team"] == "early"
    assert entry["after"]["rows"] == [
        {
            "row": "ALL",
            "when": {},
            "then": {"team": "early", "required_skill": None, "selection": "least_loaded"},
        }
    ]
    assert entry["after"]["applied"]["team"].endswith("(early)")
    # Nothing was written.
    session.expire_all()
    assert {no: (c.team_id, c.collector_id) for no, c in stored(session).items()} == {
        no: (c.team_id, c.collector_id) for no, c in cases.items()
    }


@pytest.mark.parametrize("kind", list(Kind))
def test_a_draft_identical_to_the_running_version_changes_nothing(engine, decided, kind):
    result = simulate(engine, default_policy()[kind])

    assert result["cases"] == CASES
    assert set(result["changed"].values()) == {0}
    assert result["sample"] == [] and result["transitions"] == {}
    assert result["rows_fired"]["before"] == result["rows_fired"]["after"]
    assert result["alerts_raised"]["before"] == result["alerts_raised"]["after"]


def test_an_alert_draft_counts_the_cases_whose_alerts_change(engine, decided):
    document = to_dict(default_policy()["alert"])
    document["version"] = 2
    document["rows"].append(
        {
            "id": "EVERYONE",
            "when": {},
            "then": {
                "alert": "everyone",
                "severity": "info",
                "message_en": "all",
                "message_zh": "全部",
            },
        }
    )

    result = simulate(engine, from_json(document))

    assert result["changed"]["alerts"] == CASES
    assert result["alerts_raised"]["after"]["everyone"] == CASES
    assert "everyone" not in result["alerts_raised"]["before"]
    assert "everyone" in result["sample"][0]["after"]["alerts"]


def test_refused_facts_and_unique_overlaps_are_counted_with_examples(engine, session, decided):
    session.execute(
        update(Customer).where(Customer.customer_no == "M3").values(risk_level="unheard-of")
    )
    session.commit()
    document = to_dict(default_policy()["priority"])
    document["version"] = 2
    document["hit_policy"] = "UNIQUE"

    result = simulate(engine, from_json(document))

    errors = result["errors"]
    assert errors["facts_refused"] == 1
    assert {e["case_no"] for e in errors["examples"] if e["kind"] == "facts_refused"} == {"MK3"}
    assert errors["unique_overlap"] > 0
    overlap = next(e for e in errors["examples"] if e["kind"] == "unique_overlap")
    assert overlap["side"] == "after" and "UNIQUE" in overlap["error"]
    assert result["cases"] == CASES


# --- the job ---------------------------------------------------------------------------------


def draft_version(session: Session, table: DecisionTable) -> RulesetVersion:
    version = RulesetVersion(
        name=table.name,
        kind=table.kind.value,
        version=table.version,
        status=VersionStatus.DRAFT,
        document=to_dict(table),
        checksum=checksum(table),
        author="analyst",
    )
    session.add(version)
    session.commit()
    return version


def test_the_job_runs_through_a_real_worker_and_keeps_the_result_with_the_version(
    engine, session, decided, cli_database, redis_connection
):
    version = draft_version(session, priority_draft())
    queue = Queue("simulations", connection=redis_connection)

    job = start_simulation(queue, version.id)
    assert job.timeout == JOB_TIMEOUT_SECONDS
    session.expire_all()
    assert session.get(RulesetVersion, version.id).simulation_job_id == job.id
    SimpleWorker([queue], connection=redis_connection).work(burst=True)

    assert job.get_status(refresh=True) == JobStatus.FINISHED
    summary = job.return_value()
    assert summary["version_id"] == version.id and summary["job_id"] == job.id
    assert summary["cases"] == CASES and summary["changed"]["priority_score"] == CASES
    meta = job.get_meta(refresh=True)
    assert meta["progress"] == {"done": CASES, "total": CASES}
    assert meta["stage"] == "finished"
    session.rollback()  # end the read, so the next one sees the job's commit
    kept = session.get(RulesetVersion, version.id)
    assert kept.simulation_job_id == job.id
    assert kept.simulation["job_id"] == job.id
    assert kept.simulation["cases"] == CASES
    assert kept.simulation["draft"]["version_id"] == version.id
    assert kept.simulation["draft"]["checksum"] == version.checksum
    assert len(kept.simulation["sample"]) == 50
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "simulate")).all()
    assert entry.row_id == str(version.id) and entry.after["cases"] == CASES
    assert "sample" not in entry.after
    assert verify(session) is None


def test_a_missing_version_or_a_broken_document_gives_an_error_result(
    engine, session, decided, cli_database, redis_connection
):
    assert simulation_job(987654) == {
        "version_id": 987654,
        "job_id": None,
        "error": "no ruleset version with id 987654",
    }
    with pytest.raises(LookupError):
        start_simulation(Queue("simulations", connection=redis_connection), 987654)

    broken = draft_version(session, priority_draft())
    session.execute(
        update(RulesetVersion)
        .where(RulesetVersion.id == broken.id)
        .values(document={"name": "priority", "kind": "priority"})
    )
    session.commit()
    result = simulation_job(broken.id)
    assert "does not parse" in result["error"]
    session.expire_all()
    assert "does not parse" in session.get(RulesetVersion, broken.id).simulation["error"]


def test_with_no_running_version_the_draft_is_compared_with_the_cases_as_they_are(
    engine, session, staff, run_import
):
    many_cases(run_import, 5)
    session.execute(update(Collector).values(capacity=1))
    session.commit()

    result = simulate(engine, assignment_draft("calls"))

    assert result["running"] is None
    assert result["changed"]["team"] == 5
    collectors = {c["code"]: c for c in result["workload"]["collectors"]}
    assert collectors["CA"]["after"] == collectors["CB"]["after"] == 1  # capacity holds
    assert result["workload"]["no_collector"]["after"] == 3
