"""Audit replay: `python run.py compliance replay FILE.json` prints, for each contact, the verdict
the gate would have given from the events before it; bad input is refused naming the event and
field; a file is streamed, not loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from casedb.compliance.replay import ReplayError, replay_document, replay_file
from run import cli

ISSUE_EXAMPLE = {
    "policy": "US-RegF",
    "debtors": [
        {
            "id": "D1",
            "locations": ["America/Chicago"],
            "inconvenient_times": [{"from": "00:00", "to": "12:00"}],
        }
    ],
    "events": [
        {
            "id": "c1",
            "type": "contact",
            "debtor": "D1",
            "debts": ["A"],
            "channel": "call",
            "party": "debtor",
            "direction": "outbound",
            "agent": "lender",
            "at": "2024-03-04T10:00:00-06:00",
            "outcome": "no_answer",
            "text": "",
        },
        {
            "id": "e1",
            "type": "consent",
            "debtor": "D1",
            "debts": ["A"],
            "channel": "call",
            "at": "2024-03-04T10:05:00-06:00",
            "for": "2024-03-06T13:00:00-06:00",
        },
        {
            "id": "c2",
            "type": "contact",
            "debtor": "D1",
            "debts": ["A"],
            "channel": "call",
            "at": "2024-03-06T13:00:00-06:00",
            "outcome": "conversation",
        },
        {"id": "e2", "type": "cease", "debtor": "D1", "at": "2024-03-07T09:00:00-06:00"},
        {
            "id": "c3",
            "type": "contact",
            "debtor": "D1",
            "debts": ["A"],
            "channel": "letter",
            "at": "2024-03-08T13:00:00-06:00",
        },
    ],
}


def test_the_issues_example_is_judged_contact_by_contact():
    results = replay_document(ISSUE_EXAMPLE)
    assert [r["id"] for r in results] == ["c1", "c2", "c3"]
    assert results[0]["verdict"] == "blocked"
    assert results[0]["rules"][0]["id"] == "debtor_inconvenient_time"
    assert results[0]["earliest_allowed_at"] == "2024-03-04T12:00:00-06:00"
    assert results[1] == {"id": "c2", "verdict": "allowed", "rules": []}
    assert results[2]["verdict"] == "blocked"
    assert [rule["id"] for rule in results[2]["rules"]] == ["cease"]
    assert set(results[2]["rules"][0]) == {"id", "message", "source"}


def test_each_contact_is_judged_only_by_the_events_before_it():
    later_cease = json.loads(json.dumps(ISSUE_EXAMPLE))
    later_cease["events"][3]["at"] = "2024-03-09T09:00:00-06:00"
    assert replay_document(later_cease)[2]["verdict"] == "allowed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "telegram"}, "event 'c1', field 'type'"),
        ({"channel": "pigeon"}, "event 'c1', field 'channel'"),
        (
            {"at": "2024-03-04 10:00"},
            "event 'c1', field 'at': '2024-03-04 10:00' has no UTC offset",
        ),
        ({"at": "yesterday"}, "event 'c1', field 'at'"),
        ({"debtor": "D9"}, "event 'c1', field 'debtor': no debtor 'D9'"),
        ({"party": "neighbour"}, "event 'c1', field 'party'"),
        ({"outcome": "maybe"}, "event 'c1', field 'outcome'"),
        ({"debts": "A"}, "event 'c1', field 'debts'"),
        ({"collectors": "two"}, "event 'c1', field 'collectors'"),
    ],
)
def test_a_bad_event_is_refused_naming_the_event_and_field(change, message):
    document = json.loads(json.dumps(ISSUE_EXAMPLE))
    document["events"][0].update(change)
    with pytest.raises(ReplayError, match=message.replace("(", r"\(")):
        replay_document(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policy": "EU"}, "field 'policy': no policy 'EU'"),
        ({"policy": None}, "field 'policy'"),
        (
            {"debtors": [{"id": "D1", "locations": ["Mars/Olympus"]}]},
            "debtor 'D1', field 'locations'",
        ),
        ({"debtors": [{"id": "D1", "locations": []}]}, "debtor 'D1', field 'locations'"),
        ({"events": {}}, "field 'events'"),
    ],
)
def test_a_bad_header_is_refused_naming_the_field(change, message):
    with pytest.raises(ReplayError, match=message):
        replay_document({**ISSUE_EXAMPLE, **change})


def test_an_event_without_an_id_and_an_id_used_twice_are_refused():
    document = json.loads(json.dumps(ISSUE_EXAMPLE))
    document["events"][1]["id"] = "c1"
    with pytest.raises(ReplayError, match="event 'c1', field 'id': used twice"):
        replay_document(document)
    del document["events"][0]["id"]
    with pytest.raises(ReplayError, match="event #1, field 'id'"):
        replay_document(document)


def test_a_policy_may_be_given_inline():
    from casedb.compliance.policy import shipped_policy_documents  # noqa: PLC0415

    inline = shipped_policy_documents()["US-RegF"]
    inline["rules"]["inconvenient_time"]["from"] = "20:00"
    document = {
        **ISSUE_EXAMPLE,
        "policy": inline,
        "debtors": [{"id": "D1", "locations": ["America/Chicago"]}],
    }
    document["events"] = [{**ISSUE_EXAMPLE["events"][0], "at": "2024-03-04T20:30:00-06:00"}]
    assert replay_document(document)[0]["rules"][0]["id"] == "inconvenient_time"


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_streaming_replay_of_a_file_gives_what_the_in_memory_one_gives(tmp_path):
    # Keys in an unusual order: the events before the debtors and the policy.
    reordered = {
        "events": ISSUE_EXAMPLE["events"],
        "debtors": ISSUE_EXAMPLE["debtors"],
        "policy": "US-RegF",
    }
    out = io.StringIO()
    assert replay_file(write(tmp_path, reordered), out) == 3
    assert json.loads(out.getvalue()) == replay_document(ISSUE_EXAMPLE)


def test_a_file_whose_events_go_back_in_time_for_a_debtor_is_refused(tmp_path):
    document = json.loads(json.dumps(ISSUE_EXAMPLE))
    document["events"][0]["at"] = "2024-03-09T10:00:00-06:00"
    with pytest.raises(ReplayError, match="event 'e1', field 'at': earlier than event 'c1'"):
        replay_file(write(tmp_path, document), io.StringIO())


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"policy": "CN", "debtors": [', encoding="utf-8")
    with pytest.raises(ReplayError, match="not valid JSON"):
        replay_file(path, io.StringIO())


def test_the_replay_command_prints_the_verdicts_as_a_json_array(tmp_path):
    result = CliRunner().invoke(cli, ["compliance", "replay", str(write(tmp_path, ISSUE_EXAMPLE))])
    assert result.exit_code == 0, result.output
    printed = result.stdout[: result.stdout.rindex("]") + 1]
    assert [r["verdict"] for r in json.loads(printed)] == ["blocked", "allowed", "blocked"]


def test_the_replay_command_refuses_bad_input_with_the_message(tmp_path):
    document = json.loads(json.dumps(ISSUE_EXAMPLE))
    document["events"][2]["channel"] = "fax"
    result = CliRunner().invoke(cli, ["compliance", "replay", str(write(tmp_path, document))])
    assert result.exit_code == 1
    assert "event 'c2', field 'channel'" in result.output
