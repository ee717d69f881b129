"""Charts' numbers as a workbook: one sheet per chart, exactly the table shown under it.

Leaders report upward in Excel: every chart's table downloads as .xlsx. Text goes through
platform/spreadsheet.py (a village or household name that starts with "=" stays text).
"""
from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font

from jifen.platform import clock, spreadsheet
from jifen.platform.charts.data import ChartData
from jifen.platform.files.responses import xlsx_response

SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in the workbook."""
    base = SHEET_BAD.sub(" ", title).strip().strip("'") or "Sheet"
    name, n = base[:31], 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def charts_workbook(charts: list[ChartData]) -> bytes:
    """The workbook: for each chart a sheet named after its title, the header row in bold, then one
    row per category (an empty cell where a series has no value)."""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    bold = Font(bold=True)
    for chart in charts:
        sheet = book.create_sheet(_sheet_title(chart.title, taken))
        header = []
        for text in chart.header():
            c = spreadsheet.cell(sheet, text)
            c.font = bold
            header.append(c)
        sheet.append(header)
        for row in chart.rows():
            spreadsheet.append(sheet, row)
    if not charts:
        book.create_sheet("Sheet")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def charts_download(charts: list[ChartData], name: str):
    """The response a view returns for a chart's "download" link: `<name>-<local date>.xlsx`."""
    return xlsx_response(charts_workbook(charts), f"{name}-{clock.today().isoformat()}.xlsx")
