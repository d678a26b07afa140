"""Benchmark: the daily treatment run over 1,000,000 open cases, beside a single SQL pass.

Requirement (issue 6): the daily run that creates due tasks and outbound messages for 1,000,000
open cases finishes in a bounded, measured time, side by side with a single SQL pass over the
same cases (the floor).

It runs on the PostgreSQL database of bench/rules_reevaluation.py (``bench_rules``: 1,000,000
open cases on 200,000 customers; built there, reused here), upgraded to the newest schema. Each
customer gets a mobile number (once). Every open case's strategy names one of the shipped paths
(the re-evaluation bench leaves them decided; any left undecided are given the path of their
bucket). Then, in one run:

1. **First day** — every case enters its path: 1,000,000 progress rows, the day-0 step of each
   as a task, and for the automated ones an outbound message rendered from the path's template
   in the debtor's language. ``rules_service.treatment_run.run_treatment`` in a child process
   (wall time, rows, peak RSS) against **the floor**: the same rows made by three INSERT ...
   SELECT statements into copies of the tables (same indexes), the message text by SQL
   ``format()``.
2. **Next day** — the steps due one day later (the SMS of the call path, ...): the run reads every
   open case and its progress again and creates the few that fell due; against the floor's
   single INSERT ... SELECT over progress joined to the steps, plus its UPDATE.

Usage (the re-evaluation bench builds the database first):

    python bench/treatment_run.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--database bench_rules]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console_pages import libpq_url
from bench.payments_import import peak_rss_mb
from casedb.migrate import upgrade
from casedb.session import make_engine
from rules_service.treatment_paths import (
    AUTOMATED_ACTIONS,
    publish_shipped,
    published_paths,
)

OUT = Path(__file__).resolve().parent / "out"
# The path a case of each bucket follows when the bench database has no decided strategy.
PATH_OF_BUCKET = {
    "M0": "m1_gentle_reminders",
    "M1": "m1_gentle_reminders",
    "M2": "m2_calls",
    "M3": "m3_letters",
    "M4+": "m4_legal_review",
}
OPEN = "('new', 'in_collection', 'promised', 'legal')"


def prepare(url: str) -> dict[str, Any]:
    """Schema at head, shipped paths published, strategies set, treatment tables empty."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        session.info["actor"] = "bench"
        publish_shipped(session, by="bench")
    engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE treatment_progress, case_task, outbound_message RESTART IDENTITY CASCADE"
        )
        conn.execute("DELETE FROM alert WHERE kind = 'task_overdue'")
        if not conn.execute("SELECT 1 FROM contact_point LIMIT 1").fetchone():
            conn.execute(
                "INSERT INTO contact_point (contact_point_no, customer_id, kind, value,"
                " value_masked, is_primary, consent, ceased, opted_out, invalid, created_at,"
                " updated_at) SELECT 'BP' || id, id, 'mobile', '138' || lpad(id::text, 8, '0'),"
                " '138****' || right(lpad(id::text, 8, '0'), 4), true, 'granted', false, false,"
                " false, now(), now() FROM customer"
            )
        whens = " ".join(f"WHEN '{b}' THEN '{p}'" for b, p in PATH_OF_BUCKET.items())
        undecided = conn.execute(
            f"UPDATE collection_case SET strategy = CASE bucket {whens} END"
            f" WHERE status IN {OPEN} AND (strategy IS NULL OR strategy NOT IN"
            f" (SELECT name FROM treatment_path WHERE status = 'published'))"
        ).rowcount
        conn.execute("VACUUM (ANALYZE) collection_case, contact_point")
        counts = dict(
            conn.execute(
                f"SELECT strategy, count(*) FROM collection_case WHERE status IN {OPEN}"
                " GROUP BY strategy ORDER BY 2 DESC"
            ).fetchall()
        )
        stored = conn.execute(
            "SELECT value FROM system_setting WHERE key = 'business_date'"
        ).fetchone()
    on = date.fromisoformat(stored[0]) if stored else date.today()
    return {"on": on.isoformat(), "strategies": counts, "given_a_path_here": undecided}


def _child(url: str, on: str, queue: Any) -> None:
    from rules_service.treatment_run import run_treatment  # noqa: PLC0415

    engine = make_engine(url)
    started = time.perf_counter()
    result = run_treatment(engine, date.fromisoformat(on))
    queue.put(
        {
            "seconds": time.perf_counter() - started,
            "result": result.as_dict(),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def run_service(url: str, on: date) -> dict[str, Any]:
    """The treatment run for ``on`` in a fresh process (its own peak RSS)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(url, on.isoformat(), queue))
    process.start()
    answer = queue.get()
    process.join()
    return answer


def _steps_values(url: str) -> str:
    """The published paths' steps as a VALUES list for the floor."""
    engine = make_engine(url)
    with Session(engine) as session:
        paths = published_paths(session)
    engine.dispose()
    rows = []
    for name, path in paths.items():
        for index, step in enumerate(path.document.steps):
            text = step.text("zh")
            body = text.get("body", "").replace("'", "''")
            rows.append(
                f"('{name}', {path.version}, {index}, '{step.id}', '{step.action}',"
                f" {step.offset_days}, '{step.after}', {str(step.automated).lower()},"
                f" '{AUTOMATED_ACTIONS.get(step.action, '')}', '{body}')"
            )
    return ",\n".join(rows)


def _floor_body(column: str) -> str:
    """The template's main merge fields filled in by SQL (what the run renders in Python)."""
    return (
        f"replace(replace(replace({column}, '{{customer_name}}', cu.name),"
        " '{case_no}', c.case_no), '{overdue_amount}',"
        " to_char(c.overdue_principal + c.overdue_interest + c.overdue_fees, 'FM999,999,990.00'))"
    )


def floor(url: str, on: date) -> dict[str, Any]:
    """First and next day by plain SQL into copies of the treatment tables."""
    steps = _steps_values(url)
    timings: dict[str, Any] = {}
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for table in ("treatment_progress", "case_task", "outbound_message"):
            conn.execute(f"DROP TABLE IF EXISTS floor_{table}")
            conn.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
        conn.execute("DROP TABLE IF EXISTS floor_step")
        conn.execute(
            "CREATE TABLE floor_step (path text, version int, idx int, step text, action text,"
            " offset_days int, after text, automated bool, channel text, body text)"
        )
        conn.execute(f"INSERT INTO floor_step VALUES {steps}")
        conn.execute("ANALYZE floor_step")
        started = time.perf_counter()
        with conn.transaction():
            progress = conn.execute(
                "INSERT INTO floor_treatment_progress (case_id, path, path_version, entered_on,"
                " anchor_on, next_step, current) SELECT c.id, c.strategy, s.version, %(on)s,"
                " %(on)s, 1, true FROM collection_case c JOIN floor_step s ON s.path ="
                f" c.strategy AND s.idx = 0 WHERE c.status IN {OPEN} AND NOT c.on_hold",
                {"on": on},
            ).rowcount
            tasks = conn.execute(
                "INSERT INTO floor_case_task (case_id, path, path_version, step, action,"
                " automated, due_at, status, collector_id, team_id, created_at)"
                " SELECT c.id, s.path, s.version, s.step, s.action, s.automated,"
                " %(on)s::date + time '01:00', CASE WHEN s.automated THEN 'done' ELSE 'open' END,"
                " c.collector_id, c.team_id, now() FROM collection_case c JOIN floor_step s ON"
                f" s.path = c.strategy AND s.idx = 0 WHERE c.status IN {OPEN} AND NOT c.on_hold",
                {"on": on},
            ).rowcount
            messages = conn.execute(
                "INSERT INTO floor_outbound_message (case_id, task_id, channel, language,"
                " recipient, body, status, attempts, next_attempt_at, created_at)"
                " SELECT c.id, t.id, s.channel, 'zh', cp.value, "
                + _floor_body("s.body")
                + ", 'queued', 0, now(), now() FROM floor_case_task t"
                " JOIN floor_step s ON s.path = t.path AND s.step = t.step AND s.automated"
                " JOIN collection_case c ON c.id = t.case_id JOIN customer cu ON cu.id ="
                " c.customer_id LEFT JOIN contact_point cp ON cp.customer_id = cu.id AND"
                " cp.kind = 'mobile' AND cp.is_primary"
            ).rowcount
        timings["first_day"] = {
            "seconds": time.perf_counter() - started,
            "progress": progress,
            "tasks": tasks,
            "messages": messages,
        }
        next_day = on + timedelta(days=1)
        started = time.perf_counter()
        with conn.transaction():
            due = (
                "FROM floor_treatment_progress p JOIN floor_step s ON s.path = p.path AND"
                " s.idx = p.next_step WHERE p.current AND (CASE WHEN s.after = 'entry' THEN"
                " p.entered_on ELSE p.anchor_on END) + s.offset_days <= %(on)s"
            )
            tasks = conn.execute(
                "INSERT INTO floor_case_task (case_id, path, path_version, step, action,"
                " automated, due_at, status, created_at) SELECT p.case_id, s.path, s.version,"
                " s.step, s.action, s.automated, %(on)s::date + time '01:00', 'open', now() " + due,
                {"on": next_day},
            ).rowcount
            conn.execute(
                "UPDATE floor_treatment_progress p SET next_step = p.next_step + 1, anchor_on ="
                " %(on)s FROM floor_step s WHERE s.path = p.path AND s.idx = p.next_step AND"
                " p.current AND (CASE WHEN s.after = 'entry' THEN p.entered_on ELSE p.anchor_on"
                " END) + s.offset_days <= %(on)s",
                {"on": next_day},
            )
        timings["next_day"] = {"seconds": time.perf_counter() - started, "tasks": tasks}
        for table in ("treatment_progress", "case_task", "outbound_message", "step"):
            conn.execute(f"DROP TABLE IF EXISTS floor_{table}")
    return timings


def report(setup: dict[str, Any], ours: dict[str, Any], floors: dict[str, Any]) -> str:
    lines = [
        "Daily treatment run, 1,000,000 open cases (PostgreSQL, one process)",
        f"business date {setup['on']}; paths: {setup['strategies']}",
        "",
        f"{'':<10} {'run s':>8} {'floor s':>8} {'ratio':>6} {'tasks':>9} {'messages':>9}"
        f" {'floor tasks':>11} {'peak RSS MB':>11}",
    ]
    for phase in ("first_day", "next_day"):
        mine, theirs = ours[phase], floors[phase]
        lines.append(
            f"{phase:<10} {mine['seconds']:>8.1f} {theirs['seconds']:>8.1f}"
            f" {mine['seconds'] / theirs['seconds']:>6.1f} {mine['result']['tasks']:>9,}"
            f" {mine['result']['messages']:>9,} {theirs['tasks']:>11,}"
            f" {mine['peak_rss_mb']:>11.0f}"
        )
    first = ours["first_day"]
    lines.append(
        f"first day: {first['result']['cases'] / first['seconds']:,.0f} cases/s,"
        f" {first['result']['entered']:,} entered their path"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="bench_rules")
    args = parser.parse_args()
    url = (
        make_engine(args.url).url.set(database=args.database).render_as_string(hide_password=False)
    )
    setup = prepare(url)
    on = date.fromisoformat(setup["on"])
    print(f"prepared: {setup}", flush=True)
    ours = {"first_day": run_service(url, on)}
    print(f"first day: {ours['first_day']}", flush=True)
    ours["next_day"] = run_service(url, on + timedelta(days=1))
    print(f"next day: {ours['next_day']}", flush=True)
    floors = floor(url, on)
    print(f"floor: {floors}", flush=True)
    text = report(setup, ours, floors)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "treatment_run.txt").write_text(text + "\n", encoding="utf-8")
    (OUT / "treatment_run.json").write_text(
        json.dumps({"setup": setup, "ours": ours, "floor": floors}, indent=1, default=str),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
