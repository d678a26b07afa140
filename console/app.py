"""The console's app factory: one Flask app, one SQLA object and one AppBuilder per call."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context
from flask_appbuilder import AppBuilder
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.security.sqla.models import Role, User
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFProtect

import config
from casedb import audit
from casedb.session import configure_sqlite
from console.error_pages import register_error_pages

log = logging.getLogger(__name__)

# The console's own catalogs (console/translations/<lang>/LC_MESSAGES/messages.po, compiled to
# .mo by `make install`); Flask-AppBuilder loads its own catalogs first and these over them.
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def console_settings() -> dict[str, Any]:
    """Flask and Flask-AppBuilder settings, taken from ``config``."""
    return {
        "SECRET_KEY": config.SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": config.DATABASE_URL,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "APP_NAME": lazy_gettext("Collection Tracker"),
        "AUTH_TYPE": AUTH_DB,
        "AUTH_USER_REGISTRATION": False,
        "BABEL_DEFAULT_LOCALE": "zh",
        # Flask-AppBuilder puts its own translations directory before these (see its
        # BabelManager); Flask-Babel merges the catalogs, so its strings stay translated.
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS_DIR),
        "LANGUAGES": {
            "zh": {"flag": "cn", "name": "中文"},
            "en": {"flag": "gb", "name": "English"},
        },
        # OpenAPI at /api/v1/_openapi and Swagger UI at /swagger/v1 (assets ship with FAB).
        "FAB_API_SWAGGER_UI": True,
        # Login throttling: at most this many login posts per client address, counted in
        # Redis so every console process shares the count; see also ConsoleSecurityManager.
        "AUTH_RATE_LIMITED": True,
        "AUTH_RATE_LIMIT": "20 per minute",
        "RATELIMIT_ENABLED": True,
        # Redis for get-next locks and report jobs (run.py starts an embedded one if unset).
        "REDIS_URL": config.REDIS_URL,
        # Flask-AppBuilder's file fields and downloads keep files here.
        "UPLOAD_FOLDER": str(config.INSTANCE_DIR / "uploads"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_ENABLED": True,
    }


def limiter_storage_uri(redis_url: str) -> str:
    """Where Flask-Limiter counts: the console's Redis (a Unix socket for the embedded one is
    spelled ``redis+unix://``), or this process's memory when there is no Redis at all."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+" + redis_url
    return redis_url


def require_compiled_translations(languages: dict[str, Any]) -> None:
    """Refuse to start without a compiled catalog for a language that has one to compile:
    Flask-Babel would silently fall back to the English strings."""
    for code in languages:
        source = TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"
        compiled = source.with_suffix(".mo")
        if not source.is_file():
            continue
        if not compiled.is_file():
            raise RuntimeError(
                f"the console's {code!r} translations are not compiled: {compiled} is missing; "
                "run `make install` (or `pybabel compile -d console/translations`)"
            )
        if compiled.stat().st_mtime < source.stat().st_mtime:
            log.warning(
                "%s is older than %s: run `make install` to compile the new translations",
                compiled,
                source,
            )


def signed_in_username() -> str | None:
    """The audit trail's actor for changes made while serving a request."""
    if not has_request_context():
        return None
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.username


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from console import api  # noqa: PLC0415
    from console.alerts import AlertsView  # noqa: PLC0415
    from console.audit_trail import AuditTrailView  # noqa: PLC0415
    from console.compliance import (  # noqa: PLC0415
        ComplianceApi,
        ComplianceLogView,
        CompliancePoliciesView,
        ComplianceReplayView,
        KnowledgeBaseView,
    )
    from console.dashboard import DashboardView, IndexView  # noqa: PLC0415
    from console.decision_log import DecisionLogView  # noqa: PLC0415
    from console.decision_support import DecisionSupportView  # noqa: PLC0415
    from console.imports import ImportView  # noqa: PLC0415
    from console.labels import JINJA_GLOBALS  # noqa: PLC0415
    from console.organisation import CollectorView, TeamView  # noqa: PLC0415
    from console.records import (  # noqa: PLC0415
        ContactAttemptView,
        CustomerView,
        LoanView,
        PromiseView,
    )
    from console.reevaluation_runs import ReevaluationRunsView  # noqa: PLC0415
    from console.reports import ReportsView  # noqa: PLC0415
    from console.roles import FAB_ROLES  # noqa: PLC0415
    from console.rules_authoring import RulesetsView  # noqa: PLC0415
    from console.security import ConsoleSecurityManager  # noqa: PLC0415
    from console.settlements import SettlementApi, SettlementsView  # noqa: PLC0415
    from console.treatment_paths import TreatmentPathsView  # noqa: PLC0415
    from console.views import (  # noqa: PLC0415
        CaseBulkView,
        CaseView,
        PortfolioView,
        QueueView,
        WorkbenchView,
    )

    # Who may sign in and with which roles; not FAB's permission catalogue, which it rebuilds.
    audit.audit_also(User, redact={"password"})
    audit.audit_also(Role)
    audit.resolve_actor_with(signed_in_username)

    app = Flask(__name__)
    app.config.update(console_settings())
    app.config["FAB_ROLES"] = FAB_ROLES
    app.config.update(overrides or {})
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"]))
    require_compiled_translations(app.config["LANGUAGES"])
    # The labels of stored enum values (outcome_label(...), ...) in every template.
    app.jinja_env.globals.update(JINJA_GLOBALS)
    # Flask-AppBuilder's download endpoint raises on a file that is not there: that is a 404.
    app.register_error_handler(FileNotFoundError, lambda _error: ("file not found", 404))
    register_error_pages(app)
    # CSRF on every form post (Flask-AppBuilder exempts its REST API blueprints itself).
    CSRFProtect(app)
    db = get_sqla_class()()
    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
        # The landing page sends a signed-in user to the dashboard (console/dashboard.py).
        appbuilder = AppBuilder(security_manager_class=ConsoleSecurityManager, indexview=IndexView)
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(
            DashboardView, "Dashboard", label=lazy_gettext("Dashboard"), icon="fa-bar-chart"
        )
        appbuilder.add_view(
            PortfolioView,
            "Portfolio",
            label=lazy_gettext("Portfolio"),
            icon="fa-dashboard",
            category="Cases",
            category_label=lazy_gettext("Cases"),
        )
        appbuilder.add_view(
            QueueView,
            "My queue",
            label=lazy_gettext("My queue"),
            icon="fa-phone",
            category="Cases",
        )
        appbuilder.add_view(
            AlertsView,
            "Alerts",
            label=lazy_gettext("Alerts"),
            icon="fa-bell",
            category="Cases",
        )
        appbuilder.add_view(
            SettlementsView,
            "Settlements",
            label=lazy_gettext("Settlements to approve"),
            icon="fa-balance-scale",
            category="Cases",
        )
        appbuilder.add_view_no_menu(WorkbenchView)
        appbuilder.add_view_no_menu(CaseBulkView)
        appbuilder.add_view(
            CaseView,
            "Cases list",
            label=lazy_gettext("Case list"),
            icon="fa-list",
            category="Cases",
        )
        for view, name, label, icon in [
            (CustomerView, "Customers", lazy_gettext("Customers"), "fa-user"),
            (LoanView, "Loans", lazy_gettext("Loans"), "fa-credit-card"),
            (ContactAttemptView, "Contacts", lazy_gettext("Contacts"), "fa-phone-square"),
            (PromiseView, "Promises", lazy_gettext("Promises to pay"), "fa-handshake-o"),
        ]:
            appbuilder.add_view(
                view,
                name,
                label=label,
                icon=icon,
                category="Records",
                category_label=lazy_gettext("Records"),
            )
        for view, name, label, icon in [
            (TeamView, "Teams", lazy_gettext("Teams"), "fa-users"),
            (CollectorView, "Collectors", lazy_gettext("Collectors"), "fa-id-badge"),
        ]:
            appbuilder.add_view(
                view,
                name,
                label=label,
                icon=icon,
                category="Organisation",
                category_label=lazy_gettext("Organisation"),
            )
        appbuilder.add_view(
            AuditTrailView,
            "Audit trail",
            label=lazy_gettext("Audit trail"),
            icon="fa-shield",
            category="Compliance",
            category_label=lazy_gettext("Compliance"),
        )
        for view, name, label, icon in [
            (
                ComplianceLogView,
                "Compliance log",
                lazy_gettext("Compliance log"),
                "fa-check-square",
            ),
            (
                KnowledgeBaseView,
                "Legal knowledge base",
                lazy_gettext("Legal knowledge base"),
                "fa-book",
            ),
            (
                CompliancePoliciesView,
                "Compliance policies",
                lazy_gettext("Compliance policies"),
                "fa-gavel",
            ),
            (
                ComplianceReplayView,
                "Compliance replay",
                lazy_gettext("Compliance replay"),
                "fa-repeat",
            ),
        ]:
            appbuilder.add_view(view, name, label=label, icon=icon, category="Compliance")
        appbuilder.add_view(
            RulesetsView,
            "Rulesets",
            label=lazy_gettext("Rulesets"),
            icon="fa-table",
            category="Rules",
            category_label=lazy_gettext("Rules"),
        )
        appbuilder.add_view(
            TreatmentPathsView,
            "Treatment paths",
            label=lazy_gettext("Treatment paths"),
            icon="fa-road",
            category="Rules",
        )
        appbuilder.add_view(
            DecisionLogView,
            "Decision log",
            label=lazy_gettext("Decision log"),
            icon="fa-history",
            category="Rules",
        )
        appbuilder.add_view(
            ReevaluationRunsView,
            "Re-evaluation runs",
            label=lazy_gettext("Re-evaluation runs"),
            icon="fa-refresh",
            category="Rules",
        )
        appbuilder.add_view(
            ImportView,
            "Data import",
            label=lazy_gettext("Data import"),
            icon="fa-upload",
            category="Data",
            category_label=lazy_gettext("Data"),
        )
        appbuilder.add_view(
            ReportsView,
            "Reports",
            label=lazy_gettext("Reports"),
            icon="fa-file-excel-o",
            category="Reports",
            category_label=lazy_gettext("Reports"),
        )
        appbuilder.add_view(
            DecisionSupportView,
            "Decision support",
            label=lazy_gettext("Decision support"),
            icon="fa-line-chart",
            category="Reports",
        )
        for resource in [
            api.CaseApi,
            api.CustomerApi,
            api.LoanApi,
            api.ContactAttemptApi,
            api.PromiseApi,
            api.TeamApi,
            api.CollectorApi,
            api.AuditTrailApi,
            SettlementApi,
            ComplianceApi,
        ]:
            appbuilder.add_api(resource)
    return app
