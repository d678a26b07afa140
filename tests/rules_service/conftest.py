"""Fixtures for the rules service: small tables built in a line, and a rules engine per module.

durable-rules keeps every ruleset name for the life of the process, so tables that go through
an engine get names unique across the whole test run (``fresh_name``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from rules_service.decision_table import DecisionTable, from_json
from rules_service.engine import Engine
from rules_service.facts import FACTS

_NAMES = itertools.count(1)

ALERT_OUTPUTS = [
    {"name": "alert", "type": "text"},
    {"name": "severity", "type": "enum", "values": ["critical", "warning", "info"]},
]

Row = tuple[str, Mapping[str, str]] | tuple[str, Mapping[str, str], Mapping[str, Any]]


def table_document(
    rows: Sequence[Row],
    *,
    inputs: Sequence[str] = ("dpd",),
    policy: str = "FIRST",
    name: str = "sample",
    version: int = 1,
) -> dict[str, Any]:
    """An alert-kind table document; a row's outputs default to its id and ``warning``."""
    return {
        "format": 1,
        "name": name,
        "kind": "alert",
        "version": version,
        "hit_policy": policy,
        "inputs": [{"fact": fact, "type": FACTS[fact].type.value} for fact in inputs],
        "outputs": ALERT_OUTPUTS,
        "rows": [
            {
                "id": row[0],
                "when": dict(row[1]),
                "then": dict(row[2]) if len(row) > 2 else {"alert": row[0], "severity": "warning"},
            }
            for row in rows
        ],
    }


@pytest.fixture
def fresh_name() -> Callable[[], str]:
    """A table name no other test in this process has registered."""
    return lambda: f"t{next(_NAMES)}"


@pytest.fixture
def make_table(fresh_name: Callable[[], str]) -> Callable[..., DecisionTable]:
    def make(rows: Sequence[Row], **options: Any) -> DecisionTable:
        options.setdefault("name", fresh_name())
        return from_json(table_document(rows, **options))

    return make


@pytest.fixture(scope="module")
def rules_engine() -> Engine:
    """One engine for the module, made and used on the test thread."""
    return Engine()
