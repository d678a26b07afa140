"""An auditor reads everything and changes nothing; what collectors do shows in the audit trail."""

import pytest
from sqlalchemy import exists, select

from casedb.models import Collector, ContactAttempt
from casedb.session import make_engine
from tests.e2e.browser import (
    expect,
    fill_contact_form,
    log_in,
    save_contact_form,
)


def test_an_auditor_sees_every_case_but_cannot_change_any(console, page, screenshot):
    k1 = console.case_ids["K1"]

    # The auditor signs in and lists the cases: all of them, ID numbers masked, none editable.
    log_in(page, "auditor")
    page.goto("/cases/list/")
    listing = page.locator("table", has=page.locator("th", has_text="案件号"))
    for case_no in ("K1", "K2", "K3"):
        expect(listing).to_contain_text(case_no)
    expect(listing).to_contain_text("110101********1234")
    expect(page.locator("body")).not_to_contain_text("110101199003071234")
    expect(page.locator("a[href*='/cases/edit/'], a[href*='/cases/delete/']")).to_have_count(0)
    screenshot(page, "all-cases")

    # The case's workbench opens for reading.
    page.goto(f"/workbench/{k1}")
    expect(page.locator("h2")).to_contain_text("K1")
    expect(page.locator("#timeline td[data-kind='case_opened']")).to_have_count(1)
    screenshot(page, "workbench-read-only")

    # It offers the auditor nothing to change: no contact form, no dialling.
    expect(page.locator("#contact-form")).to_have_count(0)
    expect(page.locator(".dial-form")).to_have_count(0)

    # A contact posted anyway is refused inside the console, and nothing is recorded.
    refused = page.request.post(
        f"/workbench/{k1}/contact",
        form={"channel": "call", "outcome": "no_answer", "notes": "auditor tried to log this"},
    )
    assert refused.status in {400, 403}, f"an auditor's contact answered {refused.status}"
    page.goto(f"/workbench/{k1}")
    expect(page.locator("#timeline")).not_to_contain_text("auditor tried to log this")

    # Editing the case through the case views is refused too.
    response = page.goto(f"/cases/edit/{k1}")
    assert response is not None
    assert response.status == 403, f"/cases/edit answered the auditor {response.status}"
    screenshot(page, "edit-refused")


@pytest.fixture
def collector1_logged_a_contact(console, new_page):
    """collector1 has logged a contact: in the collector scenario, or else here, on case K2 (K1,
    the top of the queue, is left as the collector scenario expects it)."""
    engine = make_engine(console.database_url)
    mine = select(Collector.id).where(Collector.username == "collector1")
    with engine.connect() as connection:
        logged = connection.scalar(select(exists().where(ContactAttempt.collector_id.in_(mine))))
    engine.dispose()
    if not logged:
        page = new_page()
        log_in(page, "collector1")
        page.goto(f"/workbench/{console.case_ids['K2']}")
        fill_contact_form(
            page, channel="call", party="debtor", outcome="rpc", started_at="2025-03-01T11:00"
        )
        assert save_contact_form(page).status == 302


def test_an_auditor_finds_a_collectors_contact_in_the_audit_trail(
    console, new_page, screenshot, collector1_logged_a_contact
):
    page = new_page()
    log_in(page, "auditor")
    # The trail, narrowed to what collector1 did to contact attempts.
    response = page.goto("/audit/list/?_flt_0_actor=collector1&_flt_0_table_name=contact_attempt")
    assert response is not None
    assert response.status == 200, f"/audit/list/ answered {response.status}"
    screenshot(page, "audit-trail")
    entry = page.locator("table tr", has_text="contact_attempt").filter(has_text="collector1")
    expect(entry.first).to_be_visible()
    expect(entry.first).to_contain_text("insert")
