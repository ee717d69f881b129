"""The chart toolkit in a real browser, under the app's own Content-Security-Policy: ECharts (the
vendored file) draws the JSON data blocks with no policy violation, folds the table away, follows
a category's link on click; with JavaScript off the same page shows the table; the SVG chart
needs no script at all.

The page is a small one added to a fresh app for this test (the toolkit knows no capability)."""
from __future__ import annotations

import threading

import pytest
from flask import render_template_string
from werkzeug.serving import make_server

from jifen.platform.charts import LINE, ChartData

pytestmark = pytest.mark.browser

PAGE = """{% extends "base.html" %}{% from "_charts.html" import chart, chart_scripts %}
{% block title %}charts{% endblock %}
{% block scripts %}{{ chart_scripts() }}{% endblock %}
{% block main %}{{ chart(bars, "echarts", download="/chart-demo.xlsx", height=300) }}{{ chart(rank, "echarts") }}
{{ chart(bars2, "svg") }}{% endblock %}"""


def _data():
    months = [f"{m}月" for m in range(1, 7)]
    bars = ChartData("bars", "积分", months, [("获得", [30, 40, 10, 50, 20, 60]), ("支出", [10, 0, 30, 5, 5, 10])],
                     unit="分", x_name="月份", links=[f"/chart-demo?month={m}" for m in range(1, 7)])
    rank = ChartData("rank", "排名", months, [("排名", [9, 5, None, 3, 1, 2])], kind=LINE, invert=True)
    bars2 = ChartData("bars2", "积分 (SVG)", months, bars.series, unit="分")
    return {"bars": bars, "rank": rank, "bars2": bars2}


@pytest.fixture
def chart_server(make_app, clean):
    app = make_app(TESTING=True)  # a fresh app: the demo page is added to it alone

    def demo():
        return render_template_string(PAGE, **_data())

    demo.jifen_public = True
    app.add_url_rule("/chart-demo", "chart_demo", demo)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_echarts_draws_under_the_policy_and_the_table_shows_without_javascript(browser, chart_server, shot):
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=chart_server)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    resp = page.goto("/chart-demo")
    assert "script-src 'self' 'nonce-" in resp.headers["content-security-policy"]
    page.wait_for_selector("#bars-box canvas")
    page.wait_for_selector("#rank-box canvas")
    assert page.is_visible("#bars-box") and page.is_visible("#rank-box")
    assert page.eval_on_selector("#chart-bars details", "d => d.open") is False
    assert page.eval_on_selector("#chart-bars2 details", "d => d.open") is False
    assert page.is_visible("#bars2-svg")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not [p for p in problems if "404" not in p], problems  # (the browser asks for /favicon.ico)
    page.wait_for_timeout(1500)  # ECharts' growing animation
    shot(page, "charts-echarts-1366")

    # a click on a bar follows its category's link
    x, y = page.evaluate("""() => {
        const c = echarts.getInstanceByDom(document.getElementById('bars-box'));
        const box = document.getElementById('bars-box').getBoundingClientRect();
        const p = c.convertToPixel({seriesIndex: 0}, [3, 25]);
        return [box.left + p[0], box.top + p[1]]; }""")
    with page.expect_navigation():
        page.mouse.click(x, y)
    assert page.url.endswith("/chart-demo?month=4")
    ctx.close()

    quiet = browser.new_context(java_script_enabled=False, locale="zh-CN", base_url=chart_server)
    page = quiet.new_page()
    page.goto("/chart-demo")
    assert not page.is_visible("#bars-box")
    assert page.eval_on_selector("#chart-bars details", "d => d.open") is True
    assert page.is_visible("#chart-bars table") and "60" in page.inner_text("#chart-bars table")
    assert page.is_visible("#bars2-svg")
    quiet.close()
