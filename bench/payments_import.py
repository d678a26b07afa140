"""Benchmark: importing 1,000,000 repayment transactions from CSV into PostgreSQL.

Side by side in one run, on the same generated file:
- floor: ``COPY`` of the file, as it is, into a table of the same columns and indexes as
  ``repayment_transaction`` (what a DBA would do with no validation, no key resolution and no
  idempotency);
- ours: ``run.py import payments FILE`` through the importer (cell validation with error rows,
  loan_no resolved to loan_id, upsert by txn_no, change events in the same transaction).
Reports seconds, the ratio and the importer's peak memory (resident set, in a child process).

Usage: python bench/payments_import.py [--rows 1000000] [--loans 50000]
       [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
The target is ratio <= 4 and peak memory < 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from casedb.migrate import upgrade
from casedb.session import make_engine

OUT = Path(__file__).resolve().parent / "out"
HEADER = ["txn_no", "loan_no", "amount", "currency", "paid_at", "channel", "reference"]


def generate(path: Path, rows: int, loans: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            paid_at = start + timedelta(seconds=rng.randrange(0, 300 * 86400))
            writer.writerow(
                [
                    f"TXN{i:09d}",
                    f"LN{rng.randrange(loans):07d}",
                    str(Decimal(rng.randrange(100, 5_000_00)) / 100),
                    "CNY",
                    paid_at.isoformat(),
                    rng.choice(["bank_transfer", "alipay", "wechat_pay", "counter"]),
                    "还款",
                ]
            )


def peak_rss_mb() -> float:
    """This process's peak resident memory since exec (VmHWM).

    ``getrusage().ru_maxrss`` would also count the parent's memory at fork time.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_database(base_url: str, name: str) -> str:
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def seed_loans(url: str, loans: int) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO customer (customer_no, name, source, attributes,"
                " created_at, updated_at)"
                " SELECT 'C' || lpad(g::text, 7, '0'), '客户' || g, 'bench', '{}', now(), now()"
                " FROM generate_series(0, :n - 1) g"
            ),
            {"n": loans},
        )
        c.execute(
            text(
                "INSERT INTO loan (loan_no, customer_id, product, currency, principal,"
                " status, outstanding_balance, source, attributes, created_at, updated_at)"
                " SELECT 'LN' || lpad((id - 1)::text, 7, '0'), id, 'cash_loan', 'CNY', 10000,"
                " 'active', 10000, 'bench', '{}', now(), now() FROM customer"
            )
        )
        # One loan in five is under collection, so payments also produce change events.
        c.execute(
            text(
                "INSERT INTO collection_case (case_no, customer_id, loan_id, status, opened_on,"
                " dpd, bucket, overdue_principal, overdue_interest, overdue_fees,"
                " overdue_at_entry, outstanding_balance, currency, priority_score, on_hold)"
                " SELECT 'K' || id, customer_id, id, 'in_collection', DATE '2025-01-01', 45, 'M2',"
                " 1000, 0, 0, 1000, 10000, 'CNY', 0, false FROM loan WHERE id % 5 = 0"
            )
        )
    engine.dispose()


def copy_floor(url: str, path: Path) -> float:
    """COPY the same rows into the same table (its indexes and foreign key), loan ids resolved.

    The file's loan_no column is swapped for loan_id beforehand (not timed): COPY cannot look
    keys up, so this is the least work that lands these rows in ``repayment_transaction``.
    """
    engine = make_engine(url)
    with engine.connect() as c:
        loan_ids = {no: str(i) for no, i in c.execute(text("SELECT loan_no, id FROM loan"))}
    twin = path.with_suffix(".loan_id.csv")
    with path.open(encoding="utf-8") as src, twin.open("w", newline="", encoding="utf-8") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        next(reader)
        for row in reader:
            row[1] = loan_ids[row[1]]
            writer.writerow(row)
    raw = engine.raw_connection()
    started = time.perf_counter()
    with raw.cursor() as cur, twin.open("rb") as handle:
        cols = ", ".join(["txn_no", "loan_id", *HEADER[2:]])
        statement = f"COPY repayment_transaction ({cols}) FROM STDIN (FORMAT csv)"
        with cur.copy(statement) as cp:
            while block := handle.read(1 << 20):
                cp.write(block)
    raw.commit()
    elapsed = time.perf_counter() - started
    with engine.begin() as c:
        c.execute(text("TRUNCATE repayment_transaction RESTART IDENTITY"))
    raw.close()
    engine.dispose()
    twin.unlink()
    return elapsed


def importer_child(url: str, path: str) -> None:
    from casedb.importing.kinds import IMPORT_KINDS  # noqa: PLC0415
    from casedb.importing.runner import RunImport  # noqa: PLC0415

    engine = make_engine(url)
    started = time.perf_counter()
    report = RunImport(engine, IMPORT_KINDS["payments"], Path(path), error_dir=OUT).run()
    elapsed = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "summary": report.summary()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loans", type=int, default=50_000)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        importer_child(*args.child)
        return
    OUT.mkdir(exist_ok=True)
    path = OUT / f"payments_{args.rows}.csv"
    if not path.exists():
        generate(path, args.rows, args.loans)
    url = fresh_database(args.url, "ct_bench_payments")
    upgrade(url)
    seed_loans(url, args.loans)
    floor = copy_floor(url, path)
    child = subprocess.run(
        [sys.executable, __file__, "--child", url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"rows: {args.rows:,}  file: {path.stat().st_size / 1e6:.1f} MB")
    print(f"COPY floor:      {floor:8.2f} s")
    print(f"importer:        {ours['seconds']:8.2f} s   peak RSS {ours['peak_mb']:.0f} MB")
    print(f"ratio:           {ours['seconds'] / floor:8.2f}x  (target <= 4x, < 300 MB)")
    print(ours["summary"])


if __name__ == "__main__":
    main()
