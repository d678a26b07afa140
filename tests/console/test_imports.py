"""The data-import page: upload, background job, progress, rejected rows; who may use it."""

import io
import re
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select, update

from casedb.importing.jobs import enqueue_import
from casedb.models import AuditEntry, Customer, ImportBatch
from casedb.session import transaction
from console.app import create_app
from console.demo_logins import DEMO_LOGINS, ensure_demo_logins
from console.imports import import_queue_name, safe_upload_name

PASSWORDS = {username: password for username, password, _ in DEMO_LOGINS}
CUSTOMERS_CSV = (
    "customer_no,name,id_number,timezone\r\n"
    "C1,张三,110101199003071234,Asia/Shanghai\r\n"
    "C2,李四,,Asia/Mars\r\n"
    "C3,王五,,Asia/Shanghai\r\n"
    "C4,,,\r\n"
    "C5,赵六,,Asia/Urumqi\r\n"
).encode()
MAX_UPLOAD_BYTES = 4096


@pytest.fixture
def app(cli_database, redis_connection, redis_url):
    app = create_app(
        {
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
            "REDIS_URL": redis_url,
            "IMPORT_MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES,
        }
    )
    ensure_demo_logins()
    return app


@pytest.fixture
def queue(redis_connection):
    return Queue(import_queue_name(), connection=redis_connection)


def _client(app, username):
    client = app.test_client()
    response = client.post("/login/", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 302
    return client


def _upload(client, content=CUSTOMERS_CSV, name="客户 2025-03.csv", kind="customers", **form):
    data = {"kind": kind, "encoding": "", **form}
    if content is not None:
        data["file"] = (io.BytesIO(content), name)
    return client.post("/imports/upload", data=data, content_type="multipart/form-data")


def _work(queue):
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def _uploads(app):
    folder = Path(app.config["UPLOAD_FOLDER"]) / "imports"
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_the_page_lists_every_kind_with_its_columns_and_an_upload_form(app):
    page = _client(app, "admin").get("/imports/").get_data(as_text=True)
    assert "数据导入" in page and "Data import" not in page
    assert 'id="kind-payments"' in page
    assert "<code>txn_no</code>" in page
    assert "交易流水号 / 流水号" in page
    assert 'name="csrf_token"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "尚无导入" in page


def test_an_upload_runs_as_a_job_whose_page_shows_counts_and_the_rejected_rows(app, queue, session):
    client = _client(app, "supervisor1")
    response = _upload(client)
    assert response.status_code == 302
    job_url = response.headers["Location"]
    assert re.fullmatch(r"/imports/job/[0-9a-f]{32}", job_url)
    job_id = job_url.rsplit("/", 1)[1]
    assert _uploads(app) == [job_id, "客户_2025-03.csv"]

    waiting = client.get(job_url).get_data(as_text=True)
    assert "排队中" in waiting
    assert f"{job_url}/progress" in waiting, "a running job's page polls its progress"
    assert client.get(f"{job_url}/progress").get_json()["state"] == "queued"
    assert "客户_2025-03.csv" in client.get("/imports/").get_data(as_text=True)

    _work(queue)

    progress = client.get(f"{job_url}/progress").get_json()
    assert progress["state"] == "completed"
    assert progress["progress"]["rejected"] == 2
    assert progress["errors_url"] == f"{job_url}/errors"
    assert "error_file" not in progress["summary"]
    page = client.get(job_url).get_data(as_text=True)
    assert "已完成" in page
    assert 'id="count-rows_read">5<' in page
    assert 'id="count-inserted">3<' in page
    assert 'id="count-rejected">2<' in page
    assert f'href="{job_url}/errors"' in page
    assert "/progress" not in page, "a finished job's page stops polling"

    errors = client.get(f"{job_url}/errors")
    assert errors.status_code == 200
    assert errors.mimetype == "text/csv"
    assert "attachment" in errors.headers["Content-Disposition"]
    lines = errors.get_data().decode("utf-8-sig").splitlines()
    assert lines[0] == "row,column,value,reason"
    assert lines[1].startswith("3,timezone,Asia/Mars,")
    assert lines[2].startswith("5,name,,")

    session.rollback()
    assert session.scalars(select(Customer.customer_no).order_by(Customer.id)).all() == [
        "C1",
        "C3",
        "C5",
    ]
    batch = session.scalar(select(ImportBatch))
    assert (batch.actor, batch.filename, batch.rejected) == ("supervisor1", "客户_2025-03.csv", 2)
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
    assert audit.actor == "supervisor1"
    listing = client.get("/imports/").get_data(as_text=True)
    assert f'<a href="{job_url}">{batch.id}</a>' in listing
    assert _uploads(app) == [], "the upload is gone once imported"


def test_a_clean_file_offers_no_error_download(app, queue):
    client = _client(app, "admin")
    job_url = _upload(client, content=b"customer_no,name\r\nC1,Zhang\r\n").headers["Location"]
    _work(queue)
    page = client.get(job_url).get_data(as_text=True)
    assert 'id="count-inserted">1<' in page
    assert 'id="errors-link"' not in page
    assert client.get(f"{job_url}/errors").status_code == 404


def test_a_failed_job_shows_its_reason(app, queue, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a\r\n1\r\n")
    job = enqueue_import(queue, kind="gossip", path=path, actor="admin", job_id="f" * 32)
    _work(queue)
    page = _client(app, "admin").get(f"/imports/job/{job.id}").get_data(as_text=True)
    assert "失败" in page
    assert "ValueError: unknown import kind &#39;gossip&#39;" in page


def test_an_error_file_outside_the_error_folder_is_never_served(app, queue, engine):
    client = _client(app, "admin")
    job_url = _upload(client).headers["Location"]
    _work(queue)
    assert client.get(f"{job_url}/errors").status_code == 200
    with transaction(engine) as session:
        batch = session.scalar(select(ImportBatch))
        outside = Path(batch.error_file).parent / ".." / ".." / "secret.csv"
        outside.write_text("row,column,value,reason\n1,id_number,110101199003071234,x\n")
        session.execute(update(ImportBatch).values(error_file=str(outside)))
    assert client.get(f"{job_url}/errors").status_code == 404


BAD_UPLOADS = [
    ({}, None, "", "Choose a file to import"),
    ({"kind": "gossip"}, CUSTOMERS_CSV, "c.csv", "Unknown import kind: &#39;gossip&#39;"),
    ({"kind": ""}, CUSTOMERS_CSV, "c.csv", "Unknown import kind"),
    ({"encoding": "ebcdic"}, CUSTOMERS_CSV, "c.csv", "Unsupported encoding"),
    ({}, CUSTOMERS_CSV, "c.txt", "Only .csv and .xlsx files are accepted, not &#39;.txt&#39;"),
    ({}, CUSTOMERS_CSV, "customers", "and the file has no extension"),
    ({}, b"", "c.csv", "The file is empty"),
    ({}, CUSTOMERS_CSV, "c.xlsx", "The file is not an XLSX workbook"),
    ({}, b"x" * (MAX_UPLOAD_BYTES + 1), "c.csv", "The file is larger than"),
    ({}, b"x" * (MAX_UPLOAD_BYTES + 200_000), "c.csv", "The file is larger than"),
]


def test_bad_uploads_are_refused_with_the_reason_and_queue_nothing(app, queue):
    client = _client(app, "admin")
    refused = _upload(client, content=None, name="")
    assert refused.status_code == 400
    assert "请选择要导入的文件" in refused.get_data(as_text=True)
    client.get("/lang/en")
    problems = []
    for form, content, name, reason in BAD_UPLOADS:
        response = _upload(client, content=content, name=name, **form)
        if response.status_code != 400 or reason not in response.get_data(as_text=True):
            problems.append(f"{name!r} {form}: {response.status_code}, expected 400 {reason!r}")
    assert problems == []
    assert queue.count == 0
    assert _uploads(app) == []


def test_unknown_jobs_are_not_found(app, queue):
    client = _client(app, "admin")
    report_job = queue.enqueue("casedb.delinquency.bucket_for", 45)
    for job_id in ("0" * 32, "no-such-job", report_job.id, "x" * 65):
        for suffix in ("", "/progress", "/errors"):
            assert client.get(f"/imports/job/{job_id}{suffix}").status_code == 404


def test_only_admins_and_supervisors_may_import(app, queue):
    job_url = _upload(_client(app, "admin")).headers["Location"]
    _work(queue)
    for username in ("collector1", "analyst", "auditor"):
        client = _client(app, username)
        for url in ("/imports/", job_url, f"{job_url}/progress", f"{job_url}/errors"):
            assert client.get(url).status_code == 403, f"{username} GET {url}"
        assert _upload(client).status_code == 403, f"{username} uploads"
    assert queue.count == 0
    assert len(_uploads(app)) == 0


def test_signed_out_visitors_are_sent_to_log_in(app):
    client = app.test_client()
    response = client.get("/imports/")
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]
    assert _upload(client).status_code == 302
    assert _uploads(app) == []


def test_an_upload_without_a_csrf_token_is_refused(cli_database, redis_connection, redis_url):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url})
    ensure_demo_logins()
    client = app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post(
        "/login/",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token},
    )
    forged = _upload(client)
    assert forged.status_code == 400
    assert "CSRF" in forged.get_data(as_text=True)
    page = client.get("/imports/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert _upload(client, csrf_token=token).status_code == 302


@pytest.mark.parametrize(
    ("original", "suffix", "safe"),
    [
        ("客户 2025-03.csv", ".csv", "客户_2025-03.csv"),
        ("../../etc/passwd.csv", ".csv", "passwd.csv"),
        ("C:\\Users\\李\\还款.XLSX", ".xlsx", "还款.xlsx"),
        ("...csv", ".csv", "upload.csv"),
        ("<script>.csv", ".csv", "script.csv"),
    ],
)
def test_upload_names_keep_nothing_a_path_could_use(original, suffix, safe):
    assert safe_upload_name(original, suffix) == safe
