"""Fixtures: a freshly migrated case database per test run, emptied after every test.

With ``DATABASE_URL`` pointing at PostgreSQL the suite creates its own database beside the one
named (``<name>_pytest``) and drops it at the end; otherwise it uses a SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import config
from casedb.migrate import upgrade
from casedb.models import Base
from casedb.session import make_engine, session_factory

REPO = Path(__file__).resolve().parent.parent
UCI_CSV = (
    REPO.parent / "shared" / "data" / "uci_credit_default" / "default_of_credit_card_clients.csv"
)


def _postgres_test_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = _postgres_test_url()
    if base is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'cases.db'}"
        return
    parsed = make_url(base)
    name = f"{parsed.database}_pytest_{os.getpid()}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield parsed.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """The migrated case database, empty at the start of the test."""
    yield migrated_engine
    _empty_all_tables(migrated_engine)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


@pytest.fixture(autouse=True)
def _instance_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its files (error reports, exports) under its own temporary folder."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.setattr(config, "IMPORT_ERROR_DIR", tmp_path / "instance" / "import_errors")
    return tmp_path


@pytest.fixture(scope="session")
def uci_csv() -> Path:
    if not UCI_CSV.is_file():
        pytest.skip(f"the UCI portfolio is not at {UCI_CSV}")
    return UCI_CSV
