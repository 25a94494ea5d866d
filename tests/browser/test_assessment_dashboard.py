"""统计考核 in a browser: ECharts (served by the app, under the pages' CSP) draws the charts, and the
period picker shows the fields of the chosen kind."""

from __future__ import annotations

from tests.browser.conftest import Browser


def test_the_dashboard_draws_its_charts_with_the_served_echarts(browser: Browser) -> None:
    browser.login("sec-dc")
    browser.page.click("[data-testid=nav-assessment]")
    browser.page.wait_for_selector("#chart-trends canvas")
    assert browser.page.evaluate("typeof window.echarts.init") == "function"
    ranked = browser.page.locator("[data-testid=ranking-departments] tr[data-rank]:not([data-rank=''])").count()
    departments_chart = browser.page.locator("#chart-departments")
    assert departments_chart.locator("canvas").count() == 1 if ranked else departments_chart.is_hidden()
    assert browser.page.locator("[data-testid=ranking-departments]").is_visible()
    browser.shot("assessment-dashboard", "assessment-dashboard.png")
    browser.page.select_option("[data-testid=period-kind]", "quarter")
    assert browser.page.locator("input[name=quarter]").is_visible()
    assert not browser.page.locator("input[name=month]").is_visible()
