"""Inserting thousands of rows in the caller's transaction, as fast as the database allows.

PostgreSQL takes them by COPY over the session's own connection (several times faster than a
multi-row INSERT, and far less client work), JSON columns encoded by orjson (a chunk of
re-evaluation writes 32,000 JSON values; the standard library took a tenth of the chunk's
time); SQLite by one executemany. The rows are plain dicts
of column values; Python-side column defaults are filled in first, as an INSERT would.

COPY returns nothing, so a caller that needs the new ids (to point other rows at them) gets them
drawn from the id sequence first, in one query, and written with the rows: looking them up
afterwards would be a query whose plan depends on statistics that lag behind a growing table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Table, text
from sqlalchemy.orm import Session


def _defaults(table: Table, given: set[str]) -> dict[str, Any]:
    """The Python-side defaults (scalars and callables such as ``utcnow``) of the columns not
    given; server-side defaults and the id sequence are left to the database."""
    values = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            values[column.name] = default.arg
        elif default.is_callable:
            values[column.name] = default.arg(None)  # SQLAlchemy's wrapper takes a context
    return values


_SEQUENCES: dict[str, str] = {}


def drawn_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh values of the id sequence of ``table`` (PostgreSQL), in order.

    The sequence's name is looked up once and written into the query as a constant: passed as
    an expression, PostgreSQL would resolve it again for every row (20× slower)."""
    sequence = _SEQUENCES.get(table.name)
    if sequence is None:
        sequence = session.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        _SEQUENCES[table.name] = sequence
    constant = sequence.replace("'", "''")
    query = text(f"SELECT nextval('{constant}'::regclass) FROM generate_series(1, :count)")
    return list(session.scalars(query, {"count": count}))


def insert_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, return_ids: bool = False
) -> list[int]:
    """Insert ``rows`` (dicts of column values, all with the same keys) into ``table``; with
    ``return_ids``, returns the new rows' ids in the order of ``rows`` (else an empty list)."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        if not return_ids:
            session.execute(table.insert(), list(rows))
            return []
        query = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(query, list(rows)))
    ids: list[int] = []
    if return_ids:
        ids = drawn_ids(session, table, len(rows))
        rows = [{"id": id_, **row} for id_, row in zip(ids, rows, strict=True)]
    given = list(rows[0])
    defaults = _defaults(table, set(given))
    names = [*given, *defaults]
    json_columns = {name for name in names if isinstance(table.c[name].type, JSON)}
    quoted = ", ".join(f'"{name}"' for name in names)
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            values = [*map(row.__getitem__, given), *defaults.values()]
            if json_columns:
                values = [
                    orjson.dumps(value).decode() if name in json_columns else value
                    for name, value in zip(names, values, strict=True)
                ]
            copy.write_row(values)
    return ids
