"""Writes validated rows into a table by natural key: insert the new, update the changed.

Rows already in the database with equal values are left alone, so re-importing a file changes
nothing. New rows get ids allocated up front (PostgreSQL's sequence; SQLite's max id under its
write lock) so that, on PostgreSQL, they can be streamed with ``COPY`` — the same path as a raw
bulk load — while every caller still learns the id of every row it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Table, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from casedb.bulk_insert import drawn_ids

KEY_LOOKUP_CHUNK = 2000


@dataclass
class WrittenRow:
    id: int
    values: dict[str, Any]
    previous: dict[str, Any] | None  # None for an inserted row


@dataclass
class WriteResult:
    inserted: list[WrittenRow] = field(default_factory=list)
    updated: list[WrittenRow] = field(default_factory=list)
    unchanged: int = 0
    superseded: int = 0
    table_name: str = ""
    # Row id of every key written or found unchanged, for callers that link rows to these.
    ids: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def written(self) -> list[WrittenRow]:
        return self.inserted + self.updated


def write_rows(
    session: Session,
    table: Table,
    key: Sequence[str],
    rows: Sequence[dict[str, Any]],
    insert_only: Sequence[str] = (),
    insert_defaults: Mapping[str, Any] | None = None,
) -> WriteResult:
    """Upsert ``rows`` (all with the same columns) by ``key``; the last row of a key wins.

    ``insert_only`` columns are set when a row is created and never overwritten by an update
    (e.g. the overdue amount at case entry). ``insert_defaults`` fill columns the rows do not
    have when a row is created (a file without a ``source_kind`` column); updates leave them.
    """
    result = WriteResult(table_name=table.name)
    if not rows:
        return result
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        by_key[tuple(row[c] for c in key)] = row
    result.superseded = len(rows) - len(by_key)
    columns = list(next(iter(by_key.values())).keys())
    existing = _existing(session, table, key, columns, list(by_key))
    new_rows: list[dict[str, Any]] = []
    for row_key, row in by_key.items():
        previous = existing.get(row_key)
        if previous is None:
            new_rows.append(row)
            continue
        result.ids[row_key] = previous["id"]
        changes = {
            c: row[c] for c in columns if c not in insert_only and not _same(row[c], previous[c])
        }
        if changes:
            result.updated.append(WrittenRow(previous["id"], {**previous, **changes}, previous))
        else:
            result.unchanged += 1
    if new_rows:
        ids = _allocate_ids(session, table, len(new_rows))
        for row_id, row in zip(ids, new_rows, strict=True):
            result.inserted.append(WrittenRow(row_id, row, None))
            result.ids[tuple(row[c] for c in key)] = row_id
        _insert(session, table, columns, result.inserted, insert_defaults or {})
    if result.updated:
        _update(session, table, columns, insert_only, result.updated)
    return result


def _same(new: Any, old: Any) -> bool:
    if isinstance(new, datetime) and isinstance(old, datetime):
        return new.astimezone(UTC) == old.astimezone(UTC)
    return new == old


def _existing(
    session: Session,
    table: Table,
    key: Sequence[str],
    columns: Sequence[str],
    keys: list[tuple[Any, ...]],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows already stored under ``keys``.

    The lookup filters on the key's leading column only (``loan_id IN (...)``), which every
    engine answers from the unique index; a row-value ``IN`` over composite keys is not
    index-assisted on PostgreSQL and turns each batch into a table scan.
    """
    wanted = [table.c.id, *(table.c[c] for c in columns if c != "id")]
    wanted_keys = set(keys)
    leading = sorted({k[0] for k in keys})
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for start in range(0, len(leading), KEY_LOOKUP_CHUNK):
        chunk = leading[start : start + KEY_LOOKUP_CHUNK]
        statement = select(*wanted).where(key_in(session, table.c[key[0]], chunk))
        for record in session.execute(statement).mappings():
            record_key = tuple(record[c] for c in key)
            if record_key in wanted_keys:
                found[record_key] = dict(record)
    return found


def key_in(session: Session, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``, as ``= ANY(array)`` on PostgreSQL.

    An ``IN`` list of thousands of separate parameters cannot be hashed by PostgreSQL's
    executor: against a table that grew inside the import's own transaction it was compared
    row by row (4 s per lookup at 100,000 rows); one array parameter is hashed or index-probed.
    """
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    if session.bind.dialect.name == "postgresql":
        return drawn_ids(session, table, count)
    # SQLite: the import's transaction holds the write lock (BEGIN IMMEDIATE), so max+1 is safe.
    start = (session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
    return list(range(start, start + count))


def _insert(
    session: Session,
    table: Table,
    columns: list[str],
    rows: list[WrittenRow],
    insert_defaults: Mapping[str, Any],
) -> None:
    defaults = _column_defaults(table, columns)
    defaults.update({c: v for c, v in insert_defaults.items() if c not in columns})
    value_names = [c for c in columns if c != "id"]
    if session.bind.dialect.name == "postgresql":
        _copy(session, table, value_names, defaults, rows)
        return
    session.execute(table.insert(), [{**defaults, **r.values, "id": r.id} for r in rows])
    for row in rows:
        row.values = {**defaults, **row.values}


def _column_defaults(table: Table, supplied: Sequence[str]) -> dict[str, Any]:
    """Python-side defaults (timestamps, empty lists) for the columns a file does not give."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in supplied or column.name == "id" or column.default is None:
            continue
        default = column.default
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    return defaults


def _copy(
    session: Session,
    table: Table,
    value_names: list[str],
    defaults: dict[str, Any],
    rows: list[WrittenRow],
) -> None:
    """COPY rows into ``table`` over the session's own connection (same transaction).

    psycopg adapts Decimal, str, int, bool, date and aware datetimes itself; only JSON columns
    need turning into text first.
    """
    names = ["id", *value_names, *defaults]
    json_columns = [n for n in value_names if isinstance(table.c[n].type, JSON)]
    default_values = [
        json.dumps(v) if isinstance(table.c[n].type, JSON) else v for n, v in defaults.items()
    ]
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()
    quoted = ", ".join(f'"{n}"' for n in names)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN'
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                values = row.values
                if json_columns:
                    values = {**values}
                    for name in json_columns:
                        values[name] = json.dumps(values[name], ensure_ascii=False, default=str)
                copy.write_row([row.id, *map(values.__getitem__, value_names), *default_values])
    except connection.dialect.loaded_dbapi.Error as exc:
        # The same IntegrityError/DataError an ORM or Core statement would raise.
        raise DBAPIError.instance(
            statement, None, exc, connection.dialect.loaded_dbapi.Error
        ) from exc


def _update(
    session: Session,
    table: Table,
    columns: list[str],
    insert_only: Sequence[str],
    rows: list[WrittenRow],
) -> None:
    settable = [c for c in columns if c not in insert_only and c != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({c: bindparam(f"_v_{c}") for c in settable})
    )
    session.connection().execute(
        statement,
        [{"_id": r.id, **{f"_v_{c}": r.values[c] for c in settable}} for r in rows],
    )
