"""Alembic environment: the only way the case-database schema is made, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from flask_appbuilder import Model as ConsoleModel
from flask_appbuilder.security.sqla import models as _console_security  # noqa: F401
from sqlalchemy.types import TypeDecorator

from casedb.models import Base
from casedb.session import make_engine

# The case database, and the console's users, roles and permissions (Flask-AppBuilder ab_*).
target_metadata = [Base.metadata, ConsoleModel.metadata]


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Write our column types as their plain SQL types so migrations never import app code."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _url() -> str | None:
    return context.get_x_argument(as_dictionary=True).get("url") or context.config.attributes.get(
        "url"
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
