"""Importing files: every bad cell reported, good rows kept, re-imports change nothing."""

import csv
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import RunImport
from casedb.models import (
    ChangeEvent,
    CollectionCase,
    CreditSnapshot,
    CreditSource,
    Customer,
    EventKind,
    ImportBatch,
    ImportStatus,
    Loan,
    RepaymentTransaction,
)


def _count(session, model):
    session.rollback()  # a fresh snapshot: SQLite keeps the old one for the whole transaction
    return session.scalar(select(func.count()).select_from(model))


def test_good_rows_are_kept_and_each_bad_cell_is_reported(run_import, session):
    report = run_import(
        "customers",
        [
            ["customer_no", "name", "id_number", "timezone", "birth_date"],
            ["C1", "张三", "110101199003071234", "Asia/Shanghai", "1990-03-07"],
            ["C2", "李四", "", "Asia/Mars", "1985-13-01"],
            ["C3", "", "", "", ""],
            ["C4", "赵六", "", "Asia/Urumqi", "1970/01/02"],
        ],
    )
    assert report.ok
    assert (report.rows_read, report.inserted, report.rejected) == (4, 2, 2)
    assert [(e.row, e.column, e.value) for e in report.errors] == [
        (3, "timezone", "Asia/Mars"),
        (3, "birth_date", "1985-13-01"),
        (4, "name", ""),
    ]
    assert "IANA" in report.errors[0].reason
    with report.error_file.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "column", "value", "reason"]
    assert rows[1][:3] == ["3", "timezone", "Asia/Mars"]
    assert len(rows) == 4
    names = session.scalars(select(Customer.name).order_by(Customer.customer_no)).all()
    assert names == ["张三", "赵六"]


def test_reimporting_the_same_file_changes_nothing(run_import, portfolio, session):
    rows = [
        ["txn_no", "loan_no", "amount", "paid_at", "channel"],
        ["P1", "L1", "100.00", "2025-02-01 10:00", "alipay"],
        ["P2", "L1", "200.5", "2025-02-02T10:00:00+08:00", "wechat_pay"],
    ]
    first = run_import("payments", rows)
    events_after_first = _count(session, ChangeEvent)
    second = run_import("payments", rows)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert _count(session, RepaymentTransaction) == 2
    assert _count(session, ChangeEvent) == events_after_first


def test_an_updated_row_updates_by_external_id(run_import, portfolio, session):
    report = run_import(
        "cases",
        [
            ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
            ["K1", "L1", "2025-01-01", "75", "1500.00"],
        ],
    )
    assert (report.inserted, report.updated) == (0, 1)
    case = session.scalar(select(CollectionCase))
    assert (case.dpd, case.bucket, case.overdue_principal) == (75, "M3", Decimal("1500.00"))
    assert case.overdue_at_entry == Decimal("1200.50"), "the amount at entry is never overwritten"
    event = session.scalars(select(ChangeEvent).order_by(ChangeEvent.id.desc())).first()
    assert event.kind is EventKind.DPD_CHANGED
    assert event.payload == {"old_dpd": 45, "dpd": 75, "bucket": "M3"}


def test_unknown_references_are_rejected_with_the_key(run_import, portfolio, session):
    report = run_import(
        "payments",
        [["txn_no", "loan_no", "amount", "paid_at"], ["P9", "NO-SUCH-LOAN", "1", "2025-01-01"]],
    )
    assert report.rejected == 1
    assert report.errors[0].column == "loan_no"
    assert report.errors[0].reason == "unknown loan_no NO-SUCH-LOAN"


def test_a_file_missing_a_required_column_imports_nothing(run_import, session):
    report = run_import("customers", [["customer_no"], ["C1"]])
    assert report.status is ImportStatus.FAILED
    assert "name: required column is missing" in report.message
    assert _count(session, Customer) == 0
    batch = session.scalar(select(ImportBatch))
    assert batch.status is ImportStatus.FAILED


def test_chinese_headers_and_gbk_files_are_read(run_import, session):
    report = run_import(
        "customers",
        [["客户号", "姓名", "省份"], ["C1", "欧阳娜娜", "广东"]],
        encoding="gbk",
    )
    assert report.ok and report.inserted == 1
    assert session.scalar(select(Customer.name)) == "欧阳娜娜"


def test_xlsx_files_are_read_like_csv(engine, tmp_path, session):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["customer_no", "name", "birth_date", "age"])
    sheet.append(["C1", "王五", "1990-03-07", 35])
    sheet.append(["C2", "钱七", None, "abc"])
    path = tmp_path / "customers.xlsx"
    workbook.save(path)
    report = RunImport(engine, IMPORT_KINDS["customers"], path).run()
    assert (report.inserted, report.rejected) == (1, 1)
    assert report.errors[0].row == 3 and report.errors[0].column == "age"


def test_a_later_row_with_the_same_key_wins(run_import, session):
    report = run_import(
        "customers",
        [["customer_no", "name"], ["C1", "旧名"], ["C1", "新名"]],
    )
    assert (report.inserted, report.superseded) == (1, 1)
    assert session.scalar(select(Customer.name)) == "新名"


def test_a_failure_part_way_leaves_the_database_as_it_was(run_import, portfolio, session):
    """Two cases for one loan pass validation but break a database rule in the second batch."""
    before = (_count(session, CollectionCase), _count(session, ChangeEvent))
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        run_import(
            "cases",
            [
                ["case_no", "loan_no", "opened_on", "dpd", "overdue_principal"],
                ["K2", "L2", "2025-01-01", "10", "100"],
                ["K3", "L2", "2025-01-01", "10", "100"],
            ],
            batch_size=1,
        )
    assert (_count(session, CollectionCase), _count(session, ChangeEvent)) == before
    batch = session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert batch.status is ImportStatus.FAILED
    assert batch.message.startswith("nothing imported")


def test_payments_tell_the_rules_service_once_per_case(run_import, portfolio, session):
    rows = [["txn_no", "loan_no", "amount", "paid_at"]]
    rows += [[f"P{i}", "L1", "10.00", f"2025-02-{i:02d}T12:00:00+08:00"] for i in range(1, 8)]
    rows += [["Q1", "L2", "99.00", "2025-02-01T12:00:00+08:00"]]
    report = run_import("payments", rows, batch_size=3)
    events = session.scalars(
        select(ChangeEvent).where(ChangeEvent.kind == EventKind.PAYMENT_POSTED)
    ).all()
    assert report.events == 1 and len(events) == 1, "L2 has no case; L1's batches are merged"
    payload = events[0].payload
    assert payload["count"] == 7 and payload["amount"] == "70.00"
    assert payload["last_paid_at"] == "2025-02-07T04:00:00+00:00"
    loan = session.scalar(select(Loan).where(Loan.loan_no == "L1"))
    assert events[0].loan_id == loan.id and events[0].actor == f"import:{report.batch_id}"


def test_a_column_the_file_leaves_out_takes_its_default_on_new_rows_only(
    run_import, portfolio, session
):
    header = ["snapshot_no", "customer_no", "provider", "reported_on", "score"]
    report = run_import("bureau_reports", [header, ["B1", "C1", "百行征信", "2025-01-31", "612"]])
    assert report.inserted == 1
    snapshot = session.scalar(select(CreditSnapshot))
    assert snapshot.source_kind is CreditSource.BUREAU_REPORT
    run_import(
        "ratings",
        [[*header, "source_kind"], ["B1", "C1", "百行征信", "2025-01-31", "640", "bureau_report"]],
    )
    run_import("ratings", [header, ["B1", "C1", "百行征信", "2025-01-31", "650"]])
    session.rollback()
    snapshot = session.scalar(select(CreditSnapshot))
    assert (snapshot.score, snapshot.source_kind) == (650, CreditSource.BUREAU_REPORT)
