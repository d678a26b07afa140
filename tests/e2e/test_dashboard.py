"""A supervisor and a collector land on the dashboard: tiles, charts drawn by the server, their
own scope, and not one request leaving the console."""

import re

from tests.e2e.browser import expect, log_in


def _watch_requests(page, console) -> list[str]:
    """Every URL the page asks for that is not the console's own."""
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(console.url) else outside.append(request.url)
        ),
    )
    return outside


def _charts_loaded(page) -> None:
    """Scroll the lazy chart images into view and wait until each has drawn."""
    charts = page.locator("img.chart")
    expect(charts).to_have_count(5)
    for index in range(charts.count()):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        page.wait_for_function(
            "(image) => image.complete && image.naturalWidth > 0", arg=chart.element_handle()
        )
    page.evaluate("window.scrollTo(0, 0)")


def test_a_supervisor_lands_on_the_dashboard_with_charts(console, page, screenshot):
    outside = _watch_requests(page, console)
    log_in(page, "supervisor1")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    for tile in ("overdue-rate", "recovery-rate", "average-cycle", "promise-kept-rate"):
        expect(page.locator(f"#kpi-{tile}")).to_be_visible()
    expect(page.locator("#kpi-rpc-rate")).to_be_visible()
    expect(page.locator("#kpi-collected")).to_be_visible()
    # Team T1's three cases are all overdue.
    expect(page.locator("#kpi-overdue-rate")).to_have_attribute("data-value", "1.0")
    expect(page.locator("#kpi-overdue-rate .kpi-value")).to_have_text("100.0%")
    _charts_loaded(page)
    screenshot(page, "dashboard")

    # Filtering by a product the team does not have leaves nothing, and says so in the charts.
    page.locator("#product").select_option("mortgage")
    page.locator("#dashboard-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"product=mortgage"))
    expect(page.locator("#kpi-overdue-rate")).to_have_attribute("data-value", "")
    _charts_loaded(page)
    screenshot(page, "dashboard-filtered-empty")
    assert outside == [], f"requests outside the console: {outside}"


def test_a_collector_sees_only_their_own_numbers(console, page, screenshot):
    log_in(page, "collector2")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    # collector2 holds K3 only; no team to choose.
    expect(page.locator("#team")).to_have_count(0)
    expect(page.locator("#league tbody tr")).to_have_count(1)
    expect(page.locator("#league")).to_contain_text("催收员乙")
    expect(page.locator("#league")).not_to_contain_text("催收员甲")
    _charts_loaded(page)
    screenshot(page, "collector-dashboard")
