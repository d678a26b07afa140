"""Engines and sessions for the case database, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import config
from casedb import audit, collector_events

audit.install()
collector_events.install()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default ``config.DATABASE_URL``).

    SQLite gets foreign keys enforced, WAL so the console reads while an import writes, and a
    busy timeout so the three processes wait for each other instead of failing. PostgreSQL gets
    JIT compilation off: every statement here is short or works one chunk of 2,000 cases, and
    when statistics lag a growing table the inflated estimates made it spend 40-50 ms
    compiling a lookup that then ran in 8.
    """
    url = url or config.DATABASE_URL
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        return configure_sqlite(create_engine(url, **kwargs))
    kwargs.setdefault("pool_pre_ping", True)
    # JSON read by orjson (a chunk of re-evaluation reads 8,000 decisions' rows; the standard
    # library took 0.05 s of it). PostgreSQL's json type holds only strict JSON, which orjson
    # reads the same; SQLite keeps whatever was written, such as NaN, so it keeps the default.
    kwargs.setdefault("json_deserializer", orjson.loads)
    kwargs.setdefault("connect_args", {"options": "-c jit=off"})
    return create_engine(url, **kwargs)


def configure_sqlite(engine: Engine) -> Engine:
    """Our SQLite settings on an engine made elsewhere too (Flask-SQLAlchemy's, in the console),
    so that foreign keys hold whichever process writes."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate_when_asked)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so BEGIN is ours (SQLAlchemy docs).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate_when_asked(connection: Any) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get("sqlite_immediate") else ""
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


@cache
def default_engine() -> Engine:
    return make_engine()


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or default_engine(), expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose work commits together at the end of the block or not at all."""
    with session_factory(engine)() as session, session.begin():
        yield session
