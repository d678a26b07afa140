"""The data-import page: upload a file of one import kind, follow its background job, and fetch
the rows it rejected. Only roles with ``can_import`` on ``ImportView`` get any of it, because
the uploads and error files hold raw customer data."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, lazy_gettext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

import config
from casedb.importing.jobs import (
    JOB_FUNCTION,
    JobState,
    batch_job_key,
    enqueue_import,
    fetch_import_job,
    job_state,
)
from casedb.importing.kinds import IMPORT_KINDS
from casedb.models import ImportBatch
from console.labels import import_state_label

# What an XLSX workbook (a zip archive) starts with.
XLSX_MAGIC = b"PK\x03\x04"
SUFFIXES = (".csv", ".xlsx")
ENCODINGS = {"": lazy_gettext("Detect"), "utf-8": "UTF-8", "gb18030": "GBK / GB18030"}
# A million-payment CSV is about 100 MB.
DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
RECENT_BATCHES = 20
# RQ job ids (the console gives uuid4 hex); anything else is not looked up in Redis at all.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UploadRefused(ValueError):  # noqa: N818  (reads as the domain says it)
    """An upload the console will not queue; the message says why, in the user's language."""


def import_queue_name() -> str:
    """The lowest-priority queue the workers take (config.WORKER_QUEUES), so reports go first."""
    return config.WORKER_QUEUES[-1]


def safe_upload_name(original: str, suffix: str) -> str:
    """The uploader's file name kept readable (Chinese too) with nothing a path could use."""
    stem = Path(original.replace("\\", "/").rsplit("/", 1)[-1]).stem
    stem = re.sub(r"[^\w\-]+", "_", stem).strip("_")[:100]
    return f"{stem or 'upload'}{suffix}"


def _kinds() -> list[dict[str, Any]]:
    return [
        {
            "name": kind.name,
            "description": kind.description,
            "key": ", ".join(kind.key),
            "columns": [
                {"name": c.name, "required": c.required, "aliases": " / ".join(c.aliases)}
                for c in kind.columns
            ],
        }
        for kind in IMPORT_KINDS.values()
    ]


class ImportView(BaseView):
    """Data import: files of the import kinds, run by the worker, with their errors."""

    route_base = "/imports"
    default_view = "imports"

    def _redis(self) -> Redis:
        return Redis.from_url(current_app.config["REDIS_URL"])

    def _job(self, job_id: str) -> Job:
        if not JOB_ID.match(job_id):
            abort(404)
        try:
            job = fetch_import_job(self._redis(), job_id)
        except RedisError:
            abort(503, gettext("The job queue is unavailable"))
        if job is None:
            abort(404)
        return job

    def _render_index(self, error: str = "", status: int = 200) -> Response:
        session = self.appbuilder.session
        batches = session.scalars(
            select(ImportBatch).order_by(ImportBatch.id.desc()).limit(RECENT_BATCHES)
        ).all()
        job_ids: dict[int, str] = {}
        waiting: list[JobState] = []
        queue_error = ""
        try:
            redis = self._redis()
            if batches:
                found = redis.mget([batch_job_key(b.id) for b in batches])
                job_ids = {b.id: v.decode() for b, v in zip(batches, found, strict=True) if v}
            queue = Queue(import_queue_name(), connection=redis)
            queued = Job.fetch_many(queue.get_job_ids(0, 500), connection=redis)
            waiting = [job_state(j) for j in queued if j and j.func_name == JOB_FUNCTION]
        except RedisError:
            queue_error = gettext("The job queue is unavailable")
        page = self.render_template(
            "imports.html",
            kinds=_kinds(),
            encodings=ENCODINGS,
            batches=batches,
            job_ids=job_ids,
            waiting=waiting,
            error=error or queue_error,
            max_megabytes=self._max_bytes() // (1024 * 1024),
        )
        return Response(page, status=status)

    def _max_bytes(self) -> int:
        return int(current_app.config.get("IMPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))

    @expose("/")
    @has_access
    @permission_name("import")
    def imports(self) -> Response:
        return self._render_index()

    @expose("/upload", methods=["POST"])
    @has_access
    @permission_name("import")
    def upload(self) -> Response:
        job_id = uuid.uuid4().hex
        folder = Path(current_app.config["UPLOAD_FOLDER"]) / "imports" / job_id
        try:
            kind, encoding, upload, suffix = self._checked_form()
            path = folder / safe_upload_name(upload.filename or "", suffix)
            _save(upload, path, suffix, self._max_bytes())
            options = {"encoding": encoding} if encoding else {}
            queue = Queue(import_queue_name(), connection=self._redis())
            enqueue_import(
                queue,
                kind=kind,
                path=path,
                actor=g.user.username,
                options=options,
                job_id=job_id,
            )
        except UploadRefused as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return self._render_index(error=str(exc), status=400)
        except RedisError:
            shutil.rmtree(folder, ignore_errors=True)
            return self._render_index(
                error=gettext("The job queue is unavailable; try again later"),
                status=503,
            )
        return redirect(url_for("ImportView.job", job_id=job_id))

    def _checked_form(self) -> tuple[str, str, FileStorage, str]:
        limit = self._max_bytes()
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            raise UploadRefused(_too_large(limit))
        kind = request.form.get("kind", "")
        if kind not in IMPORT_KINDS:
            raise UploadRefused(gettext("Unknown import kind: %(kind)s", kind=repr(kind)))
        encoding = request.form.get("encoding", "")
        if encoding not in ENCODINGS:
            raise UploadRefused(
                gettext("Unsupported encoding: %(encoding)s", encoding=repr(encoding))
            )
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise UploadRefused(gettext("Choose a file to import"))
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise UploadRefused(
                gettext(
                    "Only .csv and .xlsx files are accepted, not %(suffix)s", suffix=repr(suffix)
                )
                if suffix
                else gettext(
                    "Only .csv and .xlsx files are accepted, and the file has no extension"
                )
            )
        return kind, encoding, upload, suffix

    @expose("/job/<job_id>")
    @has_access
    @permission_name("import")
    def job(self, job_id: str) -> str:
        state = job_state(self._job(job_id))
        counts = state["summary"] or state["progress"] or {}
        return self.render_template(
            "import_job.html",
            job=state,
            counts=counts,
            state_label=import_state_label(state["state"]),
            errors_url=self._errors_url(state),
            running=state["state"] in ("queued", "running"),
        )

    @expose("/job/<job_id>/progress")
    @has_access
    @permission_name("import")
    def progress(self, job_id: str) -> Response:
        state = job_state(self._job(job_id))
        summary = state["summary"]
        if summary is not None:  # the server's own path to the error file is not the browser's
            summary = {k: v for k, v in summary.items() if k != "error_file"}
        return jsonify({**state, "summary": summary, "errors_url": self._errors_url(state)})

    @expose("/job/<job_id>/errors")
    @has_access
    @permission_name("import")
    def errors(self, job_id: str) -> Response:
        state = job_state(self._job(job_id))
        path = self._error_file(state)
        if path is None:
            abort(404)
        return send_file(
            path,
            mimetype="text/csv",
            as_attachment=True,
            download_name=f"import_{state['batch_id']}_{state['kind']}_errors.csv",
        )

    def _errors_url(self, state: JobState) -> str | None:
        if state["state"] in ("queued", "running") or self._error_file(state) is None:
            return None
        return url_for("ImportView.errors", job_id=state["id"])

    def _error_file(self, state: JobState) -> Path | None:
        """The batch's error file, only if it is a file inside the import error folder."""
        if state["batch_id"] is None:
            return None
        batch = self.appbuilder.session.get(ImportBatch, state["batch_id"])
        if batch is None or not batch.error_file:
            return None
        root = Path(config.IMPORT_ERROR_DIR).resolve()
        path = Path(batch.error_file).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path


def _too_large(limit: int) -> str:
    return gettext("The file is larger than %(megabytes)s MB", megabytes=limit // (1024 * 1024))


def _save(upload: FileStorage, path: Path, suffix: str, limit: int) -> None:
    """Stream the upload to ``path``, refusing it once it passes ``limit`` bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("wb") as out:
        first = upload.stream.read(1 << 20)
        if not first:
            raise UploadRefused(gettext("The file is empty"))
        if suffix == ".xlsx" and not first.startswith(XLSX_MAGIC):
            raise UploadRefused(gettext("The file is not an XLSX workbook"))
        chunk = first
        while chunk:
            size += len(chunk)
            if size > limit:
                raise UploadRefused(_too_large(limit))
            out.write(chunk)
            chunk = upload.stream.read(1 << 20)
