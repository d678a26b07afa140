"""Benchmark: the console's queue page and case list over 1,000,000 cases in PostgreSQL.

Requirement: with 1,000,000 cases and 10,000,000 contact attempts, the queue page and the case
list (first page, filtered, sorted) render server-side in no more than 3x the time of the raw
SQL query behind them.

Side by side in one run, on the same database (``bench_console``, built once and kept):
- floor: the data queries each page issues (captured from the page itself with a SQLAlchemy
  ``before_cursor_execute`` listener: FAB's COUNT and page SELECT, the queue SELECT, ...), run
  as they are, with the same parameters, on a bare psycopg connection, rows fetched;
- ours: ``GET`` of the page through the Flask test client (login session, permission checks,
  FAB's query building, the ORM, Jinja rendering), in a child process for its peak memory.
Reports median milliseconds, the ratio page / floor, peak RSS of the console process and the
``EXPLAIN (ANALYZE, BUFFERS)`` plan of every data query, flagging sequential scans over the big
tables. The report is printed and written to ``bench/out/console_pages.txt`` (and ``.json``).

The data (200k customers, 1M loans, 1M cases over 50 teams and 1000 collectors, 100k promises,
10M contact attempts) is generated server-side with ``INSERT ... SELECT FROM generate_series``;
each table loads in one transaction and is recorded in ``bench_load``, so a re-run skips what
is there and an interrupted load resumes at the table it stopped in. ``--rebuild`` starts over.

Usage: python bench/console_pages.py [--cases 1000000] [--attempts-per-case 10]
       [--reps 25] [--rebuild] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
       [--database bench_console] [--redis redis://127.0.0.1:6379/14]
The target is ratio <= 3 for every page.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payments_import import peak_rss_mb
from casedb.migrate import upgrade
from casedb.session import make_engine

OUT = Path(__file__).resolve().parent / "out"
TARGET = 3.0
TEAMS = 50
COLLECTORS = 1000
QUEUE_COLLECTOR = "bench_collector_1"
QUEUE_PASSWORD = "bench123"
ADMIN = ("admin", "admin123")
# (name, login, path): the pages measured, each the first page. FAB's filter URL is
# _flt_<index of the filter class for the column type>_<column>: the case list's text columns
# (console/interfaces.py) offer 0 "equal to" first and 3 "starts with" (ILIKE 'M2%').
PAGES: list[tuple[str, str, str]] = [
    ("queue", "collector", "/queue/"),
    ("cases: default order", "admin", "/cases/list/"),
    ("cases: dpd desc", "admin", "/cases/list/?_oc_CaseView=dpd&_od_CaseView=desc"),
    (
        "cases: bucket=M2, dpd desc",
        "admin",
        "/cases/list/?_flt_0_bucket=M2&_oc_CaseView=dpd&_od_CaseView=desc",
    ),
    (
        "cases: bucket^M2, dpd desc",
        "admin",
        "/cases/list/?_flt_3_bucket=M2&_oc_CaseView=dpd&_od_CaseView=desc",
    ),
    (
        "collector cases: bucket=M2",
        "collector",
        "/cases/list/?_flt_0_bucket=M2&_oc_CaseView=dpd&_od_CaseView=desc",
    ),
]
# Tables whose full scan is what an index should avoid.
BIG_TABLES = ("collection_case", "contact_attempt", "loan", "customer", "promise_to_pay")

# One step per table, in foreign-key order. Each runs in one transaction: truncate (cascading
# to the later tables), drop the table's secondary indexes, insert, recreate them, record it.
# Random values come from setseed(), so the same sizes give the same data.
LOAD_STEPS: list[tuple[str, str]] = [
    (
        "team",
        """
        INSERT INTO team (code, name, region, supervisor_username, active)
        SELECT 'BT' || lpad(g::text, 3, '0'), '催收组 Team ' || g,
               (ARRAY['11', '31', '44', '51', '33'])[1 + g % 5], 'bench_supervisor_' || g, true
        FROM generate_series(1, :teams) g
        """,
    ),
    (
        "collector",
        """
        INSERT INTO collector (code, name, username, team_id, skills, languages, regions,
                               capacity, active)
        SELECT 'BC' || lpad(g::text, 5, '0'), '催收员 Collector ' || g, 'bench_collector_' || g,
               1 + (g - 1) % :teams, '[]', '["zh"]', '[]', 1200, true
        FROM generate_series(1, :collectors) g
        """,
    ),
    (
        "customer",
        """
        INSERT INTO customer (customer_no, name, gender, age, id_type, id_number_masked, region,
                              city, timezone, language, risk_level, source, attributes)
        SELECT 'BCU' || lpad(g::text, 8, '0'), '客户' || g,
               (ARRAY['male', 'female'])[1 + g % 2], 20 + g % 45, 'resident_id',
               '110101********' || lpad((g % 10000)::text, 4, '0'),
               (ARRAY['11', '31', '44', '51', '33'])[1 + g % 5], 'City ' || g % 300,
               'Asia/Shanghai', 'zh', (ARRAY['low', 'medium', 'high'])[1 + g % 3], 'bench', '{}'
        FROM generate_series(1, :customers) g
        """,
    ),
    (
        "loan",
        """
        INSERT INTO loan (loan_no, customer_id, product, currency, principal, credit_limit,
                          opened_on, status, outstanding_balance, source, attributes)
        SELECT 'BLN' || lpad(g::text, 8, '0'), 1 + (g - 1) % :customers,
               (ARRAY['credit_card', 'cash_loan', 'consumer_loan', 'auto_loan'])[1 + g % 4],
               'CNY', 1000 + (g::bigint * 7919) % 99000, NULL, DATE '2023-01-01' + g % 700,
               'active',
               500 + (g::bigint * 104729) % 90000, 'bench', '{}'
        FROM generate_series(1, :cases) g
        """,
    ),
    (
        "collection_case",
        """
        SELECT setseed(0.42);
        INSERT INTO collection_case (case_no, customer_id, loan_id, status, opened_on, closed_on,
            dpd, bucket, overdue_principal, overdue_interest, overdue_fees, overdue_at_entry,
            outstanding_balance, currency, risk_level, priority_score, priority_level, team_id,
            collector_id, strategy, next_action, on_hold)
        SELECT 'BK' || lpad(id::text, 8, '0'), customer_id, id, status, DATE '2025-06-30' - dpd,
               CASE WHEN status IN ('paid', 'settled', 'closed', 'written_off')
                    THEN DATE '2025-06-30' END,
               dpd,
               CASE WHEN dpd <= 30 THEN 'M1' WHEN dpd <= 60 THEN 'M2' WHEN dpd <= 90 THEN 'M3'
                    ELSE 'M4+' END,
               principal, round(principal * 0.08, 2), 50, principal, outstanding_balance, 'CNY',
               (ARRAY['low', 'medium', 'high'])[1 + score % 3], score,
               CASE WHEN score >= 800 THEN 'high' WHEN score >= 400 THEN 'medium' ELSE 'low' END,
               1 + (collector_id - 1) % :teams, collector_id,
               (ARRAY['soft', 'standard', 'hard'])[1 + id % 3],
               (ARRAY['call', 'sms', 'call', 'letter'])[1 + id % 4], on_hold
        FROM (
            SELECT l.id, l.customer_id, round(l.outstanding_balance * 0.2, 2) AS principal,
                   l.outstanding_balance,
                   1 + floor(random() ^ 2 * 360)::int AS dpd,
                   floor(random() * 1000)::int AS score,
                   1 + floor(random() * :collectors)::int AS collector_id,
                   random() < 0.03 AS on_hold,
                   (ARRAY['new', 'in_collection', 'in_collection', 'in_collection',
                          'in_collection', 'in_collection', 'promised', 'promised', 'legal',
                          'in_collection', 'in_collection', 'in_collection', 'new',
                          'in_collection', 'in_collection', 'in_collection', 'in_collection',
                          'paid', 'settled', 'closed'])[1 + floor(random() * 20)::int] AS status
            FROM loan l ORDER BY l.id
        ) s
        """,
    ),
    (
        "contact_attempt",
        """
        SELECT setseed(0.43);
        INSERT INTO contact_attempt (attempt_no, case_id, customer_id, collector_id, channel,
            party, direction, started_at, local_timezone, duration_seconds, outcome)
        SELECT 'BA' || lpad(c.id::text, 8, '0') || '-' || k, c.id, c.customer_id, c.collector_id,
               (ARRAY['call', 'call', 'call', 'sms', 'email', 'app_push'])[1 + (c.id + k) % 6],
               CASE WHEN k % 7 = 0 THEN 'emergency_contact' ELSE 'debtor' END, 'outbound',
               TIMESTAMPTZ '2025-06-30 09:00+08' - (k * 3 + c.id % 3) * INTERVAL '1 day'
                   + (c.id % 600) * INTERVAL '1 minute',
               'Asia/Shanghai', (c.id * k) % 300,
               (ARRAY['no_answer', 'no_answer', 'busy', 'voicemail', 'rpc', 'ptp',
                      'refused_to_pay', 'wrong_number', 'delivered', 'hardship'])[1 + (c.id * 31
                      + k * 7) % 10]
        FROM collection_case c CROSS JOIN generate_series(1, :attempts_per_case) k
        """,
    ),
    (
        "promise_to_pay",
        """
        INSERT INTO promise_to_pay (promise_no, case_id, collector_id, amount, promised_for,
                                    status, amount_paid, resolved_on)
        SELECT 'BP' || lpad(c.id::text, 8, '0'), c.id, c.collector_id, c.overdue_principal,
               DATE '2025-06-30' - (c.id % 40),
               (ARRAY['broken', 'kept', 'pending', 'partly_kept', 'broken'])[1 + c.id / 10 % 5],
               0, NULL
        FROM collection_case c WHERE c.id % 10 = 0
        """,
    ),
]


def database_url(base_url: str, name: str, rebuild: bool) -> str:
    """The URL of the bench database; created if missing, dropped and re-created on rebuild."""
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if rebuild:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        exists = c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load(url: str, sizes: dict[str, int], steps: list[tuple[str, str]] | None = None) -> list[str]:
    """Load every step not recorded as done with these sizes; returns what was done, timed."""
    done_now = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_load (ordinal int PRIMARY KEY, step text NOT NULL,"
            " sizes jsonb NOT NULL, seconds float NOT NULL, loaded_at timestamptz DEFAULT now())"
        )
        recorded = {
            ordinal: (step, recorded_sizes)
            for ordinal, step, recorded_sizes in conn.execute(
                "SELECT ordinal, step, sizes FROM bench_load"
            )
        }
        for ordinal, (table, sql) in enumerate(steps or LOAD_STEPS):
            if recorded.get(ordinal) == (table, sizes):
                continue
            started = time.perf_counter()
            with conn.transaction():
                _load_step(conn, ordinal, table, sql, sizes)
                conn.execute(
                    "INSERT INTO bench_load (ordinal, step, sizes, seconds)"
                    " VALUES (%s, %s, %s, %s)",
                    (ordinal, table, json.dumps(sizes), time.perf_counter() - started),
                )
            recorded = {}  # everything after a reloaded table was truncated with it
            line = f"loaded {table:<16} in {time.perf_counter() - started:7.1f} s"
            print(line, flush=True)
            done_now.append(line)
        if done_now:
            started = time.perf_counter()
            conn.execute("VACUUM (ANALYZE)")
            done_now.append(f"VACUUM (ANALYZE) in {time.perf_counter() - started:7.1f} s")
            print(done_now[-1], flush=True)
    return done_now


def _load_step(conn: psycopg.Connection, ordinal: int, table: str, sql: str, sizes: dict) -> None:
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    # Generated rows are consistent by construction: skip the per-row foreign-key triggers.
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
    conn.execute("DELETE FROM bench_load WHERE ordinal >= %s", (ordinal,))
    unique = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'u'",
        (table,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename = %s AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (table, table),
    ).fetchall()
    for name, _ in unique:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    sql = sql.replace("%", "%%")
    for key in sorted(sizes, key=len, reverse=True):
        sql = sql.replace(f":{key}", f"%({key})s")
    for statement in filter(str.strip, sql.split(";")):
        conn.execute(statement, sizes)
    for name, definition in unique:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        conn.execute(definition)


# --- the pages and their floor (in a child process, for the console's peak memory) -----------

AUTH = re.compile(r"\b(FROM|JOIN)\s+ab_\w+|,\s*ab_\w+", re.IGNORECASE)
# The ORM loading one related row by primary key: a lazy load, once per row of the page.
LAZY = re.compile(r"^SELECT .*\sFROM (\w+)\s+WHERE \1\.id = %\(pk_1\)s", re.DOTALL)


def kind_of(statement: str) -> str:
    if AUTH.search(statement):
        return "auth"
    if LAZY.match(statement.strip()):
        return "lazy"
    return "query"


def console_app(url: str, redis_url: str) -> Any:
    import config  # noqa: PLC0415

    config.DATABASE_URL, config.REDIS_URL = url, redis_url
    from console.app import create_app  # noqa: PLC0415
    from console.demo_logins import ensure_demo_logins  # noqa: PLC0415

    ensure_demo_logins()
    app = create_app(
        {
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
            "REDIS_URL": redis_url,
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    with app.app_context():
        security = app.appbuilder.sm
        if security.find_user(username=QUEUE_COLLECTOR) is None:
            security.add_user(
                QUEUE_COLLECTOR,
                "bench",
                "collector",
                f"{QUEUE_COLLECTOR}@bench.invalid",
                security.find_role("Collector"),
                password=QUEUE_PASSWORD,
            )
    return app


def run_floor(conn: psycopg.Connection, statements: list[tuple[str, Any]]) -> float:
    started = time.perf_counter()
    for statement, parameters in statements:
        with conn.cursor() as cur:
            cur.execute(statement, parameters)
            if cur.description is not None:
                cur.fetchall()
    return (time.perf_counter() - started) * 1000


def explain(conn: psycopg.Connection, statement: str, parameters: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        return "\n".join(row[0] for row in cur.fetchall())


def big_scans(plan: str, min_rows: int = 100_000) -> list[str]:
    """Scans of a big table that read at least ``min_rows`` rows: sequential scans, and index
    scans that throw most of what they read away (``Rows Removed by Filter``)."""
    found = []
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        match = re.search(
            r"((?:Parallel )?(?:Seq|Index|Index Only|Bitmap Heap) Scan(?: Backward)?)"
            r"(?: using \w+)? on (\w+).*actual time=\S+ rows=(\d+) loops=(\d+)",
            line,
        )
        if not match or match.group(2) not in BIG_TABLES:
            continue
        removed = 0
        for detail in lines[i + 1 :]:
            if "->" in detail:
                break
            if found_removed := re.search(r"Rows Removed by Filter: (\d+)", detail):
                removed = int(found_removed.group(1))
        loops = int(match.group(4))
        scanned = (int(match.group(3)) + removed) * loops
        if scanned >= min_rows and ("Seq Scan" in match.group(1) or removed * loops >= min_rows):
            found.append(f"{match.group(1)} on {match.group(2)} reads ~{scanned:,} rows")
    return found


def pages_child(url: str, redis_url: str, reps: int) -> None:
    from sqlalchemy import event  # noqa: PLC0415

    app = console_app(url, redis_url)
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(_conn, _cursor, statement, parameters, _context, _executemany) -> None:  # noqa: ANN001
        captured.append((statement, parameters))

    clients = {}
    for login, (username, password) in {
        "admin": ADMIN,
        "collector": (QUEUE_COLLECTOR, QUEUE_PASSWORD),
    }.items():
        client = app.test_client()
        answer = client.post("/login/", data={"username": username, "password": password})
        assert answer.status_code == 302, f"login {username}: {answer.status_code}"
        clients[login] = client

    floor_conn = psycopg.connect(libpq_url(url), autocommit=True)
    results = []
    for name, login, path in PAGES:
        client = clients[login]
        captured.clear()
        answer = client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        statements = [(s, p) for s, p in captured]
        kinds = [kind_of(s) for s, _ in statements]
        query = [sp for sp, k in zip(statements, kinds, strict=True) if k == "query"]
        data = [sp for sp, k in zip(statements, kinds, strict=True) if k != "auth"]
        for _ in range(2):  # warm both up: caches, prepared statements
            started = time.perf_counter()
            client.get(path)
            warm_ms = (time.perf_counter() - started) * 1000
            run_floor(floor_conn, query)
        # A page of seconds gets fewer repetitions: its median is steady and the run stays short.
        page_reps = reps if warm_ms < 1000 else min(reps, 7)
        page_ms, floor_ms, data_ms, all_ms = [], [], [], []
        for _ in range(page_reps):
            started = time.perf_counter()
            answer = client.get(path)
            page_ms.append((time.perf_counter() - started) * 1000)
            floor_ms.append(run_floor(floor_conn, query))
            data_ms.append(run_floor(floor_conn, data))
            all_ms.append(run_floor(floor_conn, statements))
        plans = [
            {"sql": s, "parameters": repr(p), "plan": explain(floor_conn, s, p)} for s, p in query
        ]
        for item in plans:
            item["big_scans"] = big_scans(item["plan"])
        results.append(
            {
                "name": name,
                "path": path,
                "reps": page_reps,
                "bytes": len(answer.data),
                "statements": {kind: kinds.count(kind) for kind in ("query", "lazy", "auth")},
                "page_ms": statistics.median(page_ms),
                "floor_ms": statistics.median(floor_ms),
                "data_ms": statistics.median(data_ms),
                "all_ms": statistics.median(all_ms),
                "plans": plans,
            }
        )
        print(f"measured {name}", file=sys.stderr, flush=True)
    peak_mb = peak_rss_mb()
    floor_conn.close()
    print(json.dumps({"peak_mb": peak_mb, "pages": results}))


# --- the report ------------------------------------------------------------------------------


def describe_database(url: str) -> list[str]:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        settings = conn.execute(
            "SELECT current_setting('server_version'), current_setting('shared_buffers'),"
            " current_setting('work_mem'), current_setting('random_page_cost')"
        ).fetchone()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        counts = {
            table: conn.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (table,)
            ).fetchone()[0]
            for table in (
                "customer",
                "loan",
                "collection_case",
                "contact_attempt",
                "promise_to_pay",
            )
        }
        queue_cases = conn.execute(
            "SELECT count(*) FROM collection_case c JOIN collector k ON k.id = c.collector_id"
            " WHERE k.username = %s AND c.status IN ('new', 'in_collection', 'promised',"
            " 'legal') AND NOT c.on_hold",
            (QUEUE_COLLECTOR,),
        ).fetchone()[0]
        indexes = [
            row[0]
            for row in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'collection_case' ORDER BY 1"
            )
        ]
    return [
        f"PostgreSQL {settings[0]}, shared_buffers {settings[1]}, work_mem {settings[2]},"
        f" random_page_cost {settings[3]}; alembic revision {revision}",
        "rows (estimated): " + ", ".join(f"{t} {n:,}" for t, n in counts.items()),
        f"queue of {QUEUE_COLLECTOR}: {queue_cases:,} open cases",
        "collection_case indexes:",
        *(
            f"  {definition.split(' ON ')[0]} ON {definition.split(' USING ')[-1]}"
            for definition in indexes
        ),
    ]


def report(result: dict, database: list[str], loaded: list[str], reps: int) -> str:
    lines = [
        f"Console pages vs. their SQL (median of {reps} renders; target ratio <= {TARGET:g}x)",
        *database,
        *loaded,
        "",
        "floor = the page's own data queries (COUNT, page SELECT, queue SELECT) replayed with"
        " psycopg;",
        "lazy = per-row ORM loads by primary key the page also issues; auth = FAB's user/role"
        " look-ups.",
        "",
        f"{'page':<28} {'page ms':>8} {'floor ms':>9} {'ratio':>6} {'+lazy ms':>9}"
        f" {'all SQL':>8} {'q/lazy/auth':>12}  verdict",
    ]
    for page in result["pages"]:
        ratio = page["page_ms"] / page["floor_ms"]
        counts = page["statements"]
        scans = [scan for plan in page["plans"] for scan in plan["big_scans"]]
        verdict = "ok" if ratio <= TARGET else "OVER"
        if scans:
            verdict += "; " + "; ".join(scans)
        lines.append(
            f"{page['name']:<28} {page['page_ms']:8.1f} {page['floor_ms']:9.1f} {ratio:5.2f}x"
            f" {page['data_ms']:9.1f} {page['all_ms']:8.1f}"
            f" {counts['query']:>4}/{counts['lazy']:>3}/{counts['auth']:>2}  {verdict}"
        )
    lines.append(f"console process peak RSS (VmHWM): {result['peak_mb']:.0f} MB")
    lines.append("")
    lines.append("Plans of the floor queries (EXPLAIN (ANALYZE, BUFFERS)):")
    for page in result["pages"]:
        lines.append("")
        lines.append(f"== {page['name']}  GET {page['path']}")
        for plan in page["plans"]:
            lines.append("-- " + " ".join(plan["sql"].split()))
            lines.append("-- parameters: " + plan["parameters"])
            lines.extend("   " + line for line in plan["plan"].splitlines())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="bench_console")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--attempts-per-case", type=int, default=10)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--rebuild", action="store_true", help="drop and reload the database")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pages_child(args.child[0], args.child[1], int(args.child[2]))
        return
    OUT.mkdir(exist_ok=True)
    url = database_url(args.url, args.database, args.rebuild)
    upgrade(url)
    sizes = {
        "teams": TEAMS,
        "collectors": COLLECTORS,
        "customers": args.customers,
        "cases": args.cases,
        "attempts_per_case": args.attempts_per_case,
    }
    loaded = load(url, sizes)
    child = subprocess.run(
        [sys.executable, __file__, "--child", url, args.redis, str(args.reps)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    text_report = report(result, describe_database(url), loaded, args.reps)
    print(text_report)
    (OUT / "console_pages.txt").write_text(text_report + "\n", encoding="utf-8")
    (OUT / "console_pages.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
