"""Fixtures for the rules service: small tables built in a line, and a rules engine per module.

durable-rules keeps every ruleset name for the life of the process, so tables that go through
an engine get names unique across the whole test run (``fresh_name``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy.orm import Session

from rules_service.decision_table import DecisionTable, from_json
from rules_service.engine import Engine
from rules_service.facts import FACTS
from rules_service.policy import publish_defaults

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


@pytest.fixture
def staff(run_import):
    """Teams named as the shipped assignment table names them, with two calls collectors."""
    run_import(
        "teams",
        [
            ["team_code", "name"],
            ["calls", "电话催收组"],
            ["legal_review", "法务审核组"],
            ["early", "早期提醒组"],
        ],
    )
    run_import(
        "collectors",
        [
            ["collector_code", "name", "team_code", "skills", "regions", "capacity"],
            ["CA", "王五", "calls", "", "", "10"],
            ["CB", "赵六", "calls", "", "", "10"],
            ["CL", "钱七", "legal_review", "legal", "", "10"],
            ["CE", "孙八", "early", "", "", "10"],
        ],
    )


@pytest.fixture
def published(engine):
    """The shipped tables, published (before any case exists: nothing to re-evaluate)."""
    with Session(engine) as session, session.begin():
        publish_defaults(session, by="test")
