"""Refusals and missing pages inside the console's layout (with its menu and a way back),
and as JSON on the API."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext
from flask_login import current_user
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: (lazy_gettext("Bad request"), ""),
    403: (lazy_gettext("Forbidden"), lazy_gettext("Your role may not do this.")),
    404: (lazy_gettext("Not found"), lazy_gettext("No such page or record in your scope.")),
}


def error_page(error: HTTPException) -> tuple[Response | str, int]:
    code = error.code or 500
    title, message = MESSAGES.get(code, (error.name, ""))
    message = message or error.description or ""
    if request.path.startswith("/api/"):
        return jsonify(message=str(error.description or title)), code
    # A refusal before Flask-AppBuilder's own request hook ran (CSRF) has no g.user yet.
    g.user = getattr(g, "user", None) or current_user
    appbuilder = current_app.appbuilder  # type: ignore[attr-defined]
    page = render_template(
        "error.html",
        appbuilder=appbuilder,
        base_template=appbuilder.base_template,
        code=code,
        title=title,
        message=message,
    )
    return page, code


def register_error_pages(app: Flask) -> None:
    for code in MESSAGES:
        app.register_error_handler(code, error_page)
