"""The console's security manager."""

from __future__ import annotations

from flask_appbuilder.security.manager import BaseSecurityManager
from flask_appbuilder.security.sqla.manager import SecurityManager


class ConsoleSecurityManager(SecurityManager):
    """Flask-AppBuilder's manager, minus creating tables (the schema comes from migrations) and
    minus the user-statistics chart, which loads Google Charts from the internet."""

    userstatschartview = None

    def create_db(self) -> None:
        BaseSecurityManager.create_db(self)
