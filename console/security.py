"""The console's security manager."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, has_request_context
from flask_appbuilder.security.manager import BaseSecurityManager
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_babel import gettext
from redis import Redis

import config

log = logging.getLogger(__name__)


class ConsoleSecurityManager(SecurityManager):
    """Flask-AppBuilder's manager, minus creating tables (the schema comes from migrations),
    minus the user-statistics chart (it loads Google Charts from the internet), plus a lockout:
    after ``LOGIN_MAX_FAILURES`` wrong passwords in a row a login is refused for
    ``LOGIN_LOCKOUT_SECONDS``, whichever address the attempts come from (the per-address rate
    limit is Flask-AppBuilder's ``AUTH_RATE_LIMIT``)."""

    userstatschartview = None

    def create_db(self) -> None:
        BaseSecurityManager.create_db(self)

    def auth_user_db(self, username: str, password: str) -> Any:
        if not current_app.config.get("REDIS_URL"):
            log.warning("no REDIS_URL: logins are not locked after repeated failures")
            return super().auth_user_db(username, password)
        failures_key = f"login_failures:{(username or '').strip().lower()}"
        redis = Redis.from_url(current_app.config["REDIS_URL"])
        if int(redis.get(failures_key) or 0) >= config.LOGIN_MAX_FAILURES:
            log.warning("login refused: %s is locked after repeated failures", username)
            if has_request_context():
                minutes = max(int(redis.ttl(failures_key)) // 60, 1)
                flash(
                    gettext(
                        "Too many failed logins: try again in %(minutes)s min", minutes=minutes
                    ),
                    "danger",
                )
            return None
        user = super().auth_user_db(username, password)
        if user is None:
            with redis.pipeline() as pipe:
                pipe.incr(failures_key).expire(failures_key, config.LOGIN_LOCKOUT_SECONDS)
                pipe.execute()
        else:
            redis.delete(failures_key)
        return user
