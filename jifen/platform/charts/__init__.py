"""Charts for every capability's pages: one `ChartData`, drawn as server SVG (phones), as an
ECharts option (desktop dashboards), as a table and as a workbook (templates/_charts.html).
Knows no capability."""
from jifen.platform.charts.data import BAR, HISTOGRAM, LINE, STACKED, ChartData, fmt

__all__ = ["BAR", "HISTOGRAM", "LINE", "STACKED", "ChartData", "init_app"]


def init_app(app) -> None:
    """The templates' helpers: `chart_svg(data, width, height)` and `chart_fmt(value)`."""
    from jifen.platform.charts import svg

    app.jinja_env.globals.update(chart_svg=svg.render, chart_fmt=fmt)
