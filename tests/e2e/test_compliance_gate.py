"""A collector dials at a moment the compliance gate blocks: no number, the reason and the law."""

import re

from sqlalchemy import select, update

from casedb.importing.kinds import IMPORT_KINDS
from casedb.importing.runner import RunImport
from casedb.models import ComplianceCheck, ContactPoint, Customer
from casedb.session import make_engine
from tests.conftest import write_csv
from tests.console.conftest import zone_where_it_is
from tests.e2e.browser import expect, log_in

NUMBER = "13700007777"


def test_a_collector_dialling_in_the_quiet_hours_is_blocked_with_the_reason(
    console, page, screenshot, tmp_path
):
    k3 = console.case_ids["K3"]
    engine = make_engine(console.database_url)
    # K3's debtor (C3, collector2's case) gets a mobile number and lives, for this test, where
    # it is 23:xx now: inside the CN policy's quiet hours (22:00–08:00 local time).
    path = write_csv(
        tmp_path / "contact_points.csv",
        [
            ["contact_point_no", "customer_no", "kind", "value", "consent"],
            ["P3", "C3", "mobile", NUMBER, "granted"],
        ],
    )
    report = RunImport(
        engine, IMPORT_KINDS["contact_points"], path, actor="e2e", error_dir=tmp_path
    ).run()
    assert report.ok, report.summary()
    with engine.begin() as connection:
        point_id = connection.scalar(
            select(ContactPoint.id).where(ContactPoint.contact_point_no == "P3")
        )
        connection.execute(
            update(Customer)
            .where(Customer.customer_no == "C3")
            .values(timezone=zone_where_it_is(23))
        )
    try:
        log_in(page, "collector2")
        page.goto(f"/workbench/{k3}")
        row = page.locator(f"#contact-points tr[data-contact-point='{point_id}']")
        expect(row).to_contain_text("137****7777")
        row.locator(".dial-form button").click()
        page.wait_for_load_state()

        # Blocked: the reason in Chinese (the default language), its legal sources, and from
        # when the call would be allowed (08:00 the debtor's time); the number stays masked.
        gate = page.locator("#gate-answer")
        expect(gate).to_have_attribute("data-verdict", "blocked")
        reason = gate.locator(".gate-reason[data-rule='quiet_hours']")
        expect(reason).to_have_attribute("data-verdict", "blocked")
        expect(reason.locator(".gate-message")).to_contain_text("禁止催收时段")
        expect(reason.locator("[data-source='cn.gbt2025.time']")).to_have_count(1)
        expect(page.locator("#gate-earliest")).to_contain_text("08:00")
        expect(page.locator("a.dialled")).to_have_count(0)
        expect(page.locator("body")).not_to_contain_text(NUMBER)
        page.screenshot(path=tmp_path / "dial-blocked.png", full_page=True)
        screenshot(page, "dial-blocked")
        assert (tmp_path / "dial-blocked.png").stat().st_size > 0

        # The compliance log keeps the refusal, under the collector's name.
        with engine.connect() as connection:
            logged = connection.execute(
                select(ComplianceCheck.origin, ComplianceCheck.verdict, ComplianceCheck.actor)
                .where(ComplianceCheck.blocking_rule == "quiet_hours")
                .order_by(ComplianceCheck.id.desc())
            ).first()
        assert tuple(logged) == ("click", "blocked", "collector2")
        assert re.search(r"/workbench/\d+/dial/\d+$", page.url)
    finally:
        with engine.begin() as connection:
            connection.execute(
                update(Customer)
                .where(Customer.customer_no == "C3")
                .values(timezone="Asia/Shanghai")
            )
        engine.dispose()
