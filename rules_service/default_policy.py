"""The decision tables that ship in ``rulesets/``: the starting policy of a consumer lender."""

from __future__ import annotations

from pathlib import Path

from rules_service.decision_table import DecisionTable, Kind, TableError, from_json

RULESETS_DIR = Path(__file__).resolve().parent.parent / "rulesets"


def load_table(path: Path) -> DecisionTable:
    """One table from its JSON file; errors name the file as well as the table, row and cell."""
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except TableError as error:
        raise TableError(f"{path.name}: {error}") from error


def default_policy(directory: Path = RULESETS_DIR) -> dict[Kind, DecisionTable]:
    """The shipped tables by kind, one file per kind (``assignment.json``, ...)."""
    tables = {kind: load_table(directory / f"{kind.value}.json") for kind in Kind}
    for kind, table in tables.items():
        if table.kind is not kind:
            raise TableError(f"{kind.value}.json holds a {table.kind} table", table=table.name)
    return tables
