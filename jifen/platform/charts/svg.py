"""Server-rendered SVG charts for the phone pages: no script, no library, a few kB.

A cheap phone on a slow network gets the picture in the page itself: grouped or stacked bars, a
histogram, or lines (optionally with the y axis inverted, for a rank where 1 is best). Each series
has a colour from an Okabe-Ito palette *and* a pattern (bars) or a dash and marker shape (lines),
so the series stay apart in greyscale print and for colour-blind readers. Every bar and point
carries its number in a <title> (a hover or long-press tooltip); the root has role="img", an
aria-label and <title>/<desc>; the table under the chart (templates/_charts.html) has every number.

The output is XML (valid standalone and inline in HTML); every text is escaped.
"""
from __future__ import annotations

import math

from flask_babel import gettext as _
from markupsafe import Markup, escape

from jifen.platform.charts.data import HISTOGRAM, LINE, PALETTE, STACKED, ChartData, fmt

FONT = 12  # px in the viewBox; a phone draws the chart at about its viewBox width (320: a card on a 390 px screen)
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond")


def _n(x: float) -> str:
    """A coordinate, short: one decimal at most."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text_width(text: str) -> float:
    """About how wide `text` is at FONT: a CJK character is a full em, others about 0.6."""
    return sum(FONT if ord(ch) > 0x2E80 else FONT * 0.6 for ch in text)


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 5 × 10^n apart) covering lo..hi, about `count` steps."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    whole = all(float(v).is_integer() for v in (lo, hi))  # counts and ranks: no 2.5 between ticks
    step = next(m * power for m in (1, 2, 2.5, 5, 10)
                if m * power >= raw and not (whole and not float(m * power).is_integer()))
    if step < 1 and whole:
        step = 1
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v < hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _patterns(data: ChartData) -> str:
    """<pattern>s, one per bar series: solid, diagonal stripes, dots, cross-hatch, repeating."""
    out = []
    for i, _series in enumerate(data.series):
        colour, pid = PALETTE[i % len(PALETTE)], f"{data.key}-p{i}"
        kind = i % 4
        if kind == 0:
            continue  # solid fill: no pattern needed
        marks = {1: '<path d="M-1 1l2-2M0 6l6-6M5 7l2-2" stroke="#fff" stroke-width="1.6"/>',
                 2: '<circle cx="3" cy="3" r="1.3" fill="#fff"/>',
                 3: '<path d="M0 0l6 6M6 0l-6 6" stroke="#fff" stroke-width="1"/>'}[kind]
        out.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                   f'<rect width="6" height="6" fill="{colour}"/>{marks}</pattern>')
    return "".join(out)


def _fill(data: ChartData, i: int) -> str:
    return PALETTE[i % len(PALETTE)] if i % 4 == 0 else f"url(#{data.key}-p{i})"


def _marker(shape: str, x: float, y: float, fill: str) -> str:
    r = 3.5
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}"'
    if shape == "square":
        return f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}" fill="{fill}"'
    if shape == "triangle":
        return (f'<path d="M{_n(x)} {_n(y - r - 1)}L{_n(x + r + 0.5)} {_n(y + r)}L{_n(x - r - 0.5)} {_n(y + r)}Z" '
                f'fill="{fill}"')
    return f'<path d="M{_n(x)} {_n(y - r - 1)}L{_n(x + r + 1)} {_n(y)}L{_n(x)} {_n(y + r + 1)}L{_n(x - r - 1)} {_n(y)}Z" ' \
           f'fill="{fill}"'


def _open(data: ChartData, width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(label)}" class="chart-svg" font-size="{FONT}" '
            f'id="{data.key}-svg"><title>{escape(data.title)}</title>')


def _empty(data: ChartData, width: int, height: int) -> Markup:
    message = _("No data yet")
    return Markup(f'{_open(data, width, height, f"{data.title}: {message}")}<desc>{escape(message)}</desc>'
                  f'<rect width="{width}" height="{height}" fill="#f6f6f6" rx="4"/>'
                  f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" dominant-baseline="middle" '
                  f'fill="#666" class="chart-empty">{escape(message)}</text></svg>')


def _range(data: ChartData) -> tuple[float, float]:
    if data.kind == STACKED:
        ups = [sum(v for _, vs in data.series if (v := vs[i]) is not None and v > 0) for i in range(len(data.categories))]
        downs = [sum(v for _, vs in data.series if (v := vs[i]) is not None and v < 0)
                 for i in range(len(data.categories))]
        return min([0, *downs]), max([0, *ups])
    values = data.values()
    if data.invert:  # room below the lowest rank, so that its point does not sit on the axis
        return 1, max(values) + max(1, round(max(values) / 10))
    return min(0, min(values)), max(0, max(values))


def render(data: ChartData, width: int = 320, height: int = 200) -> Markup:
    """The chart as an <svg> element (Markup). No data: a grey box saying so."""
    if data.is_empty:
        return _empty(data, width, height)
    lo, hi = _range(data)
    if data.invert:
        ticks = nice_ticks(1, hi, 4)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
        ticks = [1] + [t for t in ticks if t - 1 >= step * 0.75]  # rank 1 always; no tick crowding it
        hi = ticks[-1]
    else:
        ticks = nice_ticks(lo, hi, 4)
        lo, hi = ticks[0], ticks[-1]

    # the legend's places: (x, row) per series, wrapping onto a new row when the name would not fit
    places, x, row = [], 4.0, 0
    for name, _values in data.series if len(data.series) > 1 else []:
        item = 20 + _text_width(name)
        if x > 4 and x + item > width - 4:
            x, row = 4.0, row + 1
        places.append((x, row))
        x += item + 12
    legend_h = 18 * (row + 1) if places else 0
    left = max(_text_width(fmt(t)) for t in ticks) + 6
    unit_h = FONT + 4 if data.unit else 0  # the unit ("分", "%") written above the value axis
    top, right, bottom = legend_h + unit_h + 8, 6, 18
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(data.categories)
    band = plot_w / n

    def y_of(v: float) -> float:
        share = (v - lo) / (hi - lo) if hi > lo else 0
        return top + share * plot_h if data.invert else top + plot_h - share * plot_h

    parts = [_open(data, width, height, f"{data.title}. {data.summary()}"),
             f"<desc>{escape(data.summary())}</desc>"]
    patterns = _patterns(data) if data.kind != LINE else ""
    if patterns:
        parts.append(f"<defs>{patterns}</defs>")

    # legend: a swatch (the series' pattern, or its dash and marker) and the name
    for i, ((name, _values), (x, row)) in enumerate(zip(data.series, places, strict=False)):  # one series: no legend
        y = 18 * row
        if data.kind == LINE:
            colour = PALETTE[i % len(PALETTE)]
            dash = DASHES[i % len(DASHES)]
            parts.append(f'<path d="M{_n(x)} {y + 9}h16" stroke="{colour}" stroke-width="2"'
                         + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            parts.append(_marker(MARKERS[i % len(MARKERS)], x + 8, y + 9, colour) + "/>")
        else:
            parts.append(f'<rect x="{_n(x)}" y="{y + 3}" width="16" height="12" fill="{_fill(data, i)}"/>')
        parts.append(f'<text x="{_n(x + 20)}" y="{y + 13}">{escape(name)}</text>')

    # y axis: grid lines and their labels, the unit above them
    if unit_h:
        parts.append(f'<text x="2" y="{legend_h + FONT + 2}" fill="#555" class="chart-unit">{escape(data.unit)}</text>')
    parts.append('<g fill="#555" text-anchor="end">')
    for t in ticks:
        y = y_of(t)
        parts.append(f'<path d="M{_n(left)} {_n(y)}H{_n(width - right)}" stroke="#ddd"/>'
                     f'<text x="{_n(left - 4)}" y="{_n(y + 4)}">{fmt(t)}</text>')
    parts.append("</g>")
    baseline = y_of(0 if lo <= 0 <= hi and not data.invert else (lo if not data.invert else hi))
    parts.append(f'<path d="M{_n(left)} {_n(baseline)}H{_n(width - right)}" stroke="#888"/>')

    # x labels: every k-th, so that they do not overlap; linked when the category has a link
    widest = max(_text_width(c) for c in data.categories) + 4
    every = max(1, math.ceil(widest / band))
    parts.append('<g fill="#555" text-anchor="middle">')
    for i, label in enumerate(data.categories):
        if i % every:
            continue
        text = f'<text x="{_n(left + band * (i + 0.5))}" y="{_n(height - 5)}">{escape(label)}</text>'
        link = data.links[i] if data.links else None
        parts.append(f'<a href="{escape(link)}">{text}</a>' if link else text)
    parts.append("</g>")

    def tip(i: int, name: str, v) -> str:
        return f"<title>{escape(data.categories[i])} · {escape(name)}: {fmt(v)}{escape(data.unit)}</title>"

    if data.kind == LINE:
        parts += _lines(data, left, top, band, y_of, tip)
    else:
        parts += _bars(data, left, band, y_of, tip)
    if data.links:  # the whole band is a link target too (bars let the click through)
        for i, link in enumerate(data.links):
            if link:
                values = ", ".join(f"{escape(name)} {fmt(vs[i])}" for name, vs in data.series)
                parts.append(f'<a href="{escape(link)}"><rect x="{_n(left + band * i)}" y="{_n(top)}" '
                             f'width="{_n(band)}" height="{_n(plot_h)}" fill="#fff" fill-opacity="0">'
                             f"<title>{escape(data.categories[i])}: {values}</title></rect></a>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _bars(data: ChartData, left: float, band: float, y_of, tip) -> list[str]:
    out = []
    stacked = data.kind == STACKED
    group = band * (0.96 if data.kind == HISTOGRAM else 0.8)
    per = group if stacked else group / len(data.series)
    ups = [0.0] * len(data.categories)
    downs = [0.0] * len(data.categories)
    labels = not stacked and per >= max((_text_width(fmt(v)) for v in data.values()), default=0) + 2
    through = ' pointer-events="none"' if data.links else ""
    for s, (name, values) in enumerate(data.series):
        out.append(f'<g fill="{_fill(data, s)}" stroke="#fff" stroke-width="0.5"{through}>')
        texts = []
        for i, v in enumerate(values):
            if not v:  # no value, or nothing to draw (the zero is in the title of the band and the table)
                continue
            x = left + band * i + (band - group) / 2 + (0 if stacked else per * s)
            if stacked:
                base = ups[i] if v >= 0 else downs[i]
                y0, y1 = y_of(base), y_of(base + v)
                if v >= 0:
                    ups[i] += v
                else:
                    downs[i] += v
            else:
                y0, y1 = y_of(0), y_of(v)
            y, h = min(y0, y1), abs(y1 - y0)
            out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(per)}" height="{_n(h)}">'
                       f"{tip(i, name, v)}</rect>")
            if labels:
                ty = y - 2 if v >= 0 else y + h + FONT
                texts.append(f'<text x="{_n(x + per / 2)}" y="{_n(ty)}">{fmt(v)}</text>')
        out.append("</g>")
        if texts:
            out.append('<g fill="#333" text-anchor="middle" class="chart-values">' + "".join(texts) + "</g>")
    return out


def _lines(data: ChartData, left: float, top: float, band: float, y_of, tip) -> list[str]:
    out = []
    for s, (name, values) in enumerate(data.series):
        colour, dash = PALETTE[s % len(PALETTE)], DASHES[s % len(DASHES)]
        points = [(left + band * (i + 0.5), y_of(v), i, v) for i, v in enumerate(values) if v is not None]
        path, previous = [], None
        for x, y, i, _v in points:
            path.append(f"{'L' if previous == i - 1 else 'M'}{_n(x)} {_n(y)}")
            previous = i
        out.append(f'<path d="{"".join(path)}" fill="none" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        shape = MARKERS[s % len(MARKERS)]
        out.append(f'<g class="chart-points" data-series="{s}">')
        for x, y, i, v in points:
            out.append(f'{_marker(shape, x, y, colour)} data-i="{i}">{tip(i, name, v)}'
                       f"</{'circle' if shape == 'circle' else 'rect' if shape == 'square' else 'path'}>")
        out.append("</g>")
        if len(points) <= 12 and band >= 18:  # room for the numbers beside the points
            out.append('<g fill="#333" text-anchor="middle" class="chart-values">')
            for x, y, _i, v in points:
                below = y - 6 - FONT < top  # no room above the point: write it below
                out.append(f'<text x="{_n(x)}" y="{_n(y + 14 if below else y - 6)}">{fmt(v)}</text>')
            out.append("</g>")
    return out
