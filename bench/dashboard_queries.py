"""Benchmark: the dashboard's tiles over 1,000,000 cases and 10,000,000 contacts in PostgreSQL.

Requirement (issue 8): each dashboard tile's metric against its raw SQL aggregate — the floor —
with the time of both, their ratio and peak memory.

The data is bench/console_pages.py's portfolio (200k customers, 1M loans and cases over 50 teams
and 1000 collectors, 10M contact attempts over June 2025, the closed cases closing over June
rather than all on its last day; generated server-side with
``INSERT ... SELECT FROM generate_series`` by its ``load`` helper, each table in one transaction,
recorded so a re-run skips it) plus what the tiles read beyond it: promises with their
resolution dates, 667k payments and 200k alerts over the 60 days before the business date
(2025-06-30), 2M compliance checks (10 % blocked). Then ANALYZE (autovacuum is off here) and
the daily snapshots of May 31 to June 29 as the daily tick writes them (``write_snapshot``,
timed: what the tick adds per day), in database ``bench_dashboard``.

Measured, for three scopes over June 2025 (everything; one team; a region and a product):
- ours: each tile's function of ``reports.metrics`` — June 1-29 from the snapshots, June 30
  (the business date) live from the tables — through SQLAlchemy, median of ``--reps`` runs;
- floor: the hand-written aggregate over the raw tables that gives the same number (e.g. the
  sum of June's payments on loans with a case), run on a bare psycopg connection, rows fetched;
and the ratio ours / floor, the tile's Python peak allocation (tracemalloc) and the process's
peak RSS. Ours and the floor must agree on every number (checked). The report is printed and
written to bench/out/dashboard_queries.txt (and .json).

Usage: python bench/dashboard_queries.py [--cases 1000000] [--attempts-per-case 10] [--reps 5]
       [--rebuild] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
       [--database bench_dashboard]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console_pages import COLLECTORS, LOAD_STEPS, TEAMS, database_url, libpq_url, load
from bench.payments_import import peak_rss_mb
from casedb.migrate import upgrade
from casedb.session import make_engine
from reports import metrics
from reports.metrics import Scope
from reports.snapshots import local_midnight, snapshot_dates, write_snapshot

OUT = Path(__file__).resolve().parent / "out"
BUSINESS_DATE = date(2025, 6, 30)
FIRST_SNAPSHOT = date(2025, 5, 31)
JUNE = (date(2025, 6, 1), BUSINESS_DATE)
OPEN = "('new', 'in_collection', 'promised', 'legal')"
RPC = "('rpc', 'ptp', 'refused_to_pay', 'dispute', 'hardship', 'already_paid', 'cease_requested')"

# console_pages' portfolio without its promises (ours carry resolution dates), then the rest.
EXTRA_STEPS: list[tuple[str, str]] = [
    (
        "promise_to_pay",
        """
        INSERT INTO promise_to_pay (promise_no, case_id, collector_id, amount, promised_for,
                                    status, amount_paid, resolved_on, created_at, updated_at)
        SELECT 'BP' || lpad(id::text, 8, '0'), id, collector_id, overdue_principal, due, status,
               0, CASE WHEN status <> 'pending' THEN LEAST(due + 2, DATE '2025-06-30') END,
               (due - 5)::timestamptz, now()
        FROM (
            SELECT c.id, c.collector_id, c.overdue_principal,
                   DATE '2025-06-30' - (c.id % 40) AS due,
                   (ARRAY['broken', 'kept', 'pending', 'partly_kept', 'kept'])[1 + c.id / 10 % 5]
                       AS status
            FROM collection_case c WHERE c.id % 10 = 0
        ) p
        """,
    ),
    (
        "repayment_transaction",
        """
        INSERT INTO repayment_transaction (txn_no, loan_id, amount, currency, paid_at, channel,
                                           created_at, updated_at)
        SELECT 'BT' || lpad(c.id::text, 8, '0') || '-' || k, c.loan_id,
               round(c.overdue_principal * 0.3, 2), 'CNY',
               TIMESTAMPTZ '2025-06-30 12:00+08' - ((c.id * 7 + k * 13) % 60) * INTERVAL '1 day',
               'bank', now(), now()
        FROM collection_case c CROSS JOIN generate_series(1, 2) k WHERE c.id % 3 = 0
        """,
    ),
    (
        "alert",
        """
        INSERT INTO alert (case_id, kind, severity, status, raised_at, ruleset, version, row)
        SELECT c.id, (ARRAY['missed_installments', 'payment_falling', 'broken_promises',
                            'no_recent_contact'])[1 + c.id % 4], 'warning', 'open',
               TIMESTAMPTZ '2025-06-30 08:00+08' - (c.id % 45) * INTERVAL '1 day',
               'alert', 1, 'R1'
        FROM collection_case c WHERE c.id % 5 = 0
        """,
    ),
    (
        "compliance_check",
        """
        INSERT INTO compliance_check (checked_at, contact_at, case_id, customer_id, actor,
            origin, agent, channel, party, policy, policy_version, verdict, reasons,
            blocking_rule)
        SELECT at, at, c.id, c.customer_id, 'bench', 'click', 'lender', 'call', 'debtor', 'CN',
               1, CASE WHEN (c.id + k) % 10 = 0 THEN 'blocked' ELSE 'allowed' END, '[]',
               CASE WHEN (c.id + k) % 10 = 0 THEN (ARRAY['quiet_hours', 'daily_connected_calls',
                   'daily_unanswered_dials', 'cease'])[1 + c.id % 4] END
        FROM collection_case c CROSS JOIN generate_series(1, 2) k
        CROSS JOIN LATERAL (SELECT TIMESTAMPTZ '2025-06-30 10:00+08'
                            - ((c.id + k) % 45) * INTERVAL '1 day' AS at) t
        """,
    ),
    (
        "system_setting",
        """
        INSERT INTO system_setting (key, value, updated_at)
        VALUES ('business_date', '2025-06-30', now())
        """,
    ),
]

CLOSED_ON = (
    "CASE WHEN status IN ('paid', 'settled', 'closed', 'written_off')\n"
    "                    THEN DATE '2025-06-30' END"
)
# Cases close over June (console_pages closes them all on its last day), none before it opened.
SPREAD_CLOSED_ON = (
    "CASE WHEN status IN ('paid', 'settled', 'closed', 'written_off')"
    " THEN GREATEST(DATE '2025-06-30' - dpd, DATE '2025-06-30' - id % 30) END"
)


def _steps() -> list[tuple[str, str]]:
    steps = []
    for table, sql in LOAD_STEPS:
        if table == "promise_to_pay":
            continue
        if table == "collection_case":
            if CLOSED_ON not in sql:
                raise RuntimeError("bench/console_pages.py's case step changed: update CLOSED_ON")
            sql = sql.replace(CLOSED_ON, SPREAD_CLOSED_ON)
        steps.append((table, sql))
    return steps + EXTRA_STEPS


STEPS = _steps()


def write_snapshots(url: str, sizes: dict[str, int]) -> list[str]:
    """The daily snapshots of May 31 (holding everything before) to June 29, once per sizes."""
    lines = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_snapshots (sizes jsonb PRIMARY KEY,"
            " seconds jsonb NOT NULL)"
        )
        done = conn.execute(
            "SELECT seconds FROM bench_snapshots WHERE sizes = %s", (json.dumps(sizes),)
        ).fetchone()
        if done:
            return [f"snapshots already written: {done[0]['summary']}"]
        conn.execute("TRUNCATE portfolio_snapshot, portfolio_event_count, portfolio_snapshot_run")
    engine = make_engine(url)
    seconds = []
    day = FIRST_SNAPSHOT
    while day < BUSINESS_DATE:
        started = time.perf_counter()
        with engine.begin() as connection:
            write_snapshot(connection, day, by="bench", source="tick")
        seconds.append(time.perf_counter() - started)
        print(f"snapshot {day}: {seconds[-1]:.1f} s", flush=True)
        day += timedelta(days=1)
    engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ANALYZE portfolio_snapshot")
        conn.execute("ANALYZE portfolio_event_count")
        conn.execute("ANALYZE portfolio_snapshot_run")
        rows = conn.execute(
            "SELECT grain, count(*) FROM portfolio_snapshot GROUP BY grain ORDER BY grain"
        ).fetchall()
        grains = ", ".join(f"{grain} {count:,}" for grain, count in rows)
        summary = (
            f"{len(seconds)} days written in {sum(seconds):.0f} s (median "
            f"{statistics.median(seconds):.1f} s, first {seconds[0]:.1f} s); rows: {grains}"
        )
        conn.execute(
            "INSERT INTO bench_snapshots (sizes, seconds) VALUES (%s, %s)",
            (json.dumps(sizes), json.dumps({"days": seconds, "summary": summary})),
        )
    lines.append(summary)
    print(summary, flush=True)
    return lines


# --- the floors: raw aggregates over the tables -----------------------------------------------


def _filters(scope: Scope, case: str = "c", loan: str = "l", customer: str = "u") -> str:
    found = []
    if scope.team_id is not None:
        found.append(f"{case}.team_id = {int(scope.team_id)}")
    if scope.product is not None:
        found.append(f"{loan}.product = '{scope.product}'")
    if scope.region is not None:
        found.append(f"{customer}.region = '{scope.region}'")
    return "".join(f" AND {f}" for f in found)


def _joins(scope: Scope, case: str = "c") -> str:
    joins = ""
    if scope.product is not None or scope.region is not None:
        joins += f" JOIN loan l ON l.id = {case}.loan_id"
    if scope.region is not None:
        joins += " JOIN customer u ON u.id = l.customer_id"
    return joins


def floors(scope: Scope) -> dict[str, list[str]]:
    """Per tile, the raw SQL that computes its numbers for ``scope`` (June, live stocks)."""
    lo, hi = local_midnight(scope.start).isoformat(), local_midnight(scope.end + timedelta(1))
    hi = hi.isoformat()
    live_book = f"(l.status = 'active' OR c.status IN {OPEN})"
    region_join = " JOIN customer u ON u.id = l.customer_id" if scope.region else ""
    payments = (
        "SELECT sum(t.amount) FROM repayment_transaction t"
        " JOIN collection_case c ON c.loan_id = t.loan_id"
        f"{_joins(scope)} WHERE t.paid_at >= '{lo}' AND t.paid_at < '{hi}'{_filters(scope)}"
    )
    return {
        "overdue_rate": [
            "SELECT count(*),"
            f" count(*) FILTER (WHERE c.status IN {OPEN} AND c.bucket <> 'M0'),"
            f" sum(CASE WHEN c.status IN {OPEN} THEN c.outstanding_balance"
            " ELSE l.outstanding_balance END),"
            f" sum(CASE WHEN c.status IN {OPEN} AND c.bucket <> 'M0'"
            " THEN c.outstanding_balance ELSE 0 END)"
            f" FROM loan l LEFT JOIN collection_case c ON c.loan_id = l.id{region_join}"
            f" WHERE {live_book}{_filters(scope)}"
        ],
        "recovery_rate": [
            payments,
            # Worked in June: open at its end, or closed during it.
            f"SELECT sum(c.overdue_at_entry) FROM collection_case c{_joins(scope)}"
            f" WHERE (c.status IN {OPEN} OR (c.closed_on >= '{scope.start}'"
            f" AND c.closed_on <= '{scope.end}')){_filters(scope)}",
        ],
        "average_collection_cycle": [
            "SELECT count(*), sum(c.closed_on - c.opened_on) FROM collection_case c"
            f"{_joins(scope)} WHERE c.closed_on >= '{scope.start}' AND c.closed_on <= '{scope.end}'"
            f"{_filters(scope)}",
            # The tile also shows the open cases' average age.
            f"SELECT count(*), sum(DATE '{scope.end}' - c.opened_on) FROM collection_case c"
            f"{_joins(scope)} WHERE c.status IN {OPEN}{_filters(scope)}",
        ],
        "promise_kept_rate": [
            "SELECT count(*) FILTER (WHERE p.status = 'kept'), count(*)"
            " FROM promise_to_pay p JOIN collection_case c ON c.id = p.case_id"
            f"{_joins(scope)} WHERE p.resolved_on >= '{scope.start}'"
            f" AND p.resolved_on <= '{scope.end}'"
            f" AND p.status IN ('kept', 'partly_kept', 'broken'){_filters(scope)}",
        ],
        "right_party_contact_rate": [
            "SELECT count(*) FILTER (WHERE a.channel IN ('call', 'visit')),"
            " count(*) FILTER (WHERE a.channel IN ('call', 'visit') AND a.party = 'debtor'"
            f" AND a.outcome IN {RPC})"
            " FROM contact_attempt a"
            + (" JOIN collection_case c ON c.id = a.case_id" if _filters(scope) else "")
            + (_joins(scope) if _filters(scope) else "")
            + f" WHERE a.started_at >= '{lo}' AND a.started_at < '{hi}'{_filters(scope)}"
        ],
        "collected": [payments],
    }


def run_floor(conn: psycopg.Connection, statements: list[str]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    rows = []
    for statement in statements:
        with conn.cursor() as cur:
            cur.execute(statement)
            rows.append(cur.fetchall())
    return (time.perf_counter() - started) * 1000, rows


def tile_functions(connection: Any) -> dict[str, Callable[[Scope], Any]]:
    return {
        "overdue_rate": lambda s: metrics.overdue_rate(connection, s),
        "recovery_rate": lambda s: metrics.recovery_rate(connection, s),
        "average_collection_cycle": lambda s: metrics.average_collection_cycle(connection, s),
        "promise_kept_rate": lambda s: metrics.promise_kept_rate(connection, s),
        "right_party_contact_rate": lambda s: metrics.right_party_contact_rate(connection, s),
        "collected": lambda s: metrics.collected_by_team(connection, s).total,
    }


def agree(tile: str, ours: Any, floor: list[Any]) -> str:
    """The numbers both give, and whether they agree."""
    first = floor[0][0]
    if tile == "overdue_rate":
        expected = (first[0], first[1], Decimal(first[2] or 0), Decimal(first[3] or 0))
        got = (ours.accounts, ours.overdue_accounts, ours.balance, ours.overdue_balance)
    elif tile == "recovery_rate":
        expected = (Decimal(first[0] or 0), Decimal(floor[1][0][0] or 0))
        got = (ours.collected, ours.overdue_at_entry)
    elif tile == "average_collection_cycle":
        opened = floor[1][0]
        expected = (first[0], int(first[1] or 0), opened[0])
        got = (ours.closed_cases, ours.total_days, ours.open_cases)
    elif tile == "promise_kept_rate":
        expected = (first[0], first[1])
        got = (ours.kept, ours.resolved)
    elif tile == "right_party_contact_rate":
        expected = (first[0], first[1])
        got = (ours.dials, ours.right_party_contacts)
    else:
        expected, got = (Decimal(first[0] or 0),), (ours,)
    return "agree" if expected == got else f"DIFFER: ours {got} floor {expected}"


def measure(url: str, reps: int) -> list[dict[str, Any]]:
    engine = make_engine(url)
    floor_conn = psycopg.connect(libpq_url(url), autocommit=True, options="-c jit=off")
    scopes = {
        "all": Scope(*JUNE),
        "team 7": Scope(*JUNE, team_id=7),
        "region 44, cash_loan": Scope(*JUNE, product="cash_loan", region="44"),
    }
    results = []
    with engine.connect() as connection:
        functions = tile_functions(connection)
        for scope_name, scope in scopes.items():
            statements = floors(scope)
            for tile, function in functions.items():
                function(scope)  # warm: plans, caches
                run_floor(floor_conn, statements[tile])
                ours_ms, floor_ms = [], []
                for _ in range(reps):
                    started = time.perf_counter()
                    ours = function(scope)
                    ours_ms.append((time.perf_counter() - started) * 1000)
                    elapsed, floor_rows = run_floor(floor_conn, statements[tile])
                    floor_ms.append(elapsed)
                tracemalloc.start()
                function(scope)
                _, python_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                row = {
                    "scope": scope_name,
                    "tile": tile,
                    "ours_ms": statistics.median(ours_ms),
                    "floor_ms": statistics.median(floor_ms),
                    "python_peak_mb": python_peak / 2**20,
                    "check": agree(tile, ours, floor_rows),
                }
                row["ratio"] = row["ours_ms"] / row["floor_ms"]
                results.append(row)
                print(
                    f"{scope_name:<22} {tile:<26} ours {row['ours_ms']:8.1f} ms"
                    f"  floor {row['floor_ms']:8.1f} ms  ratio {row['ratio']:6.2f}"
                    f"  py peak {row['python_peak_mb']:5.1f} MB  {row['check']}",
                    flush=True,
                )
            started = time.perf_counter()
            metrics.dashboard_tiles(connection, scope)
            whole = (time.perf_counter() - started) * 1000
            floor_all = sum(run_floor(floor_conn, s)[0] for s in statements.values())
            results.append(
                {
                    "scope": scope_name,
                    "tile": "all six tiles",
                    "ours_ms": whole,
                    "floor_ms": floor_all,
                    "ratio": whole / floor_all,
                    "python_peak_mb": None,
                    "check": "",
                }
            )
            print(
                f"{scope_name:<22} {'all six tiles':<26} ours {whole:8.1f} ms  floor "
                f"{floor_all:8.1f} ms  ratio {whole / floor_all:6.2f}",
                flush=True,
            )
        started = time.perf_counter()
        for _ in range(100):
            metrics.data_version(connection)
        version_ms = (time.perf_counter() - started) * 10
        print(f"data_version (the cache key): {version_ms:.2f} ms", flush=True)
        results.append({"scope": "-", "tile": "data_version", "ours_ms": version_ms})
    floor_conn.close()
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--attempts-per-case", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="bench_dashboard")
    args = parser.parse_args()

    url = database_url(args.url, args.database, args.rebuild)
    upgrade(url)
    sizes = {
        "teams": TEAMS,
        "collectors": COLLECTORS,
        "customers": max(args.cases // 5, 1),
        "cases": args.cases,
        "attempts_per_case": args.attempts_per_case,
    }
    started = time.perf_counter()
    loaded = load(url, sizes, STEPS)
    snapshots = write_snapshots(url, sizes)
    setup_s = time.perf_counter() - started
    with make_engine(url).connect() as connection:
        days = snapshot_dates(connection)
    results = measure(url, args.reps)
    peak = peak_rss_mb()
    lines = [
        f"dashboard tiles over {args.cases:,} cases, {args.cases * args.attempts_per_case:,}"
        f" contacts; snapshots {days[0]}..{days[-1]}, business date {BUSINESS_DATE} live",
        *loaded,
        *snapshots,
        f"setup this run: {setup_s:.0f} s",
        f"{'scope':<22} {'tile':<26} {'ours ms':>9} {'floor ms':>9} {'ratio':>6}  check",
    ]
    for r in results:
        if r["tile"] == "data_version":
            lines.append(
                f"data_version (the cache key of every tile and chart): {r['ours_ms']:.2f} ms"
            )
            continue
        lines.append(
            f"{r['scope']:<22} {r['tile']:<26} {r['ours_ms']:9.1f} {r['floor_ms']:9.1f}"
            f" {r['ratio']:6.2f}  {r['check']}"
        )
    lines.append(f"peak RSS of this process: {peak:.0f} MB")
    report = "\n".join(lines)
    print("\n" + report)
    OUT.mkdir(exist_ok=True)
    (OUT / "dashboard_queries.txt").write_text(report + "\n", encoding="utf-8")
    (OUT / "dashboard_queries.json").write_text(
        json.dumps({"results": results, "peak_rss_mb": peak, "sizes": sizes}, indent=1) + "\n",
        encoding="utf-8",
    )
    if any("DIFFER" in str(r.get("check", "")) for r in results):
        sys.exit("a tile and its floor disagree")


if __name__ == "__main__":
    main()
