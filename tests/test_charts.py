"""The chart toolkit (jifen/platform/charts): one ChartData drawn as server SVG, as an ECharts
option, as a table and as a workbook; the vendored ECharts served with a year's cache; no inline
script added to any page."""
from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from flask import render_template_string, url_for
from flask_babel import force_locale
from openpyxl import load_workbook

import jifen
from jifen.platform.charts import HISTOGRAM, LINE, STACKED, ChartData
from jifen.platform.charts import svg as chart_svg
from jifen.platform.charts.xlsx import charts_download, charts_workbook

SVG = "{http://www.w3.org/2000/svg}"
MONTHS = [f"{m}月" for m in range(1, 13)]
STATIC = Path(jifen.__file__).parent / "static"


def trend() -> ChartData:
    return ChartData("trend", "我的积分走势", MONTHS, [
        ("获得", [30, 40, 0, 50, 10, 60, 20, 25, 35, 45, 5, 80]),
        ("支出", [10, 0, 30, 5, 5, 10, None, 0, 20, 10, 0, 40]),
        ("扣除", [0, 5, 0, 0, 10, 0, 0, 0, 5, 0, 0, 2])], unit="分", x_name="月份")


def ranks() -> ChartData:
    return ChartData("rank", "村内排名", MONTHS[:6], [("排名", [12, 8, 5, None, 1, 3])], kind=LINE, invert=True)


def _parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))  # valid XML on its own, or this raises


def _titles(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}title")]


@pytest.fixture
def request_ctx(app):
    with app.test_request_context("/"):
        yield app


# --- SVG ---------------------------------------------------------------------------------------

def test_svg_bars_are_valid_xml_labelled_for_readers_with_every_number_in_a_title(request_ctx):
    data = trend()
    markup = chart_svg.render(data)
    root = _parse(markup)
    assert root.get("role") == "img" and root.get("aria-label").startswith("我的积分走势")
    assert root.find(f"{SVG}title").text == "我的积分走势" and root.find(f"{SVG}desc").text
    titles = _titles(root)
    for name, values in data.series:
        for month, v in zip(MONTHS, values, strict=True):
            if v:  # a zero draws no bar; its number is in the table
                assert f"{month} · {name}: {v}分" in titles
    assert len(root.findall(f".//{SVG}rect[{SVG}title]")) == sum(1 for _, vs in data.series for v in vs if v)
    # three series told apart by more than colour: a solid fill and two patterns
    fills = [g.get("fill") for g in root.iter(f"{SVG}g") if g.get("fill", "").startswith(("#", "url("))]
    assert fills[-3:] == ["#0072B2", "url(#trend-p1)", "url(#trend-p2)"]
    assert {p.get("id") for p in root.iter(f"{SVG}pattern")} == {"trend-p1", "trend-p2"}
    assert len(str(markup).encode()) < 8000  # a 12-month, 3-series chart stays a few kB


def test_wide_bars_carry_their_numbers_as_labels(request_ctx):
    data = ChartData("few", "Few", ["A", "B", "C"], [("n", [3, 120, 7])])
    root = _parse(chart_svg.render(data))
    labels = [t.text for g in root.iter(f"{SVG}g") if g.get("class") == "chart-values" for t in g]
    assert labels == ["3", "120", "7"]


def test_an_inverted_axis_puts_rank_one_at_the_top_and_leaves_a_gap_for_a_missing_month(request_ctx):
    root = _parse(chart_svg.render(ranks()))
    points = {int(c.get("data-i")): float(c.get("cy")) for c in root.iter(f"{SVG}circle") if c.get("data-i")}
    assert set(points) == {0, 1, 2, 4, 5}  # April has no rank: no point
    assert points[4] < points[5] < points[2] < points[1] < points[0]  # rank 1 highest on the page
    y_labels = [(t.text, float(t.get("y"))) for g in root.iter(f"{SVG}g") if g.get("text-anchor") == "end"
                for t in g.iter(f"{SVG}text")]
    assert y_labels[0][0] == "1" and y_labels[0][1] == min(y for _, y in y_labels)
    line = next(p for p in root.iter(f"{SVG}path") if p.get("fill") == "none")
    assert line.get("d").count("M") == 2  # the line breaks at the missing month
    assert "5月 · 排名: 1" in _titles(root)


def test_stacked_bars_stack_and_a_histogram_has_no_gaps(request_ctx):
    data = ChartData("st", "Stacked", ["a", "b"], [("x", [10, 20]), ("y", [30, 5])], kind=STACKED)
    root = _parse(chart_svg.render(data))
    rects = {r.find(f"{SVG}title").text: r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None}
    bottom_x, top_y = rects["a · x: 10"], rects["a · y: 30"]
    assert float(top_y.get("y")) + float(top_y.get("height")) == pytest.approx(float(bottom_x.get("y")), abs=0.11)
    assert float(top_y.get("height")) == pytest.approx(3 * float(bottom_x.get("height")), rel=0.05)
    hist = ChartData("h", "Hist", ["0-99", "100-199", "200-299"], [("户", [4, 9, 2])], kind=HISTOGRAM)
    bars = sorted((float(r.get("x")), float(r.get("width"))) for r in _parse(chart_svg.render(hist)).iter(f"{SVG}rect")
                  if r.find(f"{SVG}title") is not None)
    assert bars[1][0] - (bars[0][0] + bars[0][1]) < 0.05 * bars[0][1]


def test_negative_values_hang_below_the_zero_line(request_ctx):
    root = _parse(chart_svg.render(ChartData("neg", "Net", ["a", "b"], [("net", [20, -10])])))
    rects = {r.find(f"{SVG}title").text: r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None}
    up, down = rects["a · net: 20"], rects["b · net: -10"]
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(float(down.get("y")), abs=0.11)


@pytest.mark.parametrize("locale, words", [("zh_CN", "暂无数据"), ("en", "No data yet")])
def test_no_data_draws_a_no_data_yet_state_not_a_crash(request_ctx, locale, words):
    with force_locale(locale):
        for data in (ChartData("e1", "Empty", [], []),
                     ChartData("e2", "Nothing", ["1月", "2月"], [("x", [None, None])], kind=LINE, invert=True)):
            root = _parse(chart_svg.render(data))
            assert root.get("role") == "img" and words in root.get("aria-label")
            assert any(t.text == words for t in root.iter(f"{SVG}text"))
            html = render_template_string('{% from "_charts.html" import chart %}{{ chart(d, "echarts") }}', d=data)
            assert words in html and "application/json" not in html  # nothing for ECharts to draw


def test_text_is_escaped(request_ctx):
    evil = '<script>alert(1)</script>&"'
    data = ChartData("ev", evil, [evil, "b"], [(evil, [1, 2])], unit="&", links=['/x?a=1&b="2"', None])
    markup = str(chart_svg.render(data))
    _parse(markup)
    assert "<script>" not in markup
    root = _parse(markup)
    assert root.find(f".//{SVG}a").get("href") == '/x?a=1&b="2"'


def test_bad_chart_data_is_refused_when_it_is_built():
    with pytest.raises(ValueError):
        ChartData("Not a slug", "t", ["a"], [("x", [1])])
    with pytest.raises(ValueError):
        ChartData("ok", "t", ["a", "b"], [("x", [1])])
    with pytest.raises(ValueError):
        ChartData("ok", "t", ["a"], [("x", [1])], kind="pie")


# --- ECharts -----------------------------------------------------------------------------------

def test_the_echarts_option_is_json_with_the_same_numbers():
    option = json.loads(json.dumps(trend().echarts_option()))
    assert option["xAxis"]["data"] == MONTHS
    assert [(s["name"], s["type"], s["data"]) for s in option["series"]] == [
        (name, "bar", values) for name, values in trend().series]
    assert option["aria"]["decal"]["show"] is True  # patterns as well as colours
    assert option["yAxis"]["inverse"] is False and option["yAxis"]["name"] == "分"
    rank = ranks().echarts_option()
    assert rank["yAxis"]["inverse"] is True and rank["yAxis"]["min"] == 1
    assert rank["series"][0]["type"] == "line" and rank["series"][0]["data"][3] is None
    stacked = ChartData("s", "S", ["a"], [("x", [1]), ("y", [2])], kind=STACKED).echarts_option()
    assert {s["stack"] for s in stacked["series"]} == {"total"}
    extra = ChartData("x", "X", ["a"], [("x", [1])], extra={"grid": {"top": 60}}).echarts_option()
    assert extra["grid"]["top"] == 60 and extra["grid"]["containLabel"] is True


@pytest.mark.parametrize("locale, summary, download, echarts_locale",
                         [("zh_CN", "数据表", "下载 Excel 表格 (.xlsx)", "ZH"),
                          ("en", "Data table", "Download as Excel (.xlsx)", "EN")])
def test_the_macro_leaves_a_data_block_and_the_numbers_as_a_table(request_ctx, locale, summary, download,
                                                                  echarts_locale):
    data = ChartData("villages", "Participation", ["官田村", "礼坑村"], [("Rate", [61.5, 40])], unit="%",
                     x_name="Village", links=["/t/alpha/x?village=1", None])
    with force_locale(locale):
        html = render_template_string('{% from "_charts.html" import chart %}{{ chart(d, "echarts", download=u) }}',
                                      d=data, u="/t/alpha/x.xlsx")
    block = re.search(r'<script type="application/json" data-chart="villages-box">(.*?)</script>', html, re.S)
    spec = json.loads(block.group(1))
    assert spec == {"option": data.echarts_option(), "links": data.links, "locale": echarts_locale}
    assert 'id="villages-box"' in html and "hidden" in html
    assert re.search(r"<details class=\"chart-table\" open data-chart-table>", html)  # the table, without JS
    assert f"<summary>{summary}</summary>" in html and download in html and 'href="/t/alpha/x.xlsx"' in html
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>\s*(.*?)</tr>", html, re.S)
    assert [re.sub(r"<[^>]+>", "", h) for h, _ in rows] == ["官田村", "礼坑村"]
    assert [re.findall(r'<td class="num">([^<]*)</td>', cells) for _, cells in rows] == [["61.5"], ["40"]]
    assert '<a href="/t/alpha/x?village=1">官田村</a>' in html
    svg_html = render_template_string('{% from "_charts.html" import chart %}{{ chart(d) }}', d=data)
    assert "<svg" in svg_html and "application/json" not in svg_html and "<details class=\"chart-table\">" in svg_html


def test_a_data_block_cannot_close_its_script_early(request_ctx):
    data = ChartData("x", "</script><script>alert(1)</script>", ["a"], [("x", [1])])
    html = render_template_string('{% from "_charts.html" import chart %}{{ chart(d, "echarts") }}', d=data)
    assert html.count("</script>") == 1 and "<script>alert" not in html


def test_charts_js_and_the_vendored_echarts_need_no_inline_script_or_eval():
    script = (STATIC / "charts.js").read_text(encoding="utf-8")
    assert "eval(" not in script and "innerHTML" not in script
    vendor = STATIC / "vendor" / "echarts"
    assert {p.name for p in vendor.iterdir()} >= {"echarts.min.js", "LICENSE", "NOTICE"}
    assert "Apache" in (vendor / "NOTICE").read_text(encoding="utf-8")
    assert (vendor / "echarts.min.js").stat().st_size > 500_000  # the full build, not a stub


def test_the_vendored_library_is_served_with_a_years_cache_and_pages_keep_their_policy(app):
    with app.test_request_context("/"):
        url = url_for("static", filename="vendor/echarts/echarts.min.js")
        charts_url = url_for("static", filename="charts.js")
    assert re.search(r"\?v=[0-9a-f]{12}$", url) and "?v=" in charts_url
    client = app.test_client()
    resp = client.get(url)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.data[:200].lstrip().startswith(b"/*")
    resp.close()
    plain = client.get("/static/vendor/echarts/echarts.min.js")
    assert "immutable" not in plain.headers.get("Cache-Control", "")  # an unversioned URL may change
    plain.close()
    page = client.get("/county/login")
    policy = page.headers["Content-Security-Policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "echarts" not in page.get_data(as_text=True)  # only pages that ask load the library


def test_chart_scripts_load_the_library_then_the_drawing_script(request_ctx):
    html = render_template_string('{% from "_charts.html" import chart_scripts %}{{ chart_scripts() }}')
    srcs = re.findall(r'<script src="([^"]+)" defer></script>', html)
    assert [s.split("?")[0] for s in srcs] == ["/static/vendor/echarts/echarts.min.js", "/static/charts.js"]


# --- workbook ----------------------------------------------------------------------------------

def test_the_workbook_has_one_sheet_per_chart_equal_to_its_table(request_ctx):
    evil = ChartData("evil", "=HYPERLINK(1)", ["=1+1", "@x"], [("-n", [1, None])])
    long = ChartData("long", "一个非常长的标题" * 5 + "[1]", ["a"], [("x", [2.5])])
    charts = [trend(), ranks(), evil, long, ChartData("dup", "我的积分走势", ["a"], [("x", [1])])]
    book = load_workbook(io.BytesIO(charts_workbook(charts)))
    assert len(book.sheetnames) == 5 and len(set(book.sheetnames)) == 5
    assert book.sheetnames[0] == "我的积分走势" and all(len(n) <= 31 for n in book.sheetnames)
    assert "[" not in book.sheetnames[3]
    for chart, sheet in zip(charts, book.worksheets, strict=True):
        table = [[None if v == "" else v for v in row] for row in chart.table()]  # no x_name: an empty cell
        assert [list(r) for r in sheet.iter_rows(values_only=True)] == table
    assert book.worksheets[0]["A1"].font.b
    cells = [c for row in book.worksheets[2].iter_rows() for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)  # text stays text


def test_the_download_is_named_with_the_date(request_ctx):
    resp = charts_download([trend()], "trend")
    assert re.search(r"filename\*=UTF-8''trend-\d{4}-\d{2}-\d{2}\.xlsx", resp.headers["Content-Disposition"])
    assert resp.headers["Cache-Control"] == "private, no-store"
    assert load_workbook(io.BytesIO(resp.data)).worksheets[0]["A2"].value == "1月"


def test_long_series_names_wrap_the_legend_and_the_unit_sits_above_the_values(request_ctx):
    names = ["Earned in the month", "Spent in the store", "Deducted for conduct"]
    data = ChartData("wrap", "Wrap", ["Jan", "Feb"], [(n, [1, 2]) for n in names], unit="points")
    root = _parse(chart_svg.render(data, width=320))
    legend = [(t.text, float(t.get("x")), float(t.get("y"))) for t in root.findall(f"{SVG}text") if t.text in names]
    assert [n for n, _x, _y in legend] == names and len({y for _n, _x, y in legend}) >= 2  # more than one row
    assert all(x + chart_svg._text_width(n) <= 320 for n, x, _y in legend)
    unit = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "chart-unit")
    ticks = [float(t.get("y")) for g in root.iter(f"{SVG}g") if g.get("text-anchor") == "end"
             for t in g.iter(f"{SVG}text")]
    assert unit.text == "points" and float(unit.get("y")) < min(ticks) - chart_svg.FONT / 2
    assert max(y for _n, _x, y in legend) < float(unit.get("y"))


def test_whole_numbers_get_whole_ticks_and_fractions_may_have_fractional_ones():
    assert trend().echarts_option()["yAxis"]["minInterval"] == 1
    assert "minInterval" not in ChartData("r", "Rate", ["a"], [("x", [0.85])]).echarts_option()["yAxis"]
    assert chart_svg.nice_ticks(1, 11) == [0, 5, 10, 15]  # not 2.5 apart
    assert chart_svg.nice_ticks(0, 0.3) == [0, 0.1, 0.2, 0.3]
