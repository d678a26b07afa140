"""Benchmark: full re-evaluation of 1,000,000 open cases through the four shipped tables.

Requirement (issue 4): full re-evaluation of 1,000,000 open cases through all four shipped
rulesets, against the plain-Python reference evaluator on the same facts (the floor), cases/s for
both, the ratio and peak memory; the engine's state must not grow with the cases evaluated; on 2
cores, 1,000,000 cases in under 5 minutes end to end (events in, decisions committed).

One run, on one PostgreSQL database (``bench_rules``, built once and kept; ``--rebuild``):

1. **Evaluation, side by side.** The facts of every open case are read in chunks of 2,000 with
   the service's own loader (``facts_of_cases``); each chunk is evaluated by the plain-Python
   reference and by durable-rules (one post/assert per case and table, as the service does),
   answers compared. Reports cases/s of the fact reads, of the reference and of the engine, the
   ratio engine / reference, and this process's RSS after 10 % and after all cases (flat RSS =
   no engine state left behind).
2. **End to end.** New versions of all four tables are published (same rows, new version: the
   worst case, where every case gets four new decision rows and the assignment moves cases to
   the tables' teams), which requests the re-evaluation run in the same transaction; then
   ``--workers`` rules-service processes (``python run.py rules run``) share the run. Reports
   wall time from the publish's commit to the last chunk's commit, cases/s, decisions and case
   changes written, and each worker's RSS sampled through the run and its peak (VmHWM).
   ``--steady`` asks for the run without publishing (the daily tick's run on a day when
   nothing changed: the same versions decide, so only changed cases are written).

The portfolio reuses bench/console_pages.py's generator (teams renamed after the assignment
table's outputs, collectors with skills) plus installments, repayments and bureau snapshots, so
every fact source is read. Usage:

    python bench/rules_reevaluation.py [--cases 1000000] [--workers 2] [--rebuild] [--steady]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--database bench_rules]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console_pages import LOAD_STEPS, database_url, libpq_url, load
from bench.payments_import import peak_rss_mb
from casedb.migrate import upgrade
from casedb.models import OPEN_STATUSES, CollectionCase, ReevaluationRun
from casedb.session import make_engine
from rules_service.bulk_decide import plan_as_a_chunk
from rules_service.case_facts import facts_of_cases
from rules_service.decision_table import from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.engine import Engine
from rules_service.facts import FactError
from rules_service.hits import UniqueHitError
from rules_service.policy import publish_all, publish_defaults
from rules_service.reevaluation import request_reevaluation
from rules_service.reference import evaluate as reference_evaluate

REPO = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
CHUNK = 2000
TEAMS = 50
COLLECTORS = 1000
# The assignment table's teams, and how many of the 50 bench teams carry each name.
TEAM_NAMES = [
    ("early", 15),
    ("calls", 15),
    ("late_stage", 8),
    ("high_balance", 4),
    ("legal", 3),
    ("legal_review", 3),
    ("special_handling", 2),
]
SKILLS = {
    "high_balance": '["high_balance"]',
    "legal": '["legal"]',
    "legal_review": '["legal"]',
    "special_handling": '["high_risk", "negotiation"]',
}

_TEAM_CASE = " ".join(
    f"WHEN g <= {sum(n for _, n in TEAM_NAMES[: i + 1])} THEN '{name}'"
    for i, (name, _) in enumerate(TEAM_NAMES)
)
_SKILL_CASE = " ".join(f"WHEN '{name}' THEN '{skills}'" for name, skills in SKILLS.items())

# Steps added to (and replacing) console_pages' generator: the fact sources the tables read.
EXTRA_STEPS: list[tuple[str, str]] = [
    (
        "installment",
        """
        INSERT INTO installment (loan_id, seq, due_on, principal_due, interest_due, fee_due,
                                 amount_paid, paid_off_on)
        SELECT l.id, k, DATE '2025-06-30' - (4 - k) * 30 - l.id % 30,
               round(l.principal / 12, 2), round(l.principal * 0.01, 2), 0,
               CASE WHEN (l.id + k) % 3 = 0 THEN round(l.principal / 12 * 1.01, 2) ELSE 0 END,
               NULL
        FROM loan l CROSS JOIN generate_series(1, 3) k
        WHERE l.product IN ('cash_loan', 'consumer_loan', 'auto_loan')
        """,
    ),
    (
        "repayment_transaction",
        """
        INSERT INTO repayment_transaction (txn_no, loan_id, amount, currency, paid_at, channel)
        SELECT 'BT' || lpad(l.id::text, 8, '0') || '-' || k, l.id,
               round(100 + (l.id * 37 + k * 101) % 2000, 2), 'CNY',
               TIMESTAMPTZ '2025-06-30 10:00+08' - ((4 - k) * 30 + l.id % 20) * INTERVAL '1 day',
               'bank_transfer'
        FROM loan l CROSS JOIN generate_series(1, 1 + l.id % 3) k
        """,
    ),
    (
        "credit_snapshot",
        """
        INSERT INTO credit_snapshot (snapshot_no, customer_id, source_kind, provider, reported_on,
                                     score, rating, delinquent_accounts_elsewhere, details)
        SELECT 'BS' || lpad(c.id::text, 8, '0') || '-' || k, c.id, 'bureau_report', 'bench',
               DATE '2025-06-01' - (2 - k) * 90, 400 + (c.id * 13 + k * 7) % 400,
               (ARRAY['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC'])[1 + (c.id + k * (c.id % 3)) % 7],
               (c.id + k) % 4, '{}'
        FROM customer c CROSS JOIN generate_series(1, 2) k
        """,
    ),
]


def load_steps() -> list[tuple[str, str]]:
    """console_pages' steps with teams named after the assignment table's outputs, collectors
    with the skills those teams need, every case open, and the extra fact sources."""
    steps = []
    for table, sql in LOAD_STEPS:
        if table == "team":
            sql = f"""
            INSERT INTO team (code, name, region, supervisor_username, active)
            SELECT 'BT' || lpad(g::text, 3, '0'), CASE {_TEAM_CASE} END,
                   (ARRAY['11', '31', '44', '51', '33'])[1 + g % 5], 'bench_supervisor_' || g,
                   true
            FROM generate_series(1, :teams) g
            """
        elif table == "collector":
            sql = f"""
            INSERT INTO collector (code, name, username, team_id, skills, languages, regions,
                                   capacity, active)
            SELECT 'BC' || lpad(g::text, 5, '0'), '催收员 Collector ' || g,
                   'bench_collector_' || g, t.id,
                   (CASE t.name {_SKILL_CASE} ELSE '[]' END)::json, '["zh"]', '[]', 1200, true
            FROM generate_series(1, :collectors) g
            JOIN team t ON t.id = 1 + (g - 1) % :teams
            """
        elif table == "collection_case":
            # Every case open: the requirement is a million *open* cases.
            sql = sql.replace("'paid', 'settled', 'closed'", "'in_collection', 'new', 'legal'")
            sql = sql.replace(
                "WHEN status IN ('paid', 'settled', 'closed', 'written_off')", "WHEN false"
            )
        steps.append((table, sql))
    return steps + EXTRA_STEPS


def rss_of(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def own_rss() -> float:
    return rss_of(os.getpid())["VmRSS"]


def _answer(run: Any, table: Any, facts: Any) -> tuple[str, ...]:
    try:
        return tuple(hit.row_id for hit in run(table, facts))
    except UniqueHitError as conflict:
        return ("UNIQUE", *conflict.row_ids)
    except FactError as error:
        return ("FACT", str(error))


def side_by_side(engine_url: str) -> dict[str, Any]:
    """Facts read once per chunk, evaluated by the reference and by the engine."""
    db = make_engine(engine_url)
    tables = default_policy()
    rules = Engine()
    names = {kind: rules.register(table) for kind, table in tables.items()}
    with Session(db) as session:
        ids = session.scalars(
            select(CollectionCase.id)
            .where(CollectionCase.status.in_(OPEN_STATUSES))
            .order_by(CollectionCase.id)
        ).all()
    timing = {"facts": 0.0, "reference": 0.0, "engine": 0.0, "engine_by_class": 0.0}
    mismatches = refused = 0
    rss_at_10 = None
    for start in range(0, len(ids), CHUNK):
        with Session(db) as session:
            plan_as_a_chunk(session)  # as the service's chunks are planned
            began = time.perf_counter()
            facts = facts_of_cases(session, ids[start : start + CHUNK])
            timing["facts"] += time.perf_counter() - began
        good = [f for f in facts.values() if not isinstance(f, FactError)]
        refused += len(facts) - len(good)
        began = time.perf_counter()
        expected = [[_answer(reference_evaluate, t, f) for t in tables.values()] for f in good]
        timing["reference"] += time.perf_counter() - began
        began = time.perf_counter()
        got = [[_answer(rules.evaluate, names[k], f) for k in tables] for f in good]
        timing["engine"] += time.perf_counter() - began
        mismatches += sum(a != b for a, b in zip(got, expected, strict=True))
        began = time.perf_counter()
        got = [[_answer(rules.evaluate_by_class, names[k], f) for k in tables] for f in good]
        timing["engine_by_class"] += time.perf_counter() - began
        mismatches += sum(a != b for a, b in zip(got, expected, strict=True))
        if rss_at_10 is None and start + CHUNK >= len(ids) // 10:
            rss_at_10 = own_rss()
    db.dispose()
    cases = len(ids)
    return {
        "cases": cases,
        "refused_facts": refused,
        "mismatches": mismatches,
        "facts_per_s": cases / timing["facts"],
        "reference_per_s": cases / timing["reference"],
        "engine_per_s": cases / timing["engine"],
        "engine_by_class_per_s": cases / timing["engine_by_class"],
        "ratio_engine_vs_reference": timing["engine"] / timing["reference"],
        "ratio_engine_by_class_vs_reference": timing["engine_by_class"] / timing["reference"],
        "classes": {k.value: len(rules._classes[names[k]]._answers) for k in tables},
        "seconds": timing,
        "rss_after_10pct_mb": rss_at_10,
        "rss_after_all_mb": own_rss(),
        "peak_rss_mb": peak_rss_mb(),
    }


def end_to_end(url: str, workers: int, steady: bool = False) -> dict[str, Any]:
    db = make_engine(url)
    with Session(db) as session, session.begin():
        publish_defaults(session, by="bench")  # the baseline, if not yet there
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        newest = dict(
            conn.execute("SELECT name, max(version) FROM published_ruleset GROUP BY name")
        )
        # Finish (skip) whatever an earlier interrupted run left undone.
        conn.execute("UPDATE reevaluation_chunk SET done_at = now() WHERE done_at IS NULL")
        decisions_before = conn.execute("SELECT count(*) FROM rule_decision").fetchone()[0]
    documents = []  # every shipped table as the version after the newest published one
    for table in default_policy().values():
        document = to_dict(table)
        document["version"] = newest[document["name"]] + 1
        documents.append(from_json(document))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    services = [
        subprocess.Popen(
            [sys.executable, str(REPO / "run.py"), "rules", "run", "--poll", "0.2"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    time.sleep(3)  # started and idle: what they hold before the run
    idle = [rss_of(s.pid)["VmRSS"] for s in services]
    with Session(db) as session, session.begin():
        if steady:  # the running versions again: the daily tick's run on a day with no news
            request_reevaluation(session, "bench: every open case again", by="bench")
        else:
            publish_all(session, documents, by="bench")
        run_id = session.scalars(
            select(ReevaluationRun.id).order_by(ReevaluationRun.id.desc()).limit(1)
        ).one()
    started = time.perf_counter()
    samples: list[tuple[float, int, list[float]]] = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        while True:
            done, total = conn.execute(
                "SELECT count(done_at), count(*) FROM reevaluation_chunk WHERE run_id = %s",
                (run_id,),
            ).fetchone()
            samples.append(
                (time.perf_counter() - started, done, [rss_of(s.pid)["VmRSS"] for s in services])
            )
            if done == total:
                break
            time.sleep(1.0)
        elapsed = samples[-1][0]
        peaks = [rss_of(s.pid)["VmHWM"] for s in services]
        for service in services:
            service.terminate()
        for service in services:
            service.wait(timeout=60)
        row = conn.execute(
            "SELECT sum(evaluated), sum(changed), sum(recorded) FROM reevaluation_chunk"
            " WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        decisions_after = conn.execute("SELECT count(*) FROM rule_decision").fetchone()[0]
    db.dispose()
    evaluated, changed, recorded = (int(v or 0) for v in row)
    tenth = next((s for s in samples if s[1] >= total // 10), samples[0])
    return {
        "workers": workers,
        "run": "the same versions again" if steady else "four new versions published",
        "cases": evaluated,
        "chunks": total,
        "seconds": elapsed,
        "cases_per_s": evaluated / elapsed if elapsed else None,
        "cases_changed": changed,
        "decisions_recorded": recorded,
        "decisions_table_growth": decisions_after - decisions_before,
        "worker_rss_idle_mb": idle,
        "worker_rss_at_10pct_mb": tenth[2],
        "worker_rss_at_end_mb": samples[-1][2],
        "worker_peak_rss_mb": peaks,
        "progress": [(round(t, 1), d) for t, d, _ in samples[:: max(1, len(samples) // 20)]],
    }


def report(loaded: list[str], evaluation: dict[str, Any], e2e: dict[str, Any]) -> str:
    lines = [
        f"rules re-evaluation benchmark ({os.cpu_count()} CPUs)",
        *loaded,
        "",
        f"1. evaluation side by side, {evaluation['cases']:,} open cases, four tables, one process",
        f"   facts read (9 queries per 2,000 cases): {evaluation['facts_per_s']:10,.0f} cases/s",
        f"   reference (plain Python, the floor):    {evaluation['reference_per_s']:10,.0f} "
        "cases/s",
        f"   engine, every case posted:              {evaluation['engine_per_s']:10,.0f} cases/s"
        f"  ({evaluation['ratio_engine_vs_reference']:.2f}x the reference's time)",
        f"   engine, once per input class (service): {evaluation['engine_by_class_per_s']:10,.0f}"
        f" cases/s  ({evaluation['ratio_engine_by_class_vs_reference']:.2f}x the reference's "
        f"time; classes met per table: {evaluation['classes']})",
        f"   answers that differ from the reference (both engine paths): "
        f"{evaluation['mismatches']}; facts refused: "
        f"{evaluation['refused_facts']}",
        f"   RSS after 10 %: {evaluation['rss_after_10pct_mb']:.0f} MB, after all: "
        f"{evaluation['rss_after_all_mb']:.0f} MB, peak {evaluation['peak_rss_mb']:.0f} MB",
        "",
        f"2. end to end: {e2e['run']} -> {e2e['workers']} rules-service processes "
        "-> decisions committed",
        f"   {e2e['cases']:,} cases in {e2e['chunks']} chunks: {e2e['seconds']:.1f} s = "
        f"{e2e['cases_per_s']:,.0f} cases/s (target: 1,000,000 in < 300 s)",
        f"   cases changed {e2e['cases_changed']:,}; decisions recorded "
        f"{e2e['decisions_recorded']:,} (rule_decision grew by {e2e['decisions_table_growth']:,})",
        f"   worker RSS idle {e2e['worker_rss_idle_mb']} MB, at 10 % "
        f"{e2e['worker_rss_at_10pct_mb']} MB, at the end {e2e['worker_rss_at_end_mb']} MB, "
        f"peak {e2e['worker_peak_rss_mb']} MB",
        f"   progress (s, chunks done): {e2e['progress']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="bench_rules")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-side-by-side", action="store_true")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="end to end with the running versions again (no new decisions for unchanged cases)",
    )
    parser.add_argument("--load-only", action="store_true", help="build the database and stop")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    url = database_url(args.url, args.database, args.rebuild)
    upgrade(url)
    sizes = {
        "teams": TEAMS,
        "collectors": COLLECTORS,
        "customers": args.customers,
        "cases": args.cases,
        "attempts_per_case": 1,
        "all_open": 1,  # (recorded with the load: a database of console_pages' mix is reloaded)
    }
    loaded = load(url, sizes, load_steps())
    if args.load_only:
        return
    evaluation = {} if args.skip_side_by_side else side_by_side(url)
    if evaluation:
        print(json.dumps(evaluation, indent=1), flush=True)
    e2e = end_to_end(url, args.workers, args.steady)
    text = report(loaded, evaluation, e2e) if evaluation else json.dumps(e2e, indent=1)
    print(text)
    (OUT / "rules_reevaluation.txt").write_text(text + "\n", encoding="utf-8")
    (OUT / "rules_reevaluation.json").write_text(
        json.dumps({"evaluation": evaluation, "end_to_end": e2e}, indent=1), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
