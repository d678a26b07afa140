"""Lifting SQLite triggers for the rare test step that must act behind the application's back."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text


@contextmanager
def sqlite_triggers_lifted(connection: Any) -> Iterator[None]:
    """Drop every trigger for the block and recreate it afterwards (same transaction)."""
    triggers = connection.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    ).all()
    for name, _ in triggers:
        connection.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _, sql in triggers:
        connection.execute(text(sql))


def tamper(engine: Any, statement: str) -> None:
    """Change the audit trail behind the application's back, as a DBA with full rights could."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(statement))
        else:
            with sqlite_triggers_lifted(connection):
                connection.execute(text(statement))
