"""The console's app factory: one Flask app, one SQLA object and one AppBuilder per call."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_wtf.csrf import CSRFProtect

import config


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
        "FAB_API_SWAGGER_UI": False,
        # Redis for get-next locks and report jobs (run.py starts an embedded one if unset).
        "REDIS_URL": config.REDIS_URL,
        # Flask-AppBuilder's file fields and downloads keep files here.
        "UPLOAD_FOLDER": str(config.INSTANCE_DIR / "uploads"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_ENABLED": True,
    }


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from console.roles import FAB_ROLES  # noqa: PLC0415
    from console.security import ConsoleSecurityManager  # noqa: PLC0415
    from console.views import (  # noqa: PLC0415
        CaseApi,
        CaseView,
        PortfolioView,
        QueueView,
        WorkbenchView,
    )

    app = Flask(__name__)
    app.config.update(console_settings())
    app.config["FAB_ROLES"] = FAB_ROLES
    app.config.update(overrides or {})
    # Flask-AppBuilder's download endpoint raises on a file that is not there: that is a 404.
    app.register_error_handler(FileNotFoundError, lambda _error: ("file not found", 404))
    # CSRF on every form post (Flask-AppBuilder exempts its REST API blueprints itself).
    CSRFProtect(app)
    db = get_sqla_class()()
    db.init_app(app)
    with app.app_context():
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
        appbuilder.add_api(CaseApi)
        appbuilder.add_view(
            CaseView,
            "Cases list",
            label="案件列表 Cases",
            icon="fa-list",
            category="Cases",
        )
    return app
