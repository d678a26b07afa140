"""Collection Tracker's one command-line entry point.

python run.py serve              console + report worker on the embedded defaults (laptop)
python run.py console            the Flask-AppBuilder console only
python run.py worker             an RQ worker for reports
python run.py scheduler          RQ's cron: enqueues the daily tick at config.DAILY_TICK_AT
python run.py db upgrade         migrate the case database to the latest schema
python run.py demo               import the UCI portfolio and build the demo on top of it
python run.py snapshot           write the portfolio snapshots that are missing (dashboards)
python run.py import KIND FILE   import a CSV/XLSX file (``import --list`` shows the kinds)
python run.py search TEXT        find cases by name, phone, ID number, case or loan number
python run.py report NAME        make a named report (xlsx, json, png); ``--list`` lists them
python run.py reports runs       report runs (also ``watchdog``, ``retry ID``, ``schedules``)
python run.py rules run          the rules service: consume the outbox, decide, write back
python run.py rules tick         move DPD and buckets to today (or --date) and re-decide cases
python run.py rules reevaluate   decide every open case again (publishing a version does this)
python run.py model train|score|report     repayment propensity: train a version, score open cases
python run.py forecast [--backtest]         roll-rate forecast of the buckets (and its backtest)
python run.py compliance replay FILE.json   re-judge a contact history against a policy
python run.py compliance script FILE|-      audit a script, SMS or letter text
python run.py compliance check --case K1    ask the contact gate about a contact on a case
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click

import config

REPO = Path(__file__).resolve().parent
DEFAULT_UCI_FILE = (
    REPO.parent / "shared" / "data" / "uci_credit_default" / ("default_of_credit_card_clients.csv")
)


@click.group()
def cli() -> None:
    """催收跟踪系统 Collection Tracker."""


@cli.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the case database."""
    from casedb.migrate import upgrade  # noqa: PLC0415

    upgrade(revision=revision)
    click.echo(f"database at {revision}: {_safe_url(config.DATABASE_URL)}")


@db.command("downgrade")
@click.option("--revision", required=True, help="target revision, e.g. base")
def db_downgrade(revision: str) -> None:
    from casedb.migrate import downgrade  # noqa: PLC0415

    downgrade(revision=revision)
    click.echo(f"database at {revision}")


@cli.command("import")
@click.argument("kind", required=False)
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--encoding", help="CSV encoding; default: UTF-8 if it decodes, else GB18030/GBK")
@click.option("--actor", default="cli", show_default=True, help="who is importing (audit)")
@click.option("--list", "list_kinds", is_flag=True, help="list the kinds and their columns")
def import_file(
    kind: str | None, file: Path | None, encoding: str | None, actor: str, list_kinds: bool
) -> None:
    """Import FILE (CSV or XLSX) as KIND; re-importing the same file changes nothing."""
    from casedb.importing.kinds import IMPORT_KINDS  # noqa: PLC0415
    from casedb.importing.runner import RunImport  # noqa: PLC0415
    from casedb.importing.uci import UciImport  # noqa: PLC0415
    from casedb.session import default_engine  # noqa: PLC0415

    if list_kinds or kind is None:
        click.echo(_describe_kinds(IMPORT_KINDS, only=kind))
        return
    if kind != "uci" and kind not in IMPORT_KINDS:
        raise click.BadParameter(f"unknown kind {kind!r}; one of uci, {', '.join(IMPORT_KINDS)}")
    if file is None:
        raise click.BadParameter("give the FILE to import")
    options = {"actor": actor, "encoding": encoding}
    if kind == "uci":
        command = UciImport(default_engine(), file, **options)
    else:
        command = RunImport(default_engine(), IMPORT_KINDS[kind], file, **options)
    report = command.run()
    click.echo(report.summary())
    for error in report.errors[:20]:
        click.echo(f"  row {error.row}, {error.column or '-'}: {error.reason} ({error.value!r})")
    if report.error_count > 20:
        click.echo(f"  ... {report.error_count - 20} more in {report.error_file}")
    sys.exit(0 if report.ok else 1)


def _describe_kinds(kinds: dict, only: str | None = None) -> str:
    lines = ["uci: the UCI default-of-credit-card-clients CSV (25 columns, as published)"]
    for name, kind in kinds.items():
        if only and name != only:
            continue
        lines.append(f"\n{name}: {kind.description}  (key: {', '.join(kind.key)})")
        for column in kind.columns:
            flag = "required" if column.required else "optional"
            aliases = f"  also: {', '.join(column.aliases)}" if column.aliases else ""
            lines.append(f"  {column.name:<32} {flag}{aliases}")
    return "\n".join(lines)


@cli.command()
@click.option("--uci", "uci_file", type=click.Path(path_type=Path), default=DEFAULT_UCI_FILE)
@click.option("--seed", type=int, default=config.DEMO_SEED, show_default=True)
def demo(uci_file: Path, seed: int) -> None:
    """Import the real UCI portfolio (if not yet) and generate the demo on top of it."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from casedb.demo import build_demo  # noqa: PLC0415
    from casedb.importing.uci import UciImport  # noqa: PLC0415
    from casedb.models import Customer  # noqa: PLC0415
    from casedb.session import default_engine  # noqa: PLC0415

    engine = default_engine()
    with engine.connect() as connection:
        uci_customers = connection.scalar(
            select(func.count()).select_from(Customer).where(Customer.source == "uci")
        )
    if not uci_customers:
        report = UciImport(engine, uci_file, actor="demo").run()
        click.echo(report.summary())
        if not report.ok:
            sys.exit(1)
    click.echo(build_demo(engine, seed).summary())
    from console.demo_logins import ensure_demo_logins  # noqa: PLC0415

    for login in ensure_demo_logins():
        click.echo(f"  login {login}")


@cli.command()
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="the day (YYYY-MM-DD): the business date, or a month end with monthly statements; "
    "default: every statement month end not yet snapshotted, then the business date so far",
)
@click.option("--by", default="cli", show_default=True, help="who writes it (recorded)")
def snapshot(day: datetime | None, by: str) -> None:
    """Write the daily portfolio snapshot the dashboards and reports read (the daily tick
    writes each day's as the day ends; this fills in what is missing, e.g. after an import)."""
    from casedb.session import transaction  # noqa: PLC0415
    from reports.snapshots import SnapshotRefused, backfill  # noqa: PLC0415

    try:
        with transaction() as session:
            results = backfill(session.connection(), day.date() if day else None, by=by)
    except SnapshotRefused as error:
        raise click.ClickException(str(error)) from error
    for result in results:
        click.echo(result.text())


@cli.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check that no audit entry was edited or removed; names the first broken entry."""
    from casedb.audit import verify  # noqa: PLC0415
    from casedb.models import AuditEntry  # noqa: PLC0415
    from casedb.session import transaction  # noqa: PLC0415

    with transaction() as session:
        broken = verify(session)
        count = session.query(AuditEntry).count()
    if broken:
        raise click.ClickException(f"audit entry {broken.entry_id}: {broken.reason}")
    click.echo(f"audit trail intact: {count} entries")


@cli.command()
@click.argument("text")
@click.option("--limit", default=20, show_default=True)
def search(text: str, limit: int) -> None:
    """Find cases by customer name, phone, ID number, case number or loan number."""
    from casedb.search import find_cases  # noqa: PLC0415
    from casedb.session import transaction  # noqa: PLC0415

    with transaction() as session:
        hits = find_cases(session, text, limit=limit)
    for hit in hits:
        click.echo(
            f"{hit.case_no:<18} {hit.status:<14} DPD {hit.dpd:>4} {hit.bucket:<4} "
            f"{hit.customer_name} {hit.id_number_masked or ''} {hit.loan_no} ({hit.matched_on})"
        )
    if not hits:
        click.echo("no case found")


@cli.command()
@click.argument("name", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "json", "png"]), default="xlsx", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="file; - is stdout")
@click.option("--param", "params", multiple=True, help="a parameter, key=value (repeatable)")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--user", help="make it as this console user (their roles and data scope)")
@click.option("--enqueue", is_flag=True, help="queue it for a worker instead of running it here")
@click.option("--max-sheet-rows", type=int, default=None, help="rows per sheet (default Excel's)")
@click.option("--list", "list_reports", is_flag=True, help="list the reports and their parameters")
def report(
    name: str | None,
    fmt: str,
    out: Path | None,
    params: tuple[str, ...],
    language: str,
    user: str | None,
    enqueue: bool,
    max_sheet_rows: int | None,
    list_reports: bool,
) -> None:
    """Make the named report NAME; bad input exits 2 with the reason, a failed run exits 1."""
    from reports.cli import list_text, run_report  # noqa: PLC0415

    if list_reports or name is None:
        click.echo(list_text(language, only=name))
        return
    sys.exit(run_report(name, fmt, out, params, language, user, enqueue, max_sheet_rows))


@cli.group()
def reports() -> None:
    """Report runs: list them, fail the stuck, retry the failed, show the schedules."""


@reports.command("runs")
@click.option("--limit", default=20, show_default=True)
def reports_runs(limit: int) -> None:
    """The latest report runs with their state."""
    from reports.cli import runs_text  # noqa: PLC0415

    click.echo(runs_text(limit))


@reports.command("watchdog")
@click.option("--stale-after", type=float, help="seconds without heartbeat (REPORT_STALE_SECONDS)")
def reports_watchdog(stale_after: float | None) -> None:
    """Fail every report whose worker died (stale heartbeat, lost or failed job); purge the
    files past their retention."""
    from reports.cli import watchdog_text  # noqa: PLC0415

    click.echo(watchdog_text(stale_after))


@reports.command("retry")
@click.argument("run_id", type=int)
def reports_retry(run_id: int) -> None:
    """Queue a failed or expired report run again (needs REDIS_URL and a worker)."""
    from reports.cli import retry_text  # noqa: PLC0415

    click.echo(retry_text(run_id))


@reports.command("schedules")
def reports_schedules() -> None:
    """The report schedules the scheduler runs (config.REPORT_SCHEDULES or the shipped ones)."""
    from reports.cli import schedules_text  # noqa: PLC0415

    click.echo(schedules_text())


@cli.command()
@click.option("--host", default=config.CONSOLE_HOST, show_default=True)
@click.option("--port", default=config.CONSOLE_PORT, show_default=True)
def console(host: str, port: int) -> None:
    """Run the console (Flask's threaded server; put gunicorn in front for production)."""
    from casedb.broker import EmbeddedRedis  # noqa: PLC0415
    from console.app import create_app  # noqa: PLC0415

    embedded = None if config.REDIS_URL else EmbeddedRedis()
    try:
        app = create_app({"REDIS_URL": embedded.url} if embedded else None)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        if embedded:
            embedded.stop()


@cli.command()
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
def worker(burst: bool) -> None:
    """Run an RQ worker on config.WORKER_QUEUES."""
    from rq import Worker  # noqa: PLC0415

    from casedb.broker import EmbeddedRedis, connect  # noqa: PLC0415

    embedded = None if config.REDIS_URL else EmbeddedRedis()
    try:
        connection = connect(embedded.url if embedded else config.REDIS_URL)
        _report_watchdog(connection)
        # with_scheduler: report jobs retry after an interval (RQ's scheduled retries).
        Worker(list(config.WORKER_QUEUES), connection=connection).work(
            burst=burst, with_scheduler=True
        )
    finally:
        if embedded:
            embedded.stop()


def _report_watchdog(connection: object) -> None:
    """Fail the reports a dead worker left running, before taking new work."""
    import logging  # noqa: PLC0415

    from casedb.session import default_engine  # noqa: PLC0415
    from reports.jobs import watchdog  # noqa: PLC0415

    try:
        for finding in watchdog(default_engine(), connection):  # type: ignore[arg-type]
            click.echo(f"report run {finding.run_id} {finding.action}: {finding.reason}")
    except Exception:  # the worker starts anyway; the scheduler's watchdog tries again
        logging.getLogger(__name__).exception("report watchdog failed at worker start")
    finally:
        default_engine().dispose()


@cli.command()
def scheduler() -> None:
    """Run RQ's cron scheduler: the daily tick is enqueued at config.DAILY_TICK_AT (local time)
    for a worker to run."""
    from casedb.broker import EmbeddedRedis, connect  # noqa: PLC0415
    from reports.schedules import register as register_reports  # noqa: PLC0415
    from rules_service.daily_tick import schedule  # noqa: PLC0415

    embedded = None if config.REDIS_URL else EmbeddedRedis()
    try:
        cron = schedule(connect(embedded.url if embedded else config.REDIS_URL))
        # The scheduled reports (reports/schedules.py) and the report watchdog, every minute.
        register_reports(cron)
        cron.start()
    finally:
        if embedded:
            embedded.stop()


@cli.command()
@click.option("--host", default=config.CONSOLE_HOST, show_default=True)
@click.option("--port", default=config.CONSOLE_PORT, show_default=True)
def serve(host: str, port: int) -> None:
    """Console, rules service, worker, scheduler and outbound sender together, sharing one
    (embedded unless REDIS_URL is set) Redis."""
    from casedb.broker import EmbeddedRedis  # noqa: PLC0415

    embedded = None if config.REDIS_URL else EmbeddedRedis()
    env = {**os.environ, "REDIS_URL": embedded.url if embedded else config.REDIS_URL}
    me = [sys.executable, str(REPO / "run.py")]
    children = [
        subprocess.Popen([*me, "console", "--host", host, "--port", str(port)], env=env),
        subprocess.Popen([*me, "worker"], env=env),
        subprocess.Popen([*me, "rules", "run"], env=env),
        subprocess.Popen([*me, "scheduler"], env=env),
        subprocess.Popen([*me, "outbound", "send"], env=env),
    ]
    click.echo(f"\nCollection Tracker console: http://{host}:{port}/")
    click.echo(f"database: {_safe_url(config.DATABASE_URL)}")
    click.echo(
        f"redis:    {'embedded ' + embedded.url if embedded else _safe_url(config.REDIS_URL)}"
    )
    from console.demo_logins import DEMO_LOGINS  # noqa: PLC0415

    click.echo("demo logins (created by `python run.py demo`):")
    for username, password, role in DEMO_LOGINS:
        click.echo(f"  {role:<11} {username} / {password}")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded:
            embedded.stop()
    failed = [c.args[2] for c in children if c.returncode not in (0, -signal.SIGTERM)]
    if failed and not stopping:
        raise click.ClickException(f"stopped because {', '.join(failed)} exited")


@cli.group()
def outbound() -> None:
    """The outbound message queue: SMS, e-mail, app pushes and letters from path steps."""


@outbound.command("send")
@click.option("--once", is_flag=True, help="deliver what is due, then exit")
@click.option("--poll", default=5.0, show_default=True, help="seconds to wait when idle")
def outbound_send(once: bool, poll: float) -> None:
    """Deliver due messages through config.OUTBOUND_SENDER, each at most once, after the gate."""
    import logging  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from casedb.compliance.contact_gate import outbound_gate  # noqa: PLC0415
    from casedb.outbound import load_sender, run_sender  # noqa: PLC0415
    from casedb.session import default_engine  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    engine = default_engine()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sender = load_sender(config.OUTBOUND_SENDER, engine=engine)
    run_sender(engine, sender, once=once, poll_seconds=poll, stop=stop, gate=outbound_gate)


@cli.group()
def rules() -> None:
    """The rules service: decision tables applied to cases as their facts change."""


@rules.command("run")
@click.option("--once", is_flag=True, help="drain the pending events, then exit")
@click.option("--batch", default=200, show_default=True, help="cases taken per pass")
@click.option("--poll", default=1.0, show_default=True, help="seconds to wait when idle")
def rules_run(once: bool, batch: int, poll: float) -> None:
    """Consume the change events, evaluate the published tables, write the decisions back."""
    import logging  # noqa: PLC0415

    from casedb.session import default_engine  # noqa: PLC0415
    from rules_service.relay import Relay  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    relay = Relay(default_engine(), batch=batch)
    try:
        delivered = relay.run(once=once, poll=poll, stopping=lambda: stopping)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"rules service: {delivered} events applied, {relay.reevaluated} cases re-evaluated")


@rules.command("reevaluate")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(["assignment", "priority", "strategy", "alert"]),
    help="only these tables (repeatable); default: every running table",
)
@click.option("--reason", default="requested by hand", show_default=True)
@click.option("--by", default="cli", show_default=True, help="who asks (provenance)")
@click.option("--chunk-size", default=2000, show_default=True, help="cases per chunk")
@click.option("--work", is_flag=True, help="also work the run in this process until it is done")
def rules_reevaluate(
    kinds: tuple[str, ...], reason: str, by: str, chunk_size: int, work: bool
) -> None:
    """Ask the rules service to decide every open case again (as publishing does)."""
    from casedb.session import default_engine, transaction  # noqa: PLC0415
    from rules_service.bulk_decide import Reevaluator  # noqa: PLC0415
    from rules_service.decision_table import Kind  # noqa: PLC0415
    from rules_service.policy import Policy  # noqa: PLC0415
    from rules_service.reevaluation import request_reevaluation  # noqa: PLC0415

    with transaction() as session:
        run = request_reevaluation(
            session, reason, [Kind(k) for k in kinds] or None, by, chunk_size=chunk_size
        )
        line = f"re-evaluation run {run.id}: {run.cases} open cases in {run.chunks} chunks"
    click.echo(line)
    if work:
        from sqlalchemy.orm import Session  # noqa: PLC0415

        engine = default_engine()
        policy = Policy()
        with Session(engine) as session:
            policy.refresh(session)
        if not policy.current:
            raise click.ClickException("no published ruleset; run `rules publish-defaults`")
        evaluated = Reevaluator(engine, policy).work()
        click.echo(f"re-evaluated {evaluated} cases")


@rules.command("tick")
@click.option(
    "--date",
    "to",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="business date to move to (YYYY-MM-DD); default: today, or the forced BUSINESS_DATE",
)
@click.option("--by", default="cli", show_default=True, help="who ticks (audit)")
def rules_tick(to: datetime | None, by: str) -> None:
    """Move every open case's DPD and bucket to the business date and request a re-evaluation
    (what the scheduler does daily; a date already reached changes nothing)."""
    from casedb.session import transaction  # noqa: PLC0415
    from rules_service.daily_tick import advance_to, tick_date  # noqa: PLC0415

    with transaction() as session:
        session.info["actor"] = by
        result = advance_to(session, to.date() if to else tick_date(), by=by)
    click.echo(result.text())


@rules.command("treat")
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="business date (YYYY-MM-DD); default: the stored business date",
)
def rules_treat(on: datetime | None) -> None:
    """The daily treatment run: path steps that fall due become tasks and outbound messages
    (what the scheduler does at DAILY_TREATMENT_AT; rerunning a day adds nothing)."""
    import json  # noqa: PLC0415

    from rules_service.treatment_run import treatment_job  # noqa: PLC0415

    click.echo(json.dumps(treatment_job(on.date().isoformat() if on else None), indent=1))


@rules.command("publish")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--by", default="cli", show_default=True, help="who publishes (provenance)")
def rules_publish(files: tuple[Path, ...], by: str) -> None:
    """Publish decision-table FILES as new versions (the same content again is a no-op)."""
    from casedb.session import transaction  # noqa: PLC0415
    from rules_service.decision_table import TableError  # noqa: PLC0415
    from rules_service.policy import PublishError, publish_files  # noqa: PLC0415

    try:
        with transaction() as session:
            published = publish_files(session, files, by)
            lines = [_published_line(p) for p in published]
    except (TableError, PublishError) as error:
        raise click.ClickException(str(error)) from error
    click.echo("\n".join(lines))


@rules.command("publish-defaults")
@click.option("--by", default="cli", show_default=True)
def rules_publish_defaults(by: str) -> None:
    """Publish the tables, treatment paths and compliance policies shipped in rulesets/
    (idempotent)."""
    from casedb.session import transaction  # noqa: PLC0415
    from rules_service.compliance_policies import (  # noqa: PLC0415
        publish_shipped as publish_policies,
    )
    from rules_service.policy import publish_defaults  # noqa: PLC0415
    from rules_service.treatment_paths import publish_shipped  # noqa: PLC0415

    with transaction() as session:
        session.info["actor"] = by
        lines = [_published_line(p) for p in publish_defaults(session, by)]
        lines += [f"{path} published (treatment path)" for path in publish_shipped(session, by)]
        lines += [f"{p} published (compliance policy)" for p in publish_policies(session, by)]
    click.echo("\n".join(lines))


def _published_line(published: object) -> str:
    row = published.row  # type: ignore[attr-defined]
    state = "published" if published.created else "already published"  # type: ignore[attr-defined]
    return f"{row.kind:<10} {row.name} v{row.version} {row.checksum[:12]} {state}"


@rules.command("evaluate")
@click.option("--case", "case_ref", required=True, help="case id or case number")
def rules_evaluate(case_ref: str) -> None:
    """Print the case's facts and what the published tables decide now (writes nothing)."""
    from casedb.session import session_factory  # noqa: PLC0415
    from rules_service.explain import evaluate_text  # noqa: PLC0415
    from rules_service.policy import Policy  # noqa: PLC0415

    with session_factory()() as session:
        try:
            policy = Policy()
            policy.refresh(session)
            if not policy.current:
                raise click.ClickException("no published ruleset; run `rules publish-defaults`")
            click.echo(evaluate_text(session, policy, _case_id(session, case_ref)))
        finally:
            session.rollback()


@rules.command("explain")
@click.option("--case", "case_ref", required=True, help="case id or case number")
def rules_explain(case_ref: str) -> None:
    """Why the case has its team, collector, priority and strategy: the latest decisions."""
    from casedb.session import session_factory  # noqa: PLC0415
    from rules_service.explain import explain_text  # noqa: PLC0415

    with session_factory()() as session:
        click.echo(explain_text(session, _case_id(session, case_ref)))


def _case_id(session: object, ref: str) -> int:
    from sqlalchemy import select  # noqa: PLC0415

    from casedb.models import CollectionCase  # noqa: PLC0415

    found = session.scalar(  # type: ignore[attr-defined]
        select(CollectionCase.id).where(
            (CollectionCase.case_no == ref)
            | (CollectionCase.id == (int(ref) if ref.isdigit() else -1))
        )
    )
    if found is None:
        raise click.ClickException(f"no case {ref!r}")
    return found


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@cli.group()
def compliance() -> None:
    """The compliance engine: the contact gate, audit replay and the script audit."""


def _policy_resolver() -> object:
    """Policies by name: the published version in the database, or the shipped preset when
    there is no database to ask."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from casedb.compliance.contact_gate import active_policy  # noqa: PLC0415
    from casedb.compliance.policy import shipped_policy  # noqa: PLC0415
    from casedb.session import session_factory  # noqa: PLC0415

    def resolve(name: str) -> object:
        try:
            with session_factory()() as session:
                return active_policy(session, name)
        except SQLAlchemyError:
            return shipped_policy(name)

    return resolve


@compliance.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="default: stdout")
def compliance_replay(file: Path, out: Path | None) -> None:
    """Re-judge every contact in FILE (JSON: policy, debtors, events) by the events before it;
    prints a JSON array of {id, verdict, rules}. Streams: a million contacts fit in memory."""
    from casedb.compliance.replay import ReplayError, replay_file  # noqa: PLC0415

    handle = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        judged = replay_file(file, handle, _policy_resolver())
    except ReplayError as error:
        raise click.ClickException(str(error)) from error
    finally:
        if out:
            handle.close()
    click.echo(f"{judged} contacts judged", err=True)


@compliance.command("script")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--lawful", multiple=True, help="an action the lender really takes, e.g. lawsuit")
@click.option("--third-party", is_flag=True, help="the text goes to someone other than the debtor")
def compliance_script(
    file: click.utils.LazyFile, lawful: tuple[str, ...], third_party: bool
) -> None:
    """Audit a script, SMS or letter (FILE, or - for stdin): pass, warn or block, with every
    finding's category, matched text, span and rule. Exit status 1 when blocked."""
    import json  # noqa: PLC0415

    from casedb.compliance.script_audit import audit_script  # noqa: PLC0415

    audit = audit_script(file.read(), lawful_actions=lawful, to_third_party=third_party)
    click.echo(json.dumps(audit.as_dict(), ensure_ascii=False, indent=2))
    if audit.verdict == "block":
        sys.exit(1)


@compliance.command("check")
@click.option("--case", "case_ref", required=True, help="case id or case number")
@click.option("--channel", default="call", show_default=True)
@click.option("--party", default="debtor", show_default=True)
@click.option("--at", "moment", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]))
@click.option("--text", default="", help="the text to be sent or said")
@click.option("--by", default="cli", show_default=True, help="who asks (compliance log)")
def compliance_check(
    case_ref: str, channel: str, party: str, moment: datetime | None, text: str, by: str
) -> None:
    """Ask the gate whether a contact on a case may happen (now, or --at); the answer is logged."""
    import json  # noqa: PLC0415

    from sqlalchemy import or_, select  # noqa: PLC0415

    from casedb.compliance.contact_gate import ContactRequest, check_contact  # noqa: PLC0415
    from casedb.models import CollectionCase  # noqa: PLC0415
    from casedb.session import transaction  # noqa: PLC0415

    with transaction() as session:
        session.info["actor"] = by
        case = session.scalar(
            select(CollectionCase).where(
                or_(
                    CollectionCase.case_no == case_ref,
                    CollectionCase.id == (int(case_ref) if case_ref.isdigit() else -1),
                )
            )
        )
        if case is None:
            raise click.ClickException(f"no case {case_ref}")
        request = ContactRequest(channel=channel, party=party, text=text, at=moment)
        verdict = check_contact(session, case, request, actor=by, origin="api")
        click.echo(json.dumps(verdict.as_dict(), ensure_ascii=False, indent=2))


@cli.group()
def model() -> None:
    """Repayment propensity (还款可能性): train versions, score open cases, report."""


def _queue() -> object:
    from rq import Queue  # noqa: PLC0415

    from casedb.broker import connect  # noqa: PLC0415

    if not config.REDIS_URL:
        raise click.ClickException("--enqueue needs REDIS_URL (a worker must take the job)")
    return Queue(config.WORKER_QUEUES[-1], connection=connect(config.REDIS_URL))


@model.command("train")
@click.option("--method", type=click.Choice(["logistic", "gbm"]), default="logistic")
@click.option("--seed", type=int, default=20051001, show_default=True)
@click.option("--max-iter", type=int, default=150, show_default=True, help="boosting rounds")
@click.option("--by", default="cli", show_default=True, help="who trains it (recorded)")
@click.option("--enqueue", is_flag=True, help="queue it for a worker instead of training here")
def model_train(method: str, seed: int, max_iter: int, by: str, enqueue: bool) -> None:
    """Train a new version on a held-out time split and print its metrics."""
    from casedb.session import default_engine  # noqa: PLC0415
    from rules_service import propensity  # noqa: PLC0415

    try:
        if enqueue:
            job = propensity.start_training(_queue(), method, seed, max_iter, by)
            click.echo(f"training queued as job {job.id}")
            return
        click.echo(propensity.train(default_engine(), method, seed, max_iter, by=by).text())
    except propensity.PropensityError as error:
        raise click.ClickException(str(error)) from error


@model.command("score")
@click.option("--version", "version", type=int, help="model version (default: the latest)")
@click.option("--by", default="cli", show_default=True, help="who scores (audit)")
@click.option("--enqueue", is_flag=True, help="queue it for a worker instead of scoring here")
def model_score(version: int | None, by: str, enqueue: bool) -> None:
    """Score every open case (the case fact repayment_propensity)."""
    from casedb.session import default_engine  # noqa: PLC0415
    from rules_service import propensity  # noqa: PLC0415

    try:
        if enqueue:
            job = propensity.start_scoring(_queue(), version, by)
            click.echo(f"scoring queued as job {job.id}")
            return
        click.echo(propensity.score_open_cases(default_engine(), version, by=by).text())
    except propensity.PropensityError as error:
        raise click.ClickException(str(error)) from error


@model.command("report")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="xlsx to write")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def model_report(out: Path | None, language: str) -> None:
    """Print the model versions' held-out metrics; with --out, write the decision-support
    workbook (models, calibration, behaviour, forecast, champion/challenger)."""
    from sqlalchemy import select  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from casedb.models import PropensityModel  # noqa: PLC0415
    from casedb.session import default_engine  # noqa: PLC0415
    from rules_service import propensity  # noqa: PLC0415

    engine = default_engine()
    with Session(engine) as session:
        models = session.scalars(select(PropensityModel).order_by(PropensityModel.version)).all()
        if not models and out is None:
            raise click.ClickException(
                "no propensity model has been trained yet: run `python run.py model train`"
            )
        for row in models:
            test = row.metrics["test"]
            stale = propensity.stale_reason(session, row)
            click.echo(
                f"v{row.version} {row.method} trained {row.trained_at:%Y-%m-%d %H:%M} UTC on "
                f"{', '.join(row.split['train'])} / {row.split['calibration']}; test "
                f"{row.split['test']} ({test['rows']} rows): AUC {test['auc']:.4f}, Brier "
                f"{test['brier']:.4f}, error rate {test['error_rate']:.4f}, area ratio "
                f"{test['area_ratio']:.3f}" + (f"  [STALE: {stale}]" if stale else "")
            )
    if out is not None:
        from reports.decision_support import write_report  # noqa: PLC0415

        written = write_report(engine, out, language)
        click.echo(f"wrote {out} ({len(written.sheets)} sheets)")


@cli.command("forecast")
@click.option("--backtest", "run_backtest", is_flag=True, help="hold out the last months")
@click.option("--horizon", default=2, show_default=True, help="months held out by --backtest")
@click.option("--months", default=3, show_default=True, help="months to forecast")
@click.option("--segment-by", type=click.Choice(["product", "region"]), help="also per segment")
@click.option("--segment", help="only this segment value (with --segment-by)")
@click.option("--lgd", default=1.0, show_default=True, help="loss given default")
def forecast_command(
    run_backtest: bool,
    horizon: int,
    months: int,
    segment_by: str | None,
    segment: str | None,
    lgd: float,
) -> None:
    """Roll-rate (Markov) forecast of the DPD buckets and expected loss; --backtest fits on
    all but the last months and compares its forecast of them with what happened."""
    from casedb.session import default_engine  # noqa: PLC0415
    from reports import forecast  # noqa: PLC0415

    try:
        with default_engine().connect() as connection:
            if run_backtest:
                for found in forecast.backtest(connection, horizon, segment_by, segment, lgd):
                    click.echo(found.text())
                return
            for found in forecast.forecast(connection, months, segment_by, segment, lgd):
                click.echo(forecast.forecast_text(found))
    except forecast.ForecastError as error:
        raise click.ClickException(str(error)) from error


if __name__ == "__main__":
    cli()
