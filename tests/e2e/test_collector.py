"""A collector works their queue in the browser: get-next, log a call with a promise, see it."""

import re

from tests.e2e.browser import (
    PROMISE_CALL,
    expect,
    fill_contact_form,
    log_in,
    open_menu,
    save_contact_form,
)


def test_a_collector_gets_the_next_case_and_logs_a_promise_to_pay(console, page, screenshot):
    k1 = console.case_ids["K1"]

    # collector1 signs in and opens "My queue" from the Cases menu.
    log_in(page, "collector1")
    screenshot(page, "signed-in")
    open_menu(page, "案件", "我的队列")
    expect(page).to_have_url(re.compile(r"/queue/$"))

    # The queue holds collector1's own cases, the most overdue first, and not collector2's.
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("K1")
    expect(rows.nth(0)).to_contain_text("张三")
    expect(rows.nth(1)).to_contain_text("K2")
    expect(page.locator("#queue")).not_to_contain_text("K3")
    screenshot(page, "my-queue")

    # Get next opens the top case on the workbench, the debtor's phone masked.
    page.locator("#get-next").click()
    expect(page).to_have_url(re.compile(rf"/workbench/{k1}$"))
    expect(page.locator("h2")).to_contain_text("K1")
    expect(page.locator("h2")).to_contain_text("张三")
    expect(page.locator("#contact-points")).to_contain_text("138****5678")
    expect(page.locator("body")).not_to_contain_text("13812345678")
    expect(page.locator("#case-status")).to_have_attribute("data-status", "new")
    expect(page.locator("#case-status")).to_have_text("新案")
    screenshot(page, "workbench")

    # They log the call: the debtor promises 600.00 by the end of the month.
    fill_contact_form(page, **PROMISE_CALL)
    screenshot(page, "contact-form-filled")
    response = save_contact_form(page)
    assert response.status == 302, f"saving the contact answered {response.status}"

    # Back on the same case: saved, the case is promised, and the timeline shows both.
    expect(page).to_have_url(re.compile(rf"/workbench/{k1}$"))
    expect(page.locator(".alert-success")).to_contain_text("已保存")
    expect(page.locator("#case-status")).to_have_attribute("data-status", "promised")
    timeline = page.locator("#timeline tr")
    contact = timeline.filter(has=page.locator("td[data-kind='contact']"))
    expect(contact).to_contain_text("call · debtor · ptp · 客户表示月底发工资后还款")
    promise = timeline.filter(has=page.locator("td[data-kind='promise']"))
    expect(promise).to_contain_text("600.00 by 2025-03-31")
    screenshot(page, "contact-saved")
