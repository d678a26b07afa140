"""What a person does in the console, as browser steps the e2e tests share.

Playwright is imported only when a step runs, so that without it the tests are skipped (or, under
CI_REQUIRE_ALL=1, failed) by the ``browser`` fixture instead of breaking collection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.demo_logins import DEMO_LOGINS

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORDS = {username: password for username, password, _role in DEMO_LOGINS}
TIMEOUT_MS = 10_000


def expect(target: Any) -> Any:
    """Playwright's retrying ``expect``, with a timeout for a slow CI machine."""
    from playwright.sync_api import expect as playwright_expect  # noqa: PLC0415

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(target)


def log_in(page: Page, username: str) -> None:
    """Sign in through the login form."""
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.locator("input[type=submit]").click()
    expect(page.locator(".navbar-right")).to_contain_text(username)


def open_menu(page: Page, category: str, item: str) -> None:
    """Click a navbar category, then one of its items."""
    page.locator(".navbar-nav > li > a.dropdown-toggle", has_text=category).click()
    page.get_by_role("link", name=item).click()


def choose_language(page: Page, name: str) -> None:
    """Open the language menu (the flag in the navbar) and pick a language by its name."""
    page.locator(".navbar-right a.dropdown-toggle:has(i.flag)").click()
    page.locator(".navbar-right .dropdown-menu a", has_text=name).click()
    page.wait_for_load_state()


def fill_contact_form(
    page: Page,
    *,
    channel: str,
    party: str,
    outcome: str,
    started_at: str,
    duration_seconds: str = "",
    notes: str = "",
    promise_amount: str = "",
    promise_date: str = "",
) -> None:
    """Fill the workbench's "log a contact" form (times in the debtor's local time)."""
    form = page.locator("#contact-form")
    form.locator("select[name=channel]").select_option(channel)
    form.locator("select[name=party]").select_option(party)
    form.locator("select[name=outcome]").select_option(outcome)
    form.locator("input[name=started_at]").fill(started_at)
    form.locator("input[name=duration_seconds]").fill(duration_seconds)
    form.locator("textarea[name=notes]").fill(notes)
    form.locator("input[name=promise_amount]").fill(promise_amount)
    form.locator("input[name=promise_date]").fill(promise_date)


def save_contact_form(page: Page) -> Any:
    """Press Save; returns the server's response to the form's POST."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.locator("#contact-form button[type=submit]").click()
    page.wait_for_load_state()
    return answer.value


# The promise that collector1 logs in the collector scenario (and the audit scenario relies on).
PROMISE_CALL = {
    "channel": "call",
    "party": "debtor",
    "outcome": "ptp",
    "started_at": "2025-03-01T10:30",
    "duration_seconds": "185",
    "notes": "客户表示月底发工资后还款",
    "promise_amount": "600.00",
    "promise_date": "2025-03-31",
}
