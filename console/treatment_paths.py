"""Treatment paths in the console: analysts edit the steps in a form, supervisors approve and
publish (the life cycle of ``rules_service.treatment_paths``).

A path is edited as a table of steps (action, day offset and what it counts from, escalation,
the Chinese and English texts) — no JSON. A save that the path's checks refuse answers 400 with
the reason naming the step and the field, and the form keeps what was typed. Every step of the
life cycle is an ORM change under the signed-in user, so the audit trail keeps it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import get_locale, gettext
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from casedb.merge_fields import MERGE_FIELDS
from casedb.models import TreatmentPath, VersionStatus
from console.rules_catalogue import STATUS_STYLES, status_label
from rules_service.treatment_paths import (
    ACTIONS,
    ANCHORS,
    LANGUAGES,
    PathError,
    PathLifecycleError,
    approve,
    publish,
    reject,
    save_draft,
    submit,
)

# The per-step form fields: step_<field>[] arrays, one entry per row.
STEP_FIELDS = ("id", "action", "offset_days", "after", "escalate_after_hours")
TEXT_FIELDS = tuple(f"{lang}_{part}" for lang in LANGUAGES for part in ("subject", "body"))


def _whole(value: str) -> int | str | None:
    """A typed offset: a whole number stays one; anything else goes to the path's checks."""
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _language() -> str:
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def document_from_form(form: MultiDict) -> dict[str, Any]:
    """The path document the editor's form describes (checked later by ``parse_path``)."""
    columns = {name: form.getlist(f"step_{name}") for name in (*STEP_FIELDS, *TEXT_FIELDS)}
    count = max((len(values) for values in columns.values()), default=0)

    def cell(name: str, index: int) -> str:
        values = columns[name]
        return values[index] if index < len(values) else ""

    steps = []
    for index in range(count):
        typed = (*(n for n in STEP_FIELDS if n != "after"), *TEXT_FIELDS)  # after is a select
        if not any(cell(name, index).strip() for name in typed):
            continue  # an empty row left in the form
        steps.append(
            {
                "id": cell("id", index).strip(),
                "action": cell("action", index),
                "offset_days": _whole(cell("offset_days", index)),
                "after": cell("after", index) or "previous",
                "escalate_after_hours": _whole(cell("escalate_after_hours", index)),
                "template": {
                    lang: {
                        "subject": cell(f"{lang}_subject", index),
                        "body": cell(f"{lang}_body", index),
                    }
                    for lang in LANGUAGES
                },
            }
        )
    return {
        "name": form.get("name", "").strip(),
        "title": {lang: form.get(f"title_{lang}", "").strip() for lang in LANGUAGES},
        "steps": steps,
    }


class TreatmentPathsView(BaseView):
    """The paths, their versions, the step editor and the life-cycle buttons."""

    route_base = "/paths"
    default_view = "index"
    class_permission_name = "TreatmentPathsView"
    method_permission_name = {
        "index": "read",
        "show": "read",
        "new": "author",
        "save": "author",
        "draft_from": "author",
        "submit_version": "author",
        "approve_version": "approve",
        "reject_version": "approve",
        "publish_version": "publish",
    }

    def _version(self, version_id: int) -> TreatmentPath:
        version = self.appbuilder.session.get(TreatmentPath, version_id)
        if version is None:
            abort(404)
        return version

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", "TreatmentPathsView")

    def _editor(
        self,
        version: TreatmentPath | None,
        document: dict[str, Any] | None = None,
        error: PathError | str | None = None,
        status: int = 200,
    ) -> Response:
        document = document or (version.document if version else {"steps": []})
        page = self.render_template(
            "paths_editor.html",
            version=version,
            document=document,
            editable=(version is None or version.status is VersionStatus.DRAFT)
            and self._may("author"),
            error=str(error) if error else "",
            error_step=getattr(error, "step", None),
            error_field=getattr(error, "field", None),
            actions=ACTIONS,
            anchors=ANCHORS,
            merge_fields=MERGE_FIELDS,
            may_author=self._may("author"),
            may_approve=self._may("approve"),
            may_publish=self._may("publish"),
            me=g.user.username,
            status_label=status_label,
            status_styles=STATUS_STYLES,
            lang=_language(),
        )
        return Response(page, status=status)

    @expose("/")
    @has_access
    def index(self) -> str:
        versions = self.appbuilder.session.scalars(
            select(TreatmentPath).order_by(TreatmentPath.name, TreatmentPath.version.desc())
        ).all()
        by_name: dict[str, list[TreatmentPath]] = {}
        for version in versions:
            by_name.setdefault(version.name, []).append(version)
        return self.render_template(
            "paths_index.html",
            paths=by_name,
            may_author=self._may("author"),
            status_label=status_label,
            status_styles=STATUS_STYLES,
            lang=_language(),
        )

    @expose("/version/<int:version_id>")
    @has_access
    def show(self, version_id: int) -> Response:
        return self._editor(self._version(version_id))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self) -> Response:
        if request.method == "GET":
            return self._editor(None)
        return self._save(None)

    @expose("/version/<int:version_id>/save", methods=["POST"])
    @has_access
    def save(self, version_id: int) -> Response:
        return self._save(self._version(version_id))

    def _save(self, draft: TreatmentPath | None) -> Response:
        session = self.appbuilder.session
        document = document_from_form(request.form)
        try:
            version = save_draft(session, document, author=g.user.username, draft=draft)
            session.commit()
        except (PathError, PathLifecycleError) as error:
            session.rollback()
            return self._editor(draft, document, error, status=400)
        flash(gettext("Draft saved"), "success")
        return redirect(url_for("TreatmentPathsView.show", version_id=version.id))

    @expose("/version/<int:version_id>/draft", methods=["POST"])
    @has_access
    def draft_from(self, version_id: int) -> Response:
        """A new draft with the steps of this version (to change a frozen one)."""
        source = self._version(version_id)
        session = self.appbuilder.session
        draft = save_draft(session, source.document, author=g.user.username)
        draft.based_on_id = source.id
        session.commit()
        return redirect(url_for("TreatmentPathsView.show", version_id=draft.id))

    def _step(self, version_id: int, step: Any, *args: Any) -> Response:
        version = self._version(version_id)
        session = self.appbuilder.session
        try:
            step(session, version, g.user.username, *args)
            session.commit()
        except (PathError, PathLifecycleError) as error:
            session.rollback()
            return self._editor(version, error=error, status=400)
        flash(gettext("%(version)s is %(status)s", version=str(version), status=version.status))
        return redirect(url_for("TreatmentPathsView.show", version_id=version.id))

    @expose("/version/<int:version_id>/submit", methods=["POST"])
    @has_access
    def submit_version(self, version_id: int) -> Response:
        return self._step(version_id, submit)

    @expose("/version/<int:version_id>/approve", methods=["POST"])
    @has_access
    def approve_version(self, version_id: int) -> Response:
        return self._step(version_id, approve)

    @expose("/version/<int:version_id>/reject", methods=["POST"])
    @has_access
    def reject_version(self, version_id: int) -> Response:
        return self._step(version_id, reject, request.form.get("note", ""))

    @expose("/version/<int:version_id>/publish", methods=["POST"])
    @has_access
    def publish_version(self, version_id: int) -> Response:
        return self._step(version_id, publish)
