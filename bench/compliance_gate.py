"""Benchmark: the contact gate's answer time against the bare query, and audit replay's memory.

Requirements (issue 7): the gate answers in bounded time whatever the length of the debtor's
history — p99 for a debtor with 10,000 prior contacts, against the bare indexed query that reads
the same window (the floor); replay of 1,000,000 contacts runs in streaming memory.

1. **Gate** — a fresh database (SQLite file, or ``--url`` PostgreSQL) with ``--debtors`` debtors
   of ``--background`` contacts each, plus one debtor with 100 and one with 10,000 prior
   contacts (one every 4.4 hours over five years, up to the moment judged). For each, N answers
   of ``check_contact`` (policy CN: reads the window, judges, appends the compliance log row,
   commits) beside N runs of the bare query (the debtor's contacts in the 32-day window, by the
   ``(customer_id, started_at)`` index). p50/p99 of both and the ratio; the 100-contact and the
   10,000-contact debtor side by side show the answer does not grow with the history.
2. **Replay** — a generated file of ``--contacts`` contact events (10,000 debtors, time order)
   replayed by ``replay_file`` in a child process (wall time, peak RSS) beside the floor: the same
   file parsed by the same streaming parser without judging. Contacts come at the same pace at
   every size (5,556 a day), and peak RSS is also taken at half the size (90 days, well past the
   32-day window): streaming memory does not grow with the file.

Usage:
    python bench/compliance_gate.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--contacts 1000000] [--answers 300]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payments_import import peak_rss_mb
from casedb.compliance.contact_gate import ContactRequest, check_contact
from casedb.compliance.gate import DEFAULT_MEMORY
from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import RunImport
from casedb.migrate import upgrade
from casedb.models import CollectionCase, ContactAttempt
from casedb.session import make_engine

OUT = Path(__file__).resolve().parent / "out"
NOW = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OUTCOMES = ("no_answer", "rpc", "voicemail", "busy", "ptp")


def _csv(path: Path, rows: list[list[object]]) -> Path:
    import csv  # noqa: PLC0415

    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def build(url: str, debtors: int, background: int, work: Path) -> dict[str, int]:
    """The portfolio: ``debtors`` + 2 customers with a case each, and their contacts."""
    upgrade(url)
    engine = make_engine(url)
    names = [f"B{n:06d}" for n in range(debtors)] + ["SHORT", "LONG"]
    RunImport(
        engine,
        IMPORT_KINDS["customers"],
        _csv(
            work / "customers.csv",
            [["customer_no", "姓名", "省份"]] + [[n, "测试", "北京"] for n in names],
        ),
    ).run()
    RunImport(
        engine,
        IMPORT_KINDS["loans"],
        _csv(
            work / "loans.csv",
            [["loan_no", "customer_no", "product", "principal", "annual_rate"]]
            + [[f"L{n}", n, "cash_loan", "10000", "0.18"] for n in names],
        ),
    ).run()
    RunImport(
        engine,
        IMPORT_KINDS["cases"],
        _csv(
            work / "cases.csv",
            [["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"]]
            + [[f"K{n}", f"L{n}", "2023-01-01", "45", "1000"] for n in names],
        ),
    ).run()
    with Session(engine) as session:
        cases = dict(session.execute(select(CollectionCase.case_no, CollectionCase)).all())
        counts = {f"K{n}": background for n in names[:-2]} | {"KSHORT": 100, "KLONG": 10_000}
        rng = random.Random(7)
        batch: list[dict[str, Any]] = []
        serial = 0
        for case_no, count in counts.items():
            case = cases[case_no]
            step = timedelta(hours=4.4)  # 10,000 contacts over five years
            for n in range(count):
                serial += 1
                batch.append(
                    {
                        "attempt_no": f"CA-B{serial:09d}",
                        "case_id": case.id,
                        "customer_id": case.customer_id,
                        "channel": "call",
                        "party": "debtor",
                        "direction": "outbound",
                        "started_at": NOW - step * (n + 1),
                        "duration_seconds": 0,
                        "outcome": rng.choice(OUTCOMES),
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
                if len(batch) >= 20_000:
                    session.execute(insert(ContactAttempt), batch)
                    batch.clear()
        if batch:
            session.execute(insert(ContactAttempt), batch)
        session.commit()
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE contact_attempt"))
        ids = {name: cases[f"K{name}"].id for name in ("SHORT", "LONG")}
    engine.dispose()
    return ids


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def measure_gate(url: str, case_id: int, answers: int) -> dict[str, float]:
    engine = make_engine(url)
    gate, floor = [], []
    bare = (
        select(ContactAttempt.id, ContactAttempt.started_at, ContactAttempt.outcome)
        .where(
            ContactAttempt.customer_id == bindparam("customer"),
            ContactAttempt.started_at > NOW - DEFAULT_MEMORY,
            ContactAttempt.started_at <= NOW,
        )
        .order_by(ContactAttempt.started_at.desc())
    )
    with Session(engine) as session:
        customer_id = session.get(CollectionCase, case_id).customer_id
    for n in range(answers + 20):
        with Session(engine) as session:
            started = time.perf_counter()
            session.execute(bare, {"customer": customer_id}).all()
            elapsed = time.perf_counter() - started
        if n >= 20:
            floor.append(elapsed)
        with Session(engine) as session:
            started = time.perf_counter()
            case = session.get(CollectionCase, case_id)
            check_contact(session, case, ContactRequest("call", at=NOW), actor="bench")
            session.commit()
            elapsed = time.perf_counter() - started
        if n >= 20:
            gate.append(elapsed)
    engine.dispose()
    gate_p50, gate_p99 = _percentiles(gate)
    floor_p50, floor_p99 = _percentiles(floor)
    return {
        "gate_p50_ms": gate_p50,
        "gate_p99_ms": gate_p99,
        "floor_p50_ms": floor_p50,
        "floor_p99_ms": floor_p99,
    }


def write_replay_file(path: Path, contacts: int, debtors: int = 10_000) -> None:
    """``contacts`` call events over ``debtors`` Shanghai debtors, in time order."""
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    step = timedelta(days=180) / 1_000_000  # the same pace at every size: 5,556 contacts a day
    outcomes = ("no_answer", "conversation", "voicemail", "busy")
    with path.open("w", encoding="utf-8") as out:
        out.write('{"policy": "CN", "debtors": [')
        out.write(
            ",".join(
                json.dumps({"id": f"D{n}", "locations": ["Asia/Shanghai"]}) for n in range(debtors)
            )
        )
        out.write('], "events": [')
        for n in range(contacts):
            event = {
                "id": f"c{n}",
                "type": "contact",
                "debtor": f"D{rng.randrange(debtors)}",
                "debts": ["A"],
                "channel": "call",
                "party": "debtor",
                "at": (start + step * n).isoformat(),
                "outcome": rng.choice(outcomes),
                "to": "cp:1",
            }
            out.write(("," if n else "") + json.dumps(event))
        out.write("]}")


def _replay_child(path: str, judge: bool, queue: multiprocessing.Queue) -> None:
    import ijson  # noqa: PLC0415

    from casedb.compliance.replay import replay_file  # noqa: PLC0415

    started = time.perf_counter()
    if judge:
        with open("/dev/null", "w", encoding="utf-8") as out:
            count = replay_file(Path(path), out)
    else:
        with open(path, "rb") as stream:
            count = sum(1 for _ in ijson.items(stream, "events.item", use_float=True))
    queue.put(
        {"seconds": time.perf_counter() - started, "count": count, "peak_rss_mb": peak_rss_mb()}
    )


def run_child(path: Path, judge: bool) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_replay_child, args=(str(path), judge, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--debtors", type=int, default=2000)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--answers", type=int, default=300)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        if args.url:
            from bench.payments_import import fresh_database  # noqa: PLC0415

            url = fresh_database(args.url, "bench_compliance")
        else:
            url = f"sqlite:///{work / 'gate.db'}"
        started = time.perf_counter()
        ids = build(url, args.debtors, args.background, work)
        print(
            f"built {args.debtors + 2} debtors, {args.debtors * args.background + 10_100} contacts "
            f"in {time.perf_counter() - started:.0f} s on {url.split(':')[0]}"
        )
        header = ("gate p50", "gate p99", "bare p50", "bare p99", "p99 ratio")
        print(f"{'debtor':<28}" + "".join(f"{h:>10}" for h in header))
        for label, key in (("100 prior contacts", "SHORT"), ("10,000 prior contacts", "LONG")):
            numbers = measure_gate(url, ids[key], args.answers)
            report[key] = numbers
            print(
                f"{label:<28}{numbers['gate_p50_ms']:>8.2f}ms{numbers['gate_p99_ms']:>8.2f}ms"
                f"{numbers['floor_p50_ms']:>8.2f}ms{numbers['floor_p99_ms']:>8.2f}ms"
                f"{numbers['gate_p99_ms'] / numbers['floor_p99_ms']:>9.1f}x"
            )
        print()
        print(f"{'replay':<34}{'contacts':>10}{'seconds':>9}{'contacts/s':>12}{'peak RSS':>11}")
        for size in (args.contacts // 2, args.contacts):
            path = work / f"replay-{size}.json"
            write_replay_file(path, size)
            for label, judge in (
                ("streaming parse only (floor)", False),
                ("replay (judge every contact)", True),
            ):
                result = run_child(path, judge)
                report[f"replay_{size}_{'judge' if judge else 'parse'}"] = result
                print(
                    f"{label:<34}{result['count']:>10,}{result['seconds']:>9.1f}"
                    f"{result['count'] / result['seconds']:>12,.0f}{result['peak_rss_mb']:>9.0f}MB"
                )
            path.unlink()
    (OUT / "compliance_gate.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
