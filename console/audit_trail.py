"""The audit trail, the auditors' main view: browse, filter, export and verify; never edit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Response, flash, redirect, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from casedb.audit import verify
from casedb.models import AuditEntry

EXPORT_COLUMNS = [
    "id",
    "occurred_at",
    "actor",
    "action",
    "table_name",
    "row_id",
    "before",
    "after",
    "previous_hash",
    "entry_hash",
]


def _pretty_json(value: Any) -> Markup:
    if value is None:
        return Markup("")
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return Markup("<pre>") + escape(text) + Markup("</pre>")


class AuditTrailView(ModelView):
    """Every change: who, when, what, before and after, each entry chained to the one before."""

    datamodel = SQLAInterface(AuditEntry)
    route_base = "/audit"
    base_permissions = ["can_list", "can_show", "can_export", "can_verify"]
    base_order = ("id", "desc")
    list_title = lazy_gettext("Audit trail")
    show_title = lazy_gettext("Audit entry")
    list_columns = ["id", "occurred_at", "actor", "action", "table_name", "row_id"]
    show_columns = EXPORT_COLUMNS
    search_columns = ["occurred_at", "actor", "action", "table_name", "row_id"]
    formatters_columns = {"before": _pretty_json, "after": _pretty_json}
    label_columns = {
        "id": lazy_gettext("No."),
        "occurred_at": lazy_gettext("When (UTC)"),
        "actor": lazy_gettext("Who"),
        "action": lazy_gettext("Action"),
        "table_name": lazy_gettext("Table"),
        "row_id": lazy_gettext("Row"),
        "before": lazy_gettext("Before"),
        "after": lazy_gettext("After"),
        "previous_hash": lazy_gettext("Previous hash"),
        "entry_hash": lazy_gettext("Hash"),
    }
    list_template = "audit_trail_list.html"

    @expose("/export")
    @has_access
    def export(self) -> Response:
        """The entries the list's current filters select, oldest first, as UTF-8 CSV."""
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        statement = self.datamodel.apply_all(
            self.datamodel.session.query(AuditEntry), filters, "id", "asc"
        ).statement
        engine = self.datamodel.session.get_bind()

        def rows() -> Iterator[str]:
            # A session of its own, closed when the stream ends or the client goes away: the
            # request's session is gone by the time a streamed body is read.
            with Session(engine) as session:
                entries = session.execute(statement, execution_options={"yield_per": 2000})
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                buffer.write("\ufeff")  # so spreadsheet programs read the Chinese text as UTF-8
                writer.writerow(EXPORT_COLUMNS)
                for entry in entries.scalars():
                    writer.writerow(
                        [
                            json.dumps(value, ensure_ascii=False, sort_keys=True)
                            if column in ("before", "after") and value is not None
                            else value
                            for column in EXPORT_COLUMNS
                            for value in [getattr(entry, column)]
                        ]
                    )
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
                yield buffer.getvalue()

        return Response(
            rows(),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=audit_trail.csv"},
        )

    @expose("/verify")
    @has_access
    def verify(self) -> Response:
        """Walk the whole chain now and say whether any entry was edited or removed."""
        found = verify(self.datamodel.session)
        if found is None:
            flash(gettext("The audit chain is intact: no entry was edited or removed"), "success")
        else:
            # The reason comes from casedb.audit, in English.
            flash(
                gettext(
                    "The audit chain is broken at entry %(entry_id)s: %(reason)s",
                    entry_id=found.entry_id,
                    reason=found.reason,
                ),
                "danger",
            )
        return redirect(url_for("AuditTrailView.list"))
