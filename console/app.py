"""The console's app factory: one Flask app, one SQLA object and one AppBuilder per call."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context
from flask_appbuilder import AppBuilder
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.security.sqla.models import Role, User
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_wtf.csrf import CSRFProtect

import config
from casedb import audit
from casedb.session import configure_sqlite


def console_settings() -> dict[str, Any]:
    """Flask and Flask-AppBuilder settings, taken from ``config``."""
    return {
        "SECRET_KEY": config.SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": config.DATABASE_URL,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "APP_NAME": "催收跟踪系统 Collection Tracker",
        "AUTH_TYPE": AUTH_DB,
        "AUTH_USER_REGISTRATION": False,
        "BABEL_DEFAULT_LOCALE": "zh",
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
    from console.audit_trail import AuditTrailView  # noqa: PLC0415
    from console.imports import ImportView  # noqa: PLC0415
    from console.organisation import CollectorView, TeamView  # noqa: PLC0415
    from console.records import (  # noqa: PLC0415
        ContactAttemptView,
        CustomerView,
        LoanView,
        PromiseView,
    )
    from console.roles import FAB_ROLES  # noqa: PLC0415
    from console.security import ConsoleSecurityManager  # noqa: PLC0415
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
    # Flask-AppBuilder's download endpoint raises on a file that is not there: that is a 404.
    app.register_error_handler(FileNotFoundError, lambda _error: ("file not found", 404))
    # CSRF on every form post (Flask-AppBuilder exempts its REST API blueprints itself).
    CSRFProtect(app)
    db = get_sqla_class()()
    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
        appbuilder = AppBuilder(security_manager_class=ConsoleSecurityManager)
        appbuilder.init_app(app, db.session)
        appbuilder.add_view(
            PortfolioView,
            "Portfolio",
            label="组合概览 Portfolio",
            icon="fa-dashboard",
            category="Cases",
            category_label="案件 Cases",
        )
        appbuilder.add_view(
            QueueView,
            "My queue",
            label="我的队列 My queue",
            icon="fa-phone",
            category="Cases",
        )
        appbuilder.add_view_no_menu(WorkbenchView)
        appbuilder.add_view_no_menu(CaseBulkView)
        appbuilder.add_view(
            CaseView,
            "Cases list",
            label="案件列表 Cases",
            icon="fa-list",
            category="Cases",
        )
        for view, name, label, icon in [
            (CustomerView, "Customers", "客户 Customers", "fa-user"),
            (LoanView, "Loans", "借据 Loans", "fa-credit-card"),
            (ContactAttemptView, "Contacts", "联系记录 Contacts", "fa-phone-square"),
            (PromiseView, "Promises", "还款承诺 Promises", "fa-handshake-o"),
        ]:
            appbuilder.add_view(
                view,
                name,
                label=label,
                icon=icon,
                category="Records",
                category_label="档案 Records",
            )
        for view, name, label, icon in [
            (TeamView, "Teams", "团队 Teams", "fa-users"),
            (CollectorView, "Collectors", "催收员 Collectors", "fa-id-badge"),
        ]:
            appbuilder.add_view(
                view,
                name,
                label=label,
                icon=icon,
                category="Organisation",
                category_label="组织 Organisation",
            )
        appbuilder.add_view(
            AuditTrailView,
            "Audit trail",
            label="审计日志 Audit trail",
            icon="fa-shield",
            category="Compliance",
            category_label="合规 Compliance",
        )
        appbuilder.add_view(
            ImportView,
            "Data import",
            label="数据导入 Data import",
            icon="fa-upload",
            category="Data",
            category_label="数据 Data",
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
        ]:
            appbuilder.add_api(resource)
    return app
