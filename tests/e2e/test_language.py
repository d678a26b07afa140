"""The console speaks Chinese first; the language menu switches it, and the choice sticks."""

from tests.e2e.browser import choose_language, expect, log_in


def test_the_language_menu_switches_between_chinese_and_english_and_remembers(
    console, page, screenshot
):
    # A first visit is in Chinese.
    page.goto("/login/")
    expect(page.locator("input[type=submit]")).to_have_value("登录")
    expect(page.locator("body")).to_contain_text("用户名")
    screenshot(page, "login-in-chinese")

    # English from the flag menu: the page it lands on is in English ...
    choose_language(page, "English")
    expect(page.locator("h2")).to_have_text("Welcome")
    expect(page.locator(".navbar-right")).to_contain_text("Login")
    screenshot(page, "switched-to-english")

    # ... and so are the next pages, through signing in.
    page.goto("/login/")
    expect(page.locator("input[type=submit]")).to_have_value("Sign In")
    expect(page.locator("body")).to_contain_text("Username")
    log_in(page, "analyst")
    page.goto("/cases/list/")
    expect(page.locator("body")).to_contain_text("Record Count: 3")
    expect(page.locator("body")).to_contain_text("Search")
    # The console's own menus follow, from its catalog.
    expect(page.locator(".navbar-nav").first).to_contain_text("Records")
    expect(page.locator(".navbar-nav").first).not_to_contain_text("档案")
    screenshot(page, "cases-in-english")

    # Back to Chinese from the same menu, remembered on the next page as well.
    choose_language(page, "中文")
    page.goto("/cases/list/")
    expect(page.locator("body")).to_contain_text("记录数目: 3")
    expect(page.locator("body")).to_contain_text("搜索")
    expect(page.locator("body")).not_to_contain_text("Record Count")
    expect(page.locator(".navbar-nav").first).to_contain_text("档案")
    expect(page.locator(".navbar-nav").first).not_to_contain_text("Records")
    page.locator(".navbar-right a.dropdown-toggle", has_text="analyst").click()
    expect(page.get_by_role("link", name="注销")).to_be_visible()
    screenshot(page, "back-in-chinese")
