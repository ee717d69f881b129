"""`ChartData`: one chart's numbers, labels already translated, drawn three ways from one value.

A view builds a `ChartData` once; the phone pages draw it as server SVG (`svg.render`), the desktop
dashboards hand `echarts_option()` to ECharts (static/charts.js), and every chart shows the same
numbers as a table (`table()`) and a workbook (`xlsx.charts_workbook`). So the picture, the table and
the export cannot disagree: they are read from the same lists.

The toolkit knows no capability: categories are plain labels (months, villages, point ranges), a
series is a name and one value per category (None: no value, e.g. no ranking that month).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

BAR, LINE, STACKED, HISTOGRAM = "bar", "line", "stacked", "histogram"
KINDS = (BAR, LINE, STACKED, HISTOGRAM)
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

# Okabe & Ito's palette (safe for the common colour-vision deficiencies), ordered so that
# neighbouring series also differ in lightness when printed in grey; svg.py adds a pattern per series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

Number = int | float


@dataclass
class ChartData:
    """A chart's numbers and words. `title`, `unit`, `x_name`, the category labels and the series
    names are shown as given: translate them before (`str(_l(...))` is fine)."""

    key: str  # a slug, unique on its page: element ids, the workbook sheet and the download's name
    title: str
    categories: list[str]
    series: list[tuple[str, list[Number | None]]]
    unit: str = ""  # of the values ("分", "户", "%")
    kind: str = BAR
    links: list[str | None] | None = None  # one per category: where a click on it leads
    invert: bool = False  # the y axis grows downwards: a rank, where 1 is best, sits at the top
    x_name: str = ""  # the table's first column header (e.g. "Month")
    description: str = ""  # a sentence for screen readers; a summary is made when empty
    extra: dict = field(default_factory=dict)  # merged into the ECharts option last (dashboards' own touches)

    def __post_init__(self) -> None:
        if not KEY_RE.match(self.key):
            raise ValueError(f"chart key {self.key!r} is not a slug")
        if self.kind not in KINDS:
            raise ValueError(f"chart kind {self.kind!r} is not one of {KINDS}")
        self.categories = [str(c) for c in self.categories]
        self.series = [(str(name), list(values)) for name, values in self.series]
        for name, values in self.series:
            if len(values) != len(self.categories):
                raise ValueError(f"series {name!r} has {len(values)} values for {len(self.categories)} categories")
        if self.links is not None and len(self.links) != len(self.categories):
            raise ValueError("links must have one entry per category")

    # --- reading --------------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        """Nothing to draw: no category, or no value at all."""
        return not self.categories or all(v is None for _, values in self.series for v in values)

    def values(self) -> list[Number]:
        return [v for _, values in self.series for v in values if v is not None]

    def header(self) -> list[str]:
        unit = f" ({self.unit})" if self.unit else ""
        return [self.x_name] + [f"{name}{unit}" for name, _ in self.series]

    def rows(self) -> list[list]:
        """One row per category: its label, then each series' value (None left empty)."""
        return [[label] + [values[i] for _, values in self.series] for i, label in enumerate(self.categories)]

    def table(self) -> list[list]:
        """The header and the rows: what the <details> table and the workbook sheet show."""
        return [self.header()] + self.rows()

    def summary(self) -> str:
        """The description, or a plain sentence of each series' range (language-neutral numbers)."""
        if self.description:
            return self.description
        parts = []
        for name, values in self.series:
            known = [(v, self.categories[i]) for i, v in enumerate(values) if v is not None]
            if known:
                low, high = min(known, key=lambda p: p[0]), max(known, key=lambda p: p[0])
                parts.append(f"{name}: {fmt(low[0])}–{fmt(high[0])}{self.unit}")
        return "; ".join(parts)

    # --- ECharts ----------------------------------------------------------------------------------

    def echarts_option(self) -> dict:
        """The ECharts option for this chart (JSON-ready). Patterns (`aria.decal`) as well as colours
        tell the series apart, as on the SVG; `links` travel beside the option (charts.js)."""
        line = self.kind == LINE
        series = []
        for name, values in self.series:
            item = {"name": name, "type": "line" if line else "bar", "data": list(values)}
            if line:
                item |= {"connectNulls": False, "symbolSize": 7}
            if self.kind == STACKED:
                item["stack"] = "total"
            if self.kind == HISTOGRAM:
                item |= {"barCategoryGap": "2%"}
            series.append(item)
        y_axis = {"type": "value", "name": self.unit, "inverse": self.invert}
        if all(float(v).is_integer() for v in self.values()):
            y_axis["minInterval"] = 1  # counts and points: no tick at 2.5 households
        if self.invert:
            y_axis["min"] = 1
        option = {
            "aria": {"enabled": True, "decal": {"show": True}},
            "color": list(PALETTE),
            # the page shows the title above the chart (figcaption); ECharts keeps it for its aria text
            "title": {"text": self.title, "show": False},
            "tooltip": {"trigger": "axis"},
            "legend": {"show": len(self.series) > 1, "bottom": 0},
            "grid": {"left": 8, "right": 16, "top": 28, "bottom": 36 if len(self.series) > 1 else 12,
                     "containLabel": True},
            "xAxis": {"type": "category", "data": list(self.categories), "name": self.x_name,
                      "axisTick": {"alignWithLabel": True}},
            "yAxis": y_axis,
            "series": series,
        }
        return _merge(option, self.extra)


def fmt(value: Number | None) -> str:
    """A value as the chart and the table write it: whole numbers without decimals, others with
    at most two."""
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def _merge(base: dict, extra: dict) -> dict:
    for k, v in extra.items():
        base[k] = _merge(dict(base[k]), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base
