"""End-to-end fixtures: the console started as a user starts it, driven by headless Chromium.

One console for this folder's tests: ``python run.py console`` in its own process group, on a
fresh case database (a SQLite file, or the run's own PostgreSQL database when ``DATABASE_URL`` is
PostgreSQL) migrated with ``run.py db upgrade``, holding a small portfolio loaded with the import
kinds (``run.py demo`` takes half a minute) and the demo logins. Each test gets its own browser
contexts, so its own cookies. Screenshots of the key steps go to
``artifacts/e2e/<database>/<test>/`` at the repository root, which CI keeps; a failing test
leaves a screenshot of where it stopped, and the console's output is in ``console.log`` there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import RunImport
from casedb.models import CollectionCase
from casedb.session import make_engine
from tests.conftest import REPO, skip_or_fail, write_csv

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = REPO / "artifacts" / "e2e"
START_TIMEOUT = 60  # seconds for the console to answer on its port

# The portfolio, one file per import kind, in the order the kinds depend on each other. Case K1
# (45 DPD) tops collector1's queue, K2 is collector1's too, K3 is collector2's.
PORTFOLIO: list[tuple[str, list[list[object]]]] = [
    (
        "teams",
        [["team_code", "name", "supervisor_username"], ["T1", "一组 Team one", "supervisor1"]],
    ),
    (
        "collectors",
        [
            ["collector_code", "name", "team_code", "username"],
            ["CL1", "催收员甲", "T1", "collector1"],
            ["CL2", "催收员乙", "T1", "collector2"],
        ],
    ),
    (
        "customers",
        [
            ["customer_no", "姓名", "身份证号", "省份", "timezone"],
            ["C1", "张三", "110101199003071234", "北京", "Asia/Shanghai"],
            ["C2", "李四", "440101198512120021", "广东", "Asia/Shanghai"],
            ["C3", "王五", "310101197705050011", "上海", "Asia/Shanghai"],
        ],
    ),
    (
        "contact_points",
        [
            ["contact_point_no", "customer_no", "kind", "value", "is_primary", "consent"],
            ["P1", "C1", "mobile", "13812345678", "true", "granted"],
        ],
    ),
    (
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal", "annual_rate"],
            ["L1", "C1", "cash_loan", "10000.00", "18.25%"],
            ["L2", "C2", "consumer_loan", "5000", "0.12"],
            ["L3", "C3", "cash_loan", "8000", "0.15"],
        ],
    ),
    (
        "cases",
        [
            [
                "case_no",
                "loan_no",
                "opened_on",
                "dpd",
                "overdue_principal",
                "team_code",
                "collector_code",
            ],
            ["K1", "L1", "2025-01-01", "45", "1200.50", "T1", "CL1"],
            ["K2", "L2", "2025-02-01", "20", "300", "T1", "CL1"],
            ["K3", "L3", "2025-01-15", "35", "800", "T1", "CL2"],
        ],
    ),
]


@dataclass
class Console:
    """The running console: its address, database, and the portfolio's case ids by number."""

    url: str
    database_url: str
    dialect: str
    case_ids: dict[str, int]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _python(args: list[str], env: dict[str, str]) -> str:
    """Run ``python ARGS`` in the repository as a user would; fails the test if it fails."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"python {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the console exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"the console did not answer on port {port} in {START_TIMEOUT}s:\n{log.read_text()}"
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _empty_case_tables(url: str) -> None:
    from tests.conftest import _empty_all_tables  # noqa: PLC0415

    engine = make_engine(url)
    try:
        _empty_all_tables(engine)
    finally:
        engine.dispose()


def _flush_redis(url: str) -> None:
    """Drop get-next locks left by other tests (the suite's Redis database is shared)."""
    from casedb.broker import connect  # noqa: PLC0415

    connection = connect(url)
    try:
        connection.flushdb()
    finally:
        connection.close()


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Chromium from Debian and the playwright package; checked before starting anything."""
    if not CHROMIUM.is_file():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        skip_or_fail("the playwright package is missing (pip install -e '.[dev]')")


# Package scope: the console stops, and the shared PostgreSQL database is emptied, as soon as
# this folder's tests are done, before the tests after them (tests/test_run.py) run.
@pytest.fixture(scope="package")
def console(
    browser_available: None,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
) -> Iterator[Console]:
    """``run.py console`` on a migrated database holding ``PORTFOLIO`` and the demo logins."""
    home = tmp_path_factory.mktemp("e2e")
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgresql")
    # On PostgreSQL: the run's own database (tests/conftest.py), emptied before and after.
    url = request.getfixturevalue("database_url") if postgres else f"sqlite:///{home / 'cases.db'}"
    dialect = "postgresql" if postgres else "sqlite"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "INSTANCE_DIR": str(home / "instance"),
        "PYTHONUNBUFFERED": "1",
    }
    _python(["run.py", "db", "upgrade"], env)
    if postgres:
        _empty_case_tables(url)
    _flush_redis(redis_url)
    engine = make_engine(url)
    for kind, rows in PORTFOLIO:
        path = write_csv(home / f"{kind}.csv", rows)
        report = RunImport(engine, IMPORT_KINDS[kind], path, actor="e2e", error_dir=home).run()
        assert report.ok, report.summary()
    with engine.connect() as connection:
        case_ids = dict(connection.execute(select(CollectionCase.case_no, CollectionCase.id)).all())
    engine.dispose()
    _python(["-c", "from console.demo_logins import ensure_demo_logins as e; e()"], env)
    port = _free_port()
    # This run's screenshots and the console's log replace the last run's.
    log_dir = ARTIFACTS / dialect
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)
    log = log_dir / "console.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "run.py", "console", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole at the end
        )
    try:
        _wait_for_port(port, process, log)
        yield Console(f"http://127.0.0.1:{port}", url, dialect, case_ids)
    finally:
        _stop(process)
        _flush_redis(redis_url)
        if postgres:
            _empty_case_tables(url)


@pytest.fixture(scope="package")
def browser(browser_available: None) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Keep each phase's report on the test, so the page fixture knows whether it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _test_folder(console: Console, request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    return ARTIFACTS / console.dialect / name


@pytest.fixture
def new_page(
    browser: Browser, console: Console, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Page]]:
    """Opens pages in fresh browser contexts (one per user); screenshots them if the test fails."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = _test_folder(console, request)
        folder.mkdir(parents=True, exist_ok=True)
        for number, context in enumerate(contexts, 1):
            for page in context.pages:
                page.screenshot(path=folder / f"FAILED-{number}.png", full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def screenshot(console: Console, request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``screenshot(page, "step")`` saves ``artifacts/e2e/<database>/<test>/NN-step.png``."""
    folder = _test_folder(console, request)
    steps = iter(range(1, 100))

    def take(page: Page, step: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{next(steps):02d}-{step}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
