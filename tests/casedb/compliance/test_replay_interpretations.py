"""The worked examples of the law, replayed: every contact gets the verdict the law gives it.

``fixtures/regf_interpretations.json`` encodes the examples of Regulation F's official
interpretations (Supplement I to part 1006) for 1006.6(b)(1), 1006.6(c), 1006.14(b) and
1006.14(h), with boundary cases (08:00/21:00, DST changes, zones without DST, several possible
zones); ``fixtures/cn_examples.json`` does the same for the CN policy. Each scenario quotes the
example it encodes and names its sources in ``rulesets/compliance/sources.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from casedb.compliance.replay import replay_document

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KNOWLEDGE_BASE = Path(__file__).resolve().parents[3] / "rulesets" / "compliance" / "sources.json"
FIXTURE_FILES = ("regf_interpretations.json", "cn_examples.json")
VERDICTS = ("allowed", "review", "blocked")


def _scenarios() -> list[Any]:
    cases = []
    for name in FIXTURE_FILES:
        for scenario in json.loads((FIXTURES / name).read_text(encoding="utf-8")):
            cases.append(pytest.param(scenario, id=scenario["name"]))
    return cases


SCENARIOS = _scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_contact_gets_the_verdict_the_example_gives(scenario):
    results = {result["id"]: result for result in replay_document(scenario["document"])}
    wrong = []
    for contact_id, expected in scenario["expect"].items():
        got = results.get(contact_id)
        if got is None:
            wrong.append(f"{contact_id}: expected {expected['verdict']}, got no verdict")
            continue
        reasons = [rule["id"] for rule in got["rules"]]
        missing = [rule for rule in expected["rules"] if rule not in reasons]
        if got["verdict"] != expected["verdict"] or missing:
            messages = "; ".join(f"{r['id']}: {r['message']}" for r in got["rules"])
            wrong.append(
                f"{contact_id}: expected {expected['verdict']} {expected['rules']}, "
                f"got {got['verdict']} {reasons} ({messages or 'no reasons'})"
            )
    assert not wrong, f"{scenario['name']} ({scenario['source']}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_example_is_complete_and_cites_the_knowledge_base(scenario):
    known = {s["id"] for s in json.loads(KNOWLEDGE_BASE.read_text(encoding="utf-8"))["sources"]}
    assert scenario["source"] and scenario["quote"], scenario["name"]
    assert scenario["sources"] and set(scenario["sources"]) <= known, scenario["sources"]
    contacts = {e["id"] for e in scenario["document"]["events"] if e["type"] == "contact"}
    assert scenario["expect"] and set(scenario["expect"]) <= contacts
    for expected in scenario["expect"].values():
        assert expected["verdict"] in VERDICTS
        assert isinstance(expected["rules"], list)
        assert (expected["verdict"] == "allowed") == (not expected["rules"])


def test_the_knowledge_base_entries_have_every_field_in_both_languages():
    fields = (
        "id",
        "jurisdiction",
        "instrument_zh",
        "instrument_en",
        "citation",
        "quote",
        "summary_zh",
        "summary_en",
        "url",
        "note",
    )
    sources = json.loads(KNOWLEDGE_BASE.read_text(encoding="utf-8"))["sources"]
    ids = [source["id"] for source in sources]
    assert len(ids) == len(set(ids))
    for source in sources:
        assert source["jurisdiction"] in ("CN", "US"), source["id"]
        assert isinstance(source["verified"], bool), source["id"]
        for field in fields:
            assert isinstance(source[field], str) and source[field].strip(), (source["id"], field)
