"""The engine as the service drives it: versioned names, one thread, no state left behind."""

import threading
from pathlib import Path

import pytest

from rules_service.compiler import CompiledTable, RulesetError
from rules_service.engine import Engine
from rules_service.facts import FactError
from rules_service.hits import Hit, UniqueHitError


def resident_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")  # pragma: no cover


def test_a_table_registers_under_its_versioned_name(rules_engine, make_table):
    table = make_table([("R1", {"dpd": ">= 90"})], version=7)
    assert rules_engine.register(table) == f"{table.name}__v7"
    assert f"{table.name}__v7" in rules_engine.registered
    assert rules_engine.evaluate(f"{table.name}__v7", {"dpd": 90}) == [
        Hit("R1", {"alert": "R1", "severity": "warning"})
    ]


def test_registering_a_name_and_version_twice_is_refused_clearly(rules_engine, make_table):
    table = make_table([("R1", {"dpd": ">= 90"})])
    name = rules_engine.register(table)
    changed = make_table([("R1", {"dpd": ">= 30"})], name=table.name)
    for engine in (rules_engine, Engine()):  # process-wide: the C core keeps every ruleset
        with pytest.raises(RulesetError) as caught:
            engine.register(changed)
        assert str(caught.value) == (
            f"table {table.name} v1: ruleset {name} is already registered in this process and "
            "durable-rules cannot replace one; give the changed table a new version "
            "(or restart the worker)"
        )
    assert rules_engine.evaluate(name, {"dpd": 45}) == []  # the first version still answers
    newer = make_table([("R1", {"dpd": ">= 30"})], name=table.name, version=2)
    assert [h.row_id for h in rules_engine.evaluate(rules_engine.register(newer), {"dpd": 45})] == [
        "R1"
    ]


def test_an_unregistered_name_is_refused(rules_engine):
    with pytest.raises(RulesetError, match="ruleset nothing__v1 is not registered"):
        rules_engine.evaluate("nothing__v1", {})


def test_the_engine_refuses_work_from_another_thread(rules_engine, make_table):
    name = rules_engine.register(make_table([("R1", {"dpd": ">= 90"})]))
    errors = []

    def other_thread():
        try:
            rules_engine.evaluate(name, {"dpd": 95})
        except RuntimeError as error:
            errors.append(str(error))

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert errors and "belongs to another thread" in errors[0]
    assert not any(isinstance(t, threading.Timer) for t in threading.enumerate())  # no dispatch


def test_a_unique_conflict_is_raised_and_leaves_no_state(rules_engine, make_table):
    table = make_table([("R1", {"dpd": ">= 30"}), ("R2", {"dpd": ">= 60"})], policy="UNIQUE")
    name = rules_engine.register(table)
    for _ in range(1500):  # more than the 1024 live sids a ruleset can hold
        with pytest.raises(UniqueHitError) as caught:
            rules_engine.evaluate(name, {"dpd": 70})
        assert caught.value.row_ids == ("R1", "R2")
    assert [hit.row_id for hit in rules_engine.evaluate(name, {"dpd": 45})] == ["R1"]


def test_facts_of_the_wrong_type_are_refused_before_the_engine(rules_engine, make_table):
    name = rules_engine.register(make_table([("R1", {"dpd": ">= 90"})]))
    with pytest.raises(FactError, match="'dpd': a boolean is not an integer"):
        rules_engine.evaluate(name, {"dpd": True})


@pytest.mark.parametrize("policy", ["FIRST", "PRIORITY", "UNIQUE", "COLLECT"])
def test_a_fresh_ruleset_survives_a_first_case_that_matches_nothing(
    rules_engine, make_table, policy
):
    """Regression: durable-rules frees an uninitialised action context when the state of an
    unhandled message is deleted; the catch-all rule keeps every message handled."""
    for _ in range(20):
        name = rules_engine.register(make_table([("R1", {"dpd": ">= 90"})], policy=policy))
        assert rules_engine.evaluate(name, {"dpd": 5}) == []
        assert rules_engine.evaluate(name, {}) == []


@pytest.mark.parametrize("policy", ["FIRST", "COLLECT"])
def test_thousands_of_evaluations_keep_sids_and_memory_flat(rules_engine, make_table, policy):
    table = make_table(
        [("R1", {"dpd": ">= 90"}), ("R2", {"dpd": "[30..90)"}), ("R3", {"dpd": ">= 60"})],
        policy=policy,
    )
    name = rules_engine.register(table)
    for dpd in range(500):  # warm up allocator pools
        rules_engine.evaluate(name, {"dpd": dpd % 120})
    before = resident_kb()
    for dpd in range(5000):  # a live sid each would hit the 1024-sid MemoryError
        rules_engine.evaluate(name, {"dpd": dpd % 120})
    assert resident_kb() - before < 2048
    # The last throwaway sid has no state left in the engine (error 309: sid not found).
    last_sid = f"e{next(rules_engine._sids) - 1}"
    with pytest.raises(Exception, match="error code: 309"):
        rules_engine._host.get_state(name, last_sid)


def test_a_message_the_engine_refuses_becomes_a_ruleset_error(
    rules_engine, make_table, monkeypatch
):
    name = rules_engine.register(make_table([("R1", {"dpd": ">= 90"})]))
    monkeypatch.setattr(
        CompiledTable,
        "message_json",
        lambda self, facts, sid: f'{{"sid":"{sid}","decision_input":1,"dpd":1e-05}}',
    )
    with pytest.raises(RulesetError) as caught:
        rules_engine.evaluate(name, {"dpd": 5})
    assert caught.value.code == 204
    assert str(caught.value).startswith(f"table {name.split('__')[0]} v1: the rules engine")
    monkeypatch.undo()
    assert [hit.row_id for hit in rules_engine.evaluate(name, {"dpd": 95})] == ["R1"]
