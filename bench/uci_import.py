"""Benchmark: the UCI portfolio end to end (30,000 accounts → 390,000 rows), against its floor.

Side by side in one run, on SQLite and PostgreSQL:
- floor: the same rows, built by the same functions, bulk-inserted into empty tables with no
  validation, no key lookups, no idempotency and no events (``executemany`` on SQLite, ``COPY``
  on PostgreSQL);
- ours: ``run.py import uci FILE``, first into an empty database, then again (the idempotent
  re-import that finds every row unchanged).
Reports seconds, ratios and peak memory of the importer (in a child process).

Usage: python bench/uci_import.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.orm import Session

from bench.payments_import import fresh_database, peak_rss_mb
from casedb.importing import uci
from casedb.importing.writer import WrittenRow, _insert
from casedb.migrate import upgrade
from casedb.models import (
    CollectionCase,
    Customer,
    Loan,
    MonthlyStatement,
    RepaymentTransaction,
)
from casedb.session import make_engine

UCI = Path(__file__).resolve().parent.parent.parent / "shared/data/uci_credit_default"
FILE = UCI / "default_of_credit_card_clients.csv"


def floor(url: str) -> float:
    """Build every row with the importer's own functions and bulk-insert them, nothing more."""
    engine = make_engine(url)
    started = time.perf_counter()
    with FILE.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        accounts = [dict(zip(header, map(int, row), strict=True)) for row in reader]
    customers = [uci._customer(v) | {"id": v["ID"]} for v in accounts]
    loans = [uci._loan(v, v["ID"]) | {"id": v["ID"]} for v in accounts]
    statements = [s for v in accounts for s in uci._statements(v, v["ID"])]
    payments = [p for v in accounts for p in uci._payments(v, v["ID"])]
    cases = [uci._case(v, v["ID"], v["ID"]) for v in accounts if v["PAY_0"] >= 1]
    with Session(engine) as session, session.begin():
        for model, rows in (
            (Customer, customers),
            (Loan, loans),
            (MonthlyStatement, statements),
            (RepaymentTransaction, payments),
            (CollectionCase, cases),
        ):
            written = [WrittenRow(i, row, None) for i, row in enumerate(rows, start=1)]
            for row in written:
                row.values.pop("id", None)
            # The importer's own bulk path (COPY on PostgreSQL, executemany on SQLite).
            _insert(session, model.__table__, list(rows[0]), written)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def importer_child(url: str) -> None:
    engine = make_engine(url)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        report = uci.UciImport(engine, FILE, error_dir=Path(tempfile.gettempdir())).run()
        timings.append(time.perf_counter() - started)
        assert report.ok, report.summary()
    peak_mb = peak_rss_mb()
    print(json.dumps({"first": timings[0], "again": timings[1], "peak_mb": peak_mb}))


def measure(label: str, make_url: callable) -> None:
    floor_url = make_url("floor")
    upgrade(floor_url)
    floor_seconds = floor(floor_url)
    ours_url = make_url("ours")
    upgrade(ours_url)
    child = subprocess.run(
        [sys.executable, __file__, "--child", ours_url], capture_output=True, text=True, check=True
    )
    ours = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"{label}: floor (bulk insert, no checks) {floor_seconds:6.2f} s")
    print(
        f"{label}: import {ours['first']:6.2f} s ({ours['first'] / floor_seconds:.2f}x), "
        f"re-import {ours['again']:6.2f} s, peak RSS {ours['peak_mb']:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        importer_child(args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        measure("sqlite", lambda name: f"sqlite:///{folder}/{name}.db")
    measure("postgresql", lambda name: fresh_database(args.url, f"ct_bench_uci_{name}"))


if __name__ == "__main__":
    main()
