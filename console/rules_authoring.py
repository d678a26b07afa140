"""Rule authoring: analysts change the decision tables in the console, with no code.

The rulesets page lists every table version by kind with its state and who wrote, submitted,
approved and published it, and offers each role its steps; the editor page edits a draft (rows,
input columns from the fact catalogue, output columns from the kind's outputs, cell tests, hit
policy), its test cases and its simulation, and shows a frozen version read-only. Every state
change goes through :mod:`rules_service.versions`, so it is in the audit trail under the
signed-in user; a refused step (a ``LifecycleError`` or a ``TableError``) is answered 409 or 400
with its reason in the page, never a 500.

Permissions (``RulesetsView``): ``can_read`` (analysts, supervisors, auditors: lists, versions,
diffs, exports, running a version's tests), ``can_author`` (analysts: drafts, tests, imports,
simulation, submission), ``can_approve`` (supervisors: approve and reject) and ``can_publish``
(supervisors: publish and roll back). Who may approve a particular version — never its author
or submitter — is the life cycle's rule, whatever the role.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, pgettext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

import config
from casedb.models import PublishedRuleset, RulesetVersion, VersionStatus
from console.rules_catalogue import (
    FINDING_LABELS,
    HIT_POLICY_LABELS,
    KIND_LABELS,
    STATUS_STYLES,
    blank_document,
    fact_catalogue,
    fact_label,
    finding_label,
    kind_label,
    output_catalogue,
    output_labels,
    status_label,
)
from rules_service import versions
from rules_service.decision_table import (
    MAX_INPUTS,
    MAX_ROWS,
    OUTPUT_TYPES,
    ROW_ID_PATTERN,
    TABLE_NAME_PATTERN,
    CellError,
    HitPolicy,
    Kind,
    TableError,
    from_json,
    parse_cell,
    to_dict,
    to_json,
)
from rules_service.facts import FACTS, MAX_INTEGER, MAX_NUMBER, FactType
from rules_service.versions import LifecycleError

# What an XLSX workbook (a zip archive) starts with.
XLSX_MAGIC = b"PK\x03\x04"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
MAX_TESTS = 5_000
MAX_CELL_TEXT = 2_000
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Refused(ValueError):  # noqa: N818  (reads as the domain says it)
    """A request the page refuses, with the reason in the user's language and an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- checking what the editor sends ------------------------------------------------------------


def _error(message: str, row: object = None, index: int | None = None, column: object = None):
    return {"row": row, "index": index, "column": column, "message": message}


def _output_value_error(column: Mapping[str, Any], value: object) -> str | None:
    """Why ``value`` cannot be the output's value, or None; null is always allowed."""
    if value is None:
        return None
    kind = column.get("type")
    if kind in (FactType.TEXT, FactType.ENUM):
        if not isinstance(value, str):
            return gettext("expected text")
        values = column.get("values") or []
        if kind == FactType.ENUM and value not in values:
            return gettext("choose one of %(values)s", values=", ".join(map(str, values)))
        return None
    if kind == FactType.BOOLEAN:
        return None if isinstance(value, bool) else gettext("expected true or false")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return gettext("expected a number")
    if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
        return gettext("expected a finite number below 10**15")
    if kind == FactType.INTEGER and (not float(value).is_integer() or abs(value) > MAX_INTEGER):
        return gettext("expected a whole number")
    return None


def cell_errors(document: object) -> list[dict[str, Any]]:
    """Every cell of ``document`` that cannot be read, each with its row id, row position and
    column: the editor shows each message next to its cell. The reader of the whole document
    (``from_json``) stops at the first problem; this goes on to the last."""
    if not isinstance(document, dict):
        return [_error(gettext("The table must be a JSON object"))]
    errors: list[dict[str, Any]] = []
    inputs = document.get("inputs")
    outputs = document.get("outputs")
    rows = document.get("rows")
    if not isinstance(inputs, list) or not inputs:
        errors.append(_error(gettext("A table needs at least one input column"), column="inputs"))
        inputs = []
    if not isinstance(outputs, list) or not outputs:
        errors.append(_error(gettext("A table needs output columns"), column="outputs"))
        outputs = []
    if not isinstance(rows, list) or not rows:
        errors.append(_error(gettext("A table needs at least one row"), column="rows"))
        rows = []
    if len(inputs) > MAX_INPUTS or len(rows) > MAX_ROWS:
        errors.append(_error(gettext("The table is too large")))
        return errors
    facts = []
    for column in inputs:
        name = column.get("fact") if isinstance(column, dict) else None
        if not isinstance(name, str) or name not in FACTS:
            errors.append(_error(gettext("Unknown fact %(name)s", name=repr(name)), column=name))
        elif FACTS[name] in facts:
            errors.append(_error(gettext("Two columns test the same fact"), column=name))
        else:
            facts.append(FACTS[name])
    columns = []
    for column in outputs:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            errors.append(_error(gettext("An output column needs a name")))
        elif column.get("type") not in OUTPUT_TYPES:
            errors.append(_error(gettext("Unknown output column type"), column=column["name"]))
        else:
            columns.append(column)
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append(_error(gettext("A row must be a JSON object"), index=index))
            continue
        row_id = row.get("id")
        if not isinstance(row_id, str) or not ROW_ID_PATTERN.match(row_id):
            errors.append(
                _error(
                    gettext("A row id is letters, digits, _ . or -, up to 64"),
                    row=row_id,
                    index=index,
                    column="id",
                )
            )
        elif row_id in seen:
            errors.append(_error(gettext("Two rows have this id"), row_id, index, "id"))
        else:
            seen.add(row_id)
        when = row.get("when") if isinstance(row.get("when"), dict) else {}
        for fact in facts:
            text = when.get(fact.name, "-")
            if isinstance(text, str) and len(text) > MAX_CELL_TEXT:
                errors.append(_error(gettext("The cell is too long"), row_id, index, fact.name))
                continue
            try:
                parse_cell(text, fact)
            except CellError as error:
                errors.append(_error(str(error), row_id, index, fact.name))
        then = row.get("then") if isinstance(row.get("then"), dict) else {}
        for column in columns:
            problem = _output_value_error(column, then.get(column.get("name")))
            if problem:
                errors.append(_error(problem, row_id, index, column.get("name")))
    return errors


def table_error(error: TableError, document: object = None) -> dict[str, Any]:
    """A ``TableError`` as one cell error of the editor (row id, row position, column)."""
    index = None
    rows = document.get("rows") if isinstance(document, dict) else None
    if error.row is not None and isinstance(rows, list):
        index = next(
            (i for i, r in enumerate(rows) if isinstance(r, dict) and r.get("id") == error.row),
            None,
        )
    return _error(error.reason, error.row, index, error.column or error.field)


def checked_tests(tests: object) -> list[dict[str, Any]]:
    """Test cases as the editor sends them (see :mod:`rules_service.table_tests`): a list of
    objects with distinct names. What they say is checked when they run, so a half-written
    case can be saved; raises ``Refused`` for a list the page could not have sent."""
    if not isinstance(tests, list):
        raise Refused(gettext("Test cases must be a list"))
    if len(tests) > MAX_TESTS:
        raise Refused(gettext("At most %(count)s test cases", count=MAX_TESTS))
    names: set[str] = set()
    checked = []
    for number, test in enumerate(tests, 1):
        if not isinstance(test, dict):
            raise Refused(gettext("Test case %(number)s is not an object", number=number))
        name = test.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Refused(gettext("Test case %(number)s has no name", number=number))
        name = name.strip()
        if name in names:
            raise Refused(gettext("Two test cases are named %(name)s", name=name))
        names.add(name)
        checked.append({**test, "name": name})
    return checked


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(gettext("Send a JSON object"))
    return body


def version_json(version: RulesetVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "name": version.name,
        "kind": version.kind,
        "version": version.version,
        "status": version.status.value,
        "status_label": status_label(version.status),
        "checksum": version.checksum,
        "document": version.document,
        "tests": version.tests or [],
        "findings": version.findings or [],
        "updated_at": version.updated_at.isoformat() if version.updated_at else None,
    }


def _upload() -> tuple[str, bytes]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Refused(gettext("Choose a file"))
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Refused(
            gettext("The file is larger than %(megabytes)s MB", megabytes=MAX_UPLOAD_BYTES >> 20)
        )
    if not data:
        raise Refused(gettext("The file is empty"))
    return Path(upload.filename).suffix.lower(), data


# --- diff for the side-by-side page ----------------------------------------------------------


def _cells(document: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    cells = {f"when {c['fact']}": row["when"].get(c["fact"], "-") for c in document["inputs"]}
    cells.update({f"then {o['name']}": row["then"].get(o["name"]) for o in document["outputs"]})
    return cells


def side_by_side(old: RulesetVersion, new: RulesetVersion) -> dict[str, Any]:
    """The two tables row by row (matched by row id, in the new table's order with removed rows
    where they stood), each cell with its old and new text and whether it changed."""
    old_doc, new_doc = old.document, new.document
    changes = versions.diff(versions.table_of(old), versions.table_of(new))
    columns: list[str] = []
    for document in (old_doc, new_doc):
        for name in [f"when {c['fact']}" for c in document["inputs"]]:
            if name not in columns:
                columns.append(name)
    for document in (old_doc, new_doc):
        for name in [f"then {o['name']}" for o in document["outputs"]]:
            if name not in columns:
                columns.append(name)
    old_rows = {row["id"]: row for row in old_doc["rows"]}
    new_rows = {row["id"]: row for row in new_doc["rows"]}
    order: list[str] = []
    new_ids = [row["id"] for row in new_doc["rows"]]
    for position, row_id in enumerate(r["id"] for r in old_doc["rows"]):
        if row_id not in new_rows:  # removed: where it stood, after the rows kept before it
            kept_before = [r for r in list(old_rows)[:position] if r in new_rows]
            at = new_ids.index(kept_before[-1]) + 1 if kept_before else 0
            new_ids.insert(at, row_id)
    order = new_ids
    rows = []
    for row_id in order:
        before = _cells(old_doc, old_rows[row_id]) if row_id in old_rows else None
        after = _cells(new_doc, new_rows[row_id]) if row_id in new_rows else None
        state = "added" if before is None else "removed" if after is None else "same"
        cells = []
        for column in columns:
            a = before.get(column) if before is not None else None
            b = after.get(column) if after is not None else None
            changed = state == "same" and a != b
            if changed:
                state = "changed"
            cells.append({"old": a, "new": b, "changed": changed})
        moved = row_id in changes.rows_changed and "position" in changes.rows_changed[row_id]
        rows.append({"id": row_id, "state": state, "cells": cells, "moved": moved})
    return {"columns": columns, "rows": rows, "changes": changes}


def _column_title(column: str, kind: str) -> str:
    side, name = column.split(" ", 1)
    if side == "when" and name in FACTS:
        return f"{fact_label(FACTS[name])} ({name})"
    label = output_labels(Kind(kind)).get(name) if kind in set(Kind) else None
    return f"{label} ({name})" if label else name


# --- the view ----------------------------------------------------------------------------------


class RulesetsView(BaseView):
    """The decision tables by kind, their versions and life cycle; the editor; the diff."""

    route_base = "/rulesets"
    default_view = "index"

    # -- helpers --

    def _session(self) -> Session:
        return self.appbuilder.session

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(f"can_{permission}", "RulesetsView")

    def _version(self, version_id: int) -> RulesetVersion:
        version = self._session().get(RulesetVersion, version_id)
        if version is None:
            abort(404)
        return version

    def _user(self) -> str:
        return g.user.username

    def _redis(self) -> Redis:
        return Redis.from_url(current_app.config["REDIS_URL"])

    def _json_refusal(self, message: str, status: int, **extra: Any) -> Response:
        self._session().rollback()
        response = jsonify(message=message, **extra)
        response.status_code = status
        return response

    def _after_step(self, version: RulesetVersion) -> Response:
        if request.form.get("next") == "editor":
            return redirect(url_for("RulesetsView.editor", version_id=version.id))
        return redirect(url_for("RulesetsView.index", _anchor=f"table-{version.name}"))

    def _refused_page(self, version: RulesetVersion | None, message: str, status: int) -> Response:
        """A refused step, shown in the page it was asked from, with its reason."""
        self._session().rollback()
        if version is not None and request.form.get("next") == "editor":
            version = self._session().get(RulesetVersion, version.id)
            return self._render_editor(version, error=message, status=status)
        return self._render_index(error=message, status=status)

    # -- the rulesets page --

    def _render_index(self, error: str = "", status: int = 200) -> Response:
        rows = (
            self._session()
            .scalars(
                select(RulesetVersion).order_by(
                    RulesetVersion.kind, RulesetVersion.name, RulesetVersion.version.desc()
                )
            )
            .all()
        )
        tables: dict[str, dict[str, list[RulesetVersion]]] = {kind.value: {} for kind in Kind}
        for version in rows:
            tables.setdefault(version.kind, {}).setdefault(version.name, []).append(version)
        known = {(v.name, v.version) for v in rows}
        outside = [
            row
            for row in self._session().scalars(
                select(PublishedRuleset).order_by(PublishedRuleset.kind, PublishedRuleset.name)
            )
            if (row.name, row.version) not in known
        ]
        page = self.render_template(
            "rules_index.html",
            tables=tables,
            outside=outside,
            kinds=[(kind.value, KIND_LABELS[kind]) for kind in Kind],
            status_label=status_label,
            status_styles=STATUS_STYLES,
            kind_label=kind_label,
            may_author=self._may("author"),
            may_approve=self._may("approve"),
            may_publish=self._may("publish"),
            me=self._user(),
            error=error,
        )
        return Response(page, status=status)

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self) -> Response:
        return self._render_index()

    @expose("/new", methods=["POST"])
    @has_access
    @permission_name("author")
    def new(self) -> Response:
        """A new draft: from a version (``source``), from a table published outside the console
        (``published``), or a blank table of a kind with a new name."""
        session = self._session()
        try:
            if request.form.get("source"):
                source = self._version(_form_int("source"))
                draft = versions.draft_from(session, source, self._user())
            elif request.form.get("published"):
                row = session.get(PublishedRuleset, _form_int("published"))
                if row is None:
                    abort(404)
                versions.register_published(session, row, row.published_by)
                source = session.scalar(
                    select(RulesetVersion).where(
                        RulesetVersion.name == row.name, RulesetVersion.version == row.version
                    )
                )
                draft = versions.draft_from(session, source, self._user())
            else:
                kind, name = _blank_kind_and_name(session)
                draft = versions.save_draft(session, blank_document(kind, name), self._user(), [])
            session.commit()
        except Refused as refused:
            return self._refused_page(None, str(refused), refused.status)
        except TableError as error:
            return self._refused_page(None, str(error), 400)
        except LifecycleError as error:
            return self._refused_page(None, str(error), 409)
        flash(gettext("Draft %(version)s created", version=str(draft)), "success")
        return redirect(url_for("RulesetsView.editor", version_id=draft.id))

    @expose("/import", methods=["POST"])
    @has_access
    @permission_name("author")
    def import_table(self) -> Response:
        """A JSON document or an XLSX workbook (table and test cases) as a new draft."""
        session = self._session()
        try:
            suffix, data = _upload()
            tests: list[dict[str, Any]] = []
            if suffix == ".json":
                try:
                    document = json.loads(data.decode("utf-8-sig"))
                except (UnicodeDecodeError, json.JSONDecodeError) as error:
                    raise Refused(gettext("Not a JSON document: %(error)s", error=error)) from None
                if not isinstance(document, dict):
                    raise Refused(gettext("The table must be a JSON object"))
            elif suffix == ".xlsx":
                if not data.startswith(XLSX_MAGIC):
                    raise Refused(gettext("The file is not an XLSX workbook"))
                from rules_service.table_xlsx import table_from_xlsx  # noqa: PLC0415

                table, tests = table_from_xlsx(data)
                document = to_dict(table)
            else:
                raise Refused(gettext("Import a .json or .xlsx file"))
            name, kind = document.get("name"), document.get("kind")
            existing = session.scalar(
                select(RulesetVersion.kind).where(RulesetVersion.name == name).limit(1)
            )
            if existing is not None and existing != kind:
                raise Refused(
                    gettext(
                        "A table named %(name)s exists already, of another kind (%(kind)s)",
                        name=name,
                        kind=kind_label(existing),
                    ),
                    409,
                )
            draft = versions.save_draft(session, document, self._user(), checked_tests(tests))
            session.commit()
        except Refused as refused:
            return self._refused_page(None, str(refused), refused.status)
        except TableError as error:
            return self._refused_page(None, str(error), 400)
        except LifecycleError as error:
            return self._refused_page(None, str(error), 409)
        flash(gettext("Imported as draft %(version)s", version=str(draft)), "success")
        return redirect(url_for("RulesetsView.editor", version_id=draft.id))

    # -- the editor --

    def _render_editor(
        self, version: RulesetVersion, error: str = "", status: int = 200
    ) -> Response:
        kind = Kind(version.kind)
        editable = version.status is VersionStatus.DRAFT and self._may("author")
        others = (
            self._session()
            .execute(
                select(RulesetVersion.id, RulesetVersion.version)
                .where(RulesetVersion.name == version.name, RulesetVersion.id != version.id)
                .order_by(RulesetVersion.version.desc())
            )
            .all()
        )
        config_js = {
            "version": version_json(version),
            "editable": editable,
            "may_author": self._may("author"),
            "simulation": version.simulation,
            "simulation_job_id": version.simulation_job_id,
            "facts": fact_catalogue(),
            "outputs": output_catalogue(kind),
            "hit_policies": [[p.value, str(HIT_POLICY_LABELS[p])] for p in HitPolicy],
            "findings": {key: str(label) for key, label in FINDING_LABELS.items()},
            "urls": {
                "save": url_for("RulesetsView.save", version_id=version.id),
                "validate": url_for("RulesetsView.validate_cell"),
                "run_tests": url_for("RulesetsView.run_tests", version_id=version.id),
                "upload_tests": url_for("RulesetsView.upload_tests", version_id=version.id),
                "simulate": url_for("RulesetsView.simulate", version_id=version.id),
                "simulation": url_for("RulesetsView.simulation", version_id=version.id),
                "workbench": url_for("WorkbenchView.show", case_id=0).removesuffix("0"),
            },
            "labels": {
                "team": gettext("Team"),
                "collector": gettext("Collector"),
                "priority_level": gettext("Priority"),
                "priority_score": gettext("Priority score"),
                "strategy": gettext("Strategy"),
                "next_action": gettext("Next action"),
                "segment": gettext("Segment"),
                "arm": gettext("Champion/challenger arm"),
                "alerts": gettext("Alerts"),
                "rows": gettext("Deciding rows"),
                "any": gettext("Cases with any change"),
            },
            "text": editor_strings(),
        }
        page = self.render_template(
            "rules_editor.html",
            version=version,
            kind_label=kind_label(kind),
            status_label=status_label(version.status),
            status_style=STATUS_STYLES[version.status],
            editable=editable,
            others=others,
            may_author=self._may("author"),
            may_approve=self._may("approve"),
            may_publish=self._may("publish"),
            config_js=config_js,
            finding_label=finding_label,
            error=error,
        )
        return Response(page, status=status)

    @expose("/version/<int:version_id>")
    @has_access
    @permission_name("read")
    def editor(self, version_id: int) -> Response:
        return self._render_editor(self._version(version_id))

    @expose("/version/<int:version_id>/save", methods=["POST"])
    @has_access
    @permission_name("author")
    def save(self, version_id: int) -> Response:
        """Save a draft's whole document (and its test cases): 200 with the saved version and
        its findings, or 400 with every cell error ``{row, index, column, message}``."""
        version = self._version(version_id)
        if version.status is not VersionStatus.DRAFT:
            return self._json_refusal(
                gettext(
                    "%(version)s is %(status)s: only a draft can be changed",
                    version=str(version),
                    status=status_label(version.status),
                ),
                409,
            )
        try:
            body = _json_body()
            document = body.get("document")
            tests = checked_tests(body["tests"]) if "tests" in body else None
        except Refused as refused:
            return self._json_refusal(str(refused), refused.status)
        errors = cell_errors(document)
        if errors:
            return self._json_refusal(gettext("Fix the cells marked in red"), 400, errors=errors)
        document = {**document, "name": version.name, "kind": version.kind}
        try:
            versions.save_draft(self._session(), document, self._user(), tests=tests, draft=version)
            self._session().commit()
        except TableError as error:
            return self._json_refusal(str(error), 400, errors=[table_error(error, document)])
        except LifecycleError as error:
            return self._json_refusal(str(error), 409)
        return jsonify(version=version_json(version))

    @expose("/validate-cell", methods=["POST"])
    @has_access
    @permission_name("author")
    def validate_cell(self) -> Response:
        """One cell test of a column: ``{fact, text}`` → ``{ok, text}`` (canonical) or
        ``{ok: false, message}``."""
        try:
            body = _json_body()
        except Refused as refused:
            return self._json_refusal(str(refused), refused.status)
        fact = FACTS.get(str(body.get("fact")))
        if fact is None:
            return self._json_refusal(
                gettext("Unknown fact %(name)s", name=repr(body.get("fact"))), 400
            )
        text = body.get("text")
        if isinstance(text, str) and len(text) > MAX_CELL_TEXT:
            return jsonify(ok=False, message=gettext("The cell is too long"))
        try:
            cell = parse_cell(text, fact)
        except CellError as error:
            return jsonify(ok=False, message=str(error))
        return jsonify(ok=True, text=cell.text)

    @expose("/version/<int:version_id>/tests/run", methods=["POST"])
    @has_access
    @permission_name("read")
    def run_tests(self, version_id: int) -> Response:
        """Run test cases against a table: the editor's unsaved ones (``{document, tests}``, an
        analyst's draft) or the version's own (an empty body); changes nothing."""
        from rules_service.table_tests import run_tests  # noqa: PLC0415

        version = self._version(version_id)
        body = request.get_json(silent=True) or {}
        document, tests = version.document, version.tests or []
        try:
            if body and version.status is VersionStatus.DRAFT and self._may("author"):
                if "document" in body:
                    errors = cell_errors(body["document"])
                    if errors:
                        raise Refused(gettext("Fix the cells marked in red"))
                    document = {**body["document"], "name": version.name, "kind": version.kind}
                if "tests" in body:
                    tests = checked_tests(body["tests"])
            table = from_json({**document, "version": version.version})
        except Refused as refused:
            return self._json_refusal(str(refused), refused.status)
        except TableError as error:
            return self._json_refusal(str(error), 400, errors=[table_error(error, document)])
        results = run_tests(table, tests)
        return jsonify(
            results=[
                {
                    "name": r.name,
                    "passed": r.passed,
                    "message": r.message,
                    "got": _plain(r.got),
                }
                for r in results
            ],
            passed=sum(1 for r in results if r.passed),
            failed=sum(1 for r in results if not r.passed),
        )

    @expose("/version/<int:version_id>/tests/upload", methods=["POST"])
    @has_access
    @permission_name("author")
    def upload_tests(self, version_id: int) -> Response:
        """Test cases from a CSV or XLSX file, read against the draft's saved table; answers
        them (the page adds them to its list and saves) and every row it could not read."""
        from rules_service.table_tests import tests_from_csv, tests_from_xlsx  # noqa: PLC0415

        version = self._version(version_id)
        if version.status is not VersionStatus.DRAFT:
            return self._json_refusal(gettext("Only a draft's test cases change"), 409)
        try:
            suffix, data = _upload()
            table = versions.table_of(version)
            if suffix == ".csv":
                tests, row_errors = tests_from_csv(table, data)
            elif suffix == ".xlsx":
                if not data.startswith(XLSX_MAGIC):
                    raise Refused(gettext("The file is not an XLSX workbook"))
                tests, row_errors = tests_from_xlsx(table, data)
            else:
                raise Refused(gettext("Upload a .csv or .xlsx file"))
        except Refused as refused:
            return self._json_refusal(str(refused), refused.status)
        except (TableError, ValueError) as error:
            return self._json_refusal(str(error), 400)
        return jsonify(
            tests=_plain(list(tests)),
            errors=[
                {
                    "row": getattr(e, "row", None),
                    "column": getattr(e, "column", None),
                    "reason": str(getattr(e, "reason", e)),
                    "value": getattr(e, "value", ""),
                }
                for e in row_errors
            ],
        )

    # -- simulation --

    @expose("/version/<int:version_id>/simulate", methods=["POST"])
    @has_access
    @permission_name("author")
    def simulate(self, version_id: int) -> Response:
        """Start a simulation of the version over the open portfolio (a background job)."""
        from rules_service.simulation import start_simulation  # noqa: PLC0415

        version = self._version(version_id)
        try:
            queue = Queue(config.WORKER_QUEUES[-1], connection=self._redis())
            job = start_simulation(queue, version.id, self._session())
            self._session().commit()
        except RedisError:
            return self._json_refusal(gettext("The job queue is unavailable; try again later"), 503)
        return jsonify(job_id=job.id, url=url_for("RulesetsView.simulation", version_id=version.id))

    @expose("/version/<int:version_id>/simulation")
    @has_access
    @permission_name("read")
    def simulation(self, version_id: int) -> Response:
        """The version's simulation: the job's state and progress, and the result once kept."""
        version = self._version(version_id)
        self._session().refresh(version)
        state, progress, reason = "none", None, None
        job_id = version.simulation_job_id
        if job_id and JOB_ID.match(job_id):
            try:
                job = Job.fetch(job_id, connection=self._redis())
                state = job.get_status(refresh=True)
                state = getattr(state, "value", state) or "none"
                progress = job.meta.get("progress")
                if state == "failed":
                    reason = job.meta.get("error") or gettext("The simulation failed")
            except NoSuchJobError:
                state = "finished" if version.simulation else "none"
            except RedisError:
                state = "unavailable"
        elif version.simulation:
            state = "finished"
        return jsonify(
            state=state,
            progress=progress,
            reason=reason,
            result=version.simulation if state in ("finished", "none", "unavailable") else None,
        )

    # -- life cycle --

    def _step(self, version_id: int, step: str) -> Response:
        version = self._version(version_id)
        session, me = self._session(), self._user()
        try:
            if step == "submit":
                versions.submit(session, version, me)
                message = gettext("%(version)s submitted for approval", version=str(version))
            elif step == "approve":
                versions.approve(session, version, me)
                message = gettext("%(version)s approved", version=str(version))
            elif step == "reject":
                versions.reject(session, version, me, request.form.get("note", ""))
                message = gettext("%(version)s rejected", version=str(version))
            else:
                rollback = version.status is VersionStatus.RETIRED
                versions.publish(session, version, me)
                message = (
                    gettext("Rolled back: %(version)s runs again", version=str(version))
                    if rollback
                    else gettext("%(version)s published", version=str(version))
                )
            session.commit()
        except LifecycleError as error:
            return self._refused_page(version, str(error), 409)
        except TableError as error:
            return self._refused_page(version, str(error), 400)
        except ValueError as error:  # PublishError: the version number is taken
            return self._refused_page(version, str(error), 409)
        flash(message, "success")
        return self._after_step(version)

    @expose("/version/<int:version_id>/submit", methods=["POST"])
    @has_access
    @permission_name("author")
    def submit(self, version_id: int) -> Response:
        return self._step(version_id, "submit")

    @expose("/version/<int:version_id>/approve", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve(self, version_id: int) -> Response:
        return self._step(version_id, "approve")

    @expose("/version/<int:version_id>/reject", methods=["POST"])
    @has_access
    @permission_name("approve")
    def reject(self, version_id: int) -> Response:
        return self._step(version_id, "reject")

    @expose("/version/<int:version_id>/publish", methods=["POST"])
    @has_access
    @permission_name("publish")
    def publish(self, version_id: int) -> Response:
        """Publish an approved version, or roll back to a retired one (publish it again)."""
        return self._step(version_id, "publish")

    # -- export, diff --

    @expose("/version/<int:version_id>/export.json")
    @has_access
    @permission_name("read")
    def export_json(self, version_id: int) -> Response:
        version = self._version(version_id)
        return Response(
            to_json(versions.table_of(version)),
            mimetype="application/json",
            headers=_attachment(f"{version.name}_v{version.version}.json"),
        )

    @expose("/version/<int:version_id>/export.xlsx")
    @has_access
    @permission_name("read")
    def export_xlsx(self, version_id: int) -> Response:
        from rules_service.table_xlsx import table_to_xlsx  # noqa: PLC0415

        version = self._version(version_id)
        data = table_to_xlsx(versions.table_of(version), list(version.tests or []))
        return Response(
            data,
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=_attachment(f"{version.name}_v{version.version}.xlsx"),
        )

    @expose("/diff")
    @has_access
    @permission_name("read")
    def diff(self) -> Response:
        """Two versions side by side: ``?a=<old id>&b=<new id>``."""
        try:
            old, new = _query_int("a"), _query_int("b")
        except Refused as refused:
            return self._render_index(error=str(refused), status=refused.status)
        old_version, new_version = self._version(old), self._version(new)
        compared = side_by_side(old_version, new_version)
        page = self.render_template(
            "rules_diff.html",
            old=old_version,
            new=new_version,
            compared=compared,
            titles=[_column_title(c, new_version.kind) for c in compared["columns"]],
            status_label=status_label,
            kind_label=kind_label,
        )
        return Response(page)


def _form_int(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        raise Refused(gettext("%(field)s: a number", field=name)) from None


def _query_int(name: str) -> int:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        raise Refused(gettext("Choose two versions to compare")) from None


def _blank_kind_and_name(session: Session) -> tuple[Kind, str]:
    try:
        kind = Kind(request.form.get("kind", ""))
    except ValueError:
        raise Refused(gettext("Choose the kind of table")) from None
    name = request.form.get("name", "").strip()
    if not TABLE_NAME_PATTERN.match(name) or len(name) > 64:
        raise Refused(
            gettext(
                "A table name is lowercase letters and digits joined by _, such as %(example)s",
                example="assignment_north",
            )
        )
    taken = session.scalar(
        select(RulesetVersion.id).where(RulesetVersion.name == name).limit(1)
    ) or session.scalar(select(PublishedRuleset.id).where(PublishedRuleset.name == name).limit(1))
    if taken is not None:
        raise Refused(
            gettext(
                "A table named %(name)s exists already: start a new draft from one of its versions",
                name=name,
            ),
            409,
        )
    return kind, name


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename={filename}"}


def _plain(value: Any) -> Any:
    """A value as JSON (dates as text)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def editor_strings() -> dict[str, str]:
    """The editor's words, for its script, in the user's language."""
    return {
        "row_id": pgettext("decision table", "Row"),
        "annotation": gettext("Note"),
        "actions": gettext("Actions"),
        "move_up": gettext("Move up"),
        "move_down": gettext("Move down"),
        "remove_row": gettext("Remove row"),
        "remove_column": gettext("Remove column"),
        "duplicate_row": gettext("Copy row"),
        "inputs": gettext("Conditions"),
        "outputs": gettext("Results"),
        "none": gettext("(none)"),
        "saving": gettext("Saving…"),
        "saved": gettext("Saved"),
        "unsaved": gettext("Unsaved changes"),
        "save_failed": gettext("Not saved"),
        "cell_errors": gettext("%(count)s cells need fixing", count="{count}"),
        "no_findings": gettext("Analysis found nothing to report"),
        "example": gettext("Example input"),
        "rows": gettext("Rows"),
        "test_name": gettext("Test name"),
        "expect_no_match": gettext("No row matches"),
        "expect": gettext("Expected"),
        "result": gettext("Result"),
        "passed": gettext("passed"),
        "failed": gettext("failed"),
        "got": gettext("Got"),
        "tests_summary": gettext(
            "%(passed)s passed, %(failed)s failed", passed="{passed}", failed="{failed}"
        ),
        "no_tests": gettext("No test cases yet"),
        "uploaded": gettext("%(count)s test cases added from the file", count="{count}"),
        "upload_row": gettext("Row %(row)s", row="{row}"),
        "queued": gettext("Waiting for a worker…"),
        "running": gettext("Running"),
        "finished": gettext("Finished"),
        "failed_job": gettext("The simulation failed"),
        "unavailable": gettext("The job queue is unavailable"),
        "changed": gettext("Changed"),
        "team": gettext("Team"),
        "collector": gettext("Collector"),
        "workload": gettext("Workload"),
        "before": gettext("With the running version"),
        "after": gettext("With this version"),
        "capacity": gettext("Capacity"),
        "sample": gettext("Sample of changed cases"),
        "case_no": gettext("Case no."),
        "field": gettext("Field"),
        "evaluated": gettext("Cases simulated"),
        "network": gettext("The console did not answer; try again"),
        "test_facts_hint": gettext("blank: fact unknown"),
        "expect_hint": gettext("blank: not checked"),
        "stale": gettext("The table has changed since this simulation: run it again."),
        "running_version": gettext("Compared with"),
        "as_of": gettext("as of"),
        "transitions": gettext("Most frequent changes"),
        "now": gettext("Now"),
        "expect_rows": gettext("Expected rows"),
        "expect_rows_hint": gettext("row ids separated by commas; blank: not checked"),
        "collect_expect": gettext("one object per matching row (JSON)"),
    }
