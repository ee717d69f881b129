"""The roster (花名册) workbook: its columns, reading an uploaded one, writing the template and exports.

No database here: the importer gets plain rows, the writers get plain lists. Reading uses openpyxl's
read-only mode (a streaming parser; 35,000 rows take a second or two), writing its write-only mode.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from jifen.platform import spreadsheet

# (key, header): the headers are part of the file format, so they are Chinese in every language
COLUMNS = (("village", "村"), ("grid", "网格"), ("door_plate", "门牌号"), ("name", "姓名"),
           ("relation", "与户主关系"), ("phone", "联系电话"), ("id_number", "身份证号"), ("tags", "户标签"),
           ("note", "备注"))
HEADERS = dict(COLUMNS)
HEADER_KEYS = {h: k for k, h in COLUMNS}
TEXT_COLUMNS = ("phone", "id_number")  # formatted as text, or Excel turns 44162219… into 4.41622E+17
WIDTHS = {"village": 10, "grid": 16, "door_plate": 24, "name": 10, "relation": 12, "phone": 15,
          "id_number": 21, "tags": 18, "note": 20}
SHEET_TITLE = "花名册"
GUIDE_TITLE = "填写说明"
MAX_ROWS = 100_000


class Unreadable(ValueError):
    """The upload is not a workbook openpyxl can open (not an xlsx, or a damaged one)."""


@dataclass
class Row:
    number: int  # the row number Excel shows
    cells: dict  # column key -> cell text ("" when empty)
    numeric_id: bool = False  # the ID cell held a number: Excel may have dropped its last digits


def cell_text(value) -> str:
    """A cell as text. People's sheets hold numbers where we want text (phones, ID numbers typed
    into General cells): 13800138000 and 13800138000.0 both read as "13800138000"."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value).strip()


def read_rows(data: bytes) -> tuple[list[Row], list[dict]]:
    """(rows, errors) of the roster sheet.

    Errors here are about the sheet as a whole (missing headers, no rows, too many rows). The sheet
    is the one named 花名册, else the first. Empty rows are skipped; row numbers stay Excel's.
    """
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None
    try:
        ws = wb[SHEET_TITLE] if SHEET_TITLE in wb.sheetnames else wb.worksheets[0]
        ws.reset_dimensions()  # some programs write a wrong size ("A1"); read every row there is
        rows_iter = ws.iter_rows(values_only=True)
        header = next(rows_iter, None) or ()
        positions = {}
        for index, title in enumerate(header):
            key = HEADER_KEYS.get("".join(cell_text(title).split()).strip("*"))
            if key and key not in positions:
                positions[key] = index
        missing = [h for k, h in COLUMNS if k not in positions]
        if missing:
            return [], [{"row": 1, "column": h, "message": _("The header “%(header)s” is missing from row 1. "
                                                              "Use the template's headers.", header=h)}
                        for h in missing]
        rows = []
        id_at = positions["id_number"]
        for number, values in enumerate(rows_iter, start=2):
            if not any(v not in (None, "") and str(v).strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                return [], [{"row": number, "column": None,
                             "message": _("The sheet has more than %(n)d rows; split it into several files.",
                                          n=MAX_ROWS)}]
            cells = {k: cell_text(values[i]) if i < len(values) else "" for k, i in positions.items()}
            raw_id = values[id_at] if id_at < len(values) else None
            rows.append(Row(number, cells, isinstance(raw_id, int | float) and not isinstance(raw_id, bool)))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None
    finally:
        wb.close()
    if not rows:
        return [], [{"row": 2, "column": None, "message": _("The sheet has no rows under the headers.")}]
    return rows, []


def _roster_header(ws) -> None:
    for index, (key, _header) in enumerate(COLUMNS):
        letter = chr(ord("A") + index)
        ws.column_dimensions[letter].width = WIDTHS[key]
        if key in TEXT_COLUMNS:
            ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for _key, header in COLUMNS:
        cell = WriteOnlyCell(ws, value=header)
        cell.font = bold
        cells.append(cell)
    ws.append(cells)


def write_roster(rows: list[list[str]]) -> bytes:
    """An export: the header row, then one row per resident in COLUMNS order."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    # the size, written at the top when openpyxl's writer finds it: a read-only reader (ours) then
    # stops there instead of parsing the whole sheet once more just to size it
    ws.calculate_dimension = lambda: f"A1:{chr(ord('A') + len(COLUMNS) - 1)}{len(rows) + 1}"
    _roster_header(ws)
    text_at = [i for i, (k, _h) in enumerate(COLUMNS) if k in TEXT_COLUMNS]
    for values in rows:
        out = spreadsheet.row(ws, values)
        for i in text_at:
            if out[i]:
                out[i] = out[i] if isinstance(out[i], Cell) else spreadsheet.cell(ws, out[i])
                out[i].number_format = "@"
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_template(villages: list[str], grids: list[tuple[str, str]], tags: list[str],
                   relations: list[str]) -> bytes:
    """The empty roster sheet (relation and village pick-lists, text-formatted phone and ID
    columns) and a 填写说明 sheet: what goes in each column, the micro grids (village, what to
    write in 网格) and the tag names."""
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet(SHEET_TITLE)
    for index, (key, header) in enumerate(COLUMNS):
        letter = chr(ord("A") + index)
        ws.column_dimensions[letter].width = WIDTHS[key]
        cell = ws.cell(row=1, column=index + 1, value=header)
        cell.font = Font(bold=True)
        if key in TEXT_COLUMNS:
            ws.column_dimensions[letter].number_format = "@"
            for r in range(2, 2001):  # Excel applies a column's format to new typing only in styled cells
                ws.cell(row=r, column=index + 1).number_format = "@"
    ws.freeze_panes = "A2"
    relation_list = DataValidation(type="list", formula1='"' + ",".join(relations) + '"', allow_blank=True)
    relation_list.add("E2:E5000")
    ws.add_data_validation(relation_list)
    if villages and len(",".join(villages)) < 250:  # Excel's limit for an inline list
        village_list = DataValidation(type="list", formula1='"' + ",".join(villages) + '"', allow_blank=True)
        village_list.add("A2:A5000")
        ws.add_data_validation(village_list)

    guide = wb.create_sheet(GUIDE_TITLE)
    guide.column_dimensions["A"].width = 14
    guide.column_dimensions["B"].width = 90
    wrap = Alignment(wrap_text=True, vertical="top")
    heading = Font(bold=True)
    lines = [
        (_("Column"), _("What to write"), heading),
        ("村", _("The village's name. May be left empty when you choose the village on the upload page."), None),
        ("网格", _("The micro grid (微网格) the household belongs to: its name, or the full path "
                  "大/中/小/微 when two micro grids of the village share a name. See the list below."), None),
        ("门牌号", _("The door-plate address. Rows with the same village and door plate form one household."), None),
        ("姓名", _("The member's name."), None),
        ("与户主关系", _("户主 for the household head (exactly one per household); otherwise 配偶, 子, 女, "
                    "儿媳, 女婿, 孙子, 孙女, 父亲, 母亲, 兄弟, 姐妹, 其他 …"), None),
        ("联系电话", _("Optional. An 11-digit mobile number or a landline with its area code."), None),
        ("身份证号", _("Optional. The 18-character resident ID number. Keep this column formatted as text."), None),
        ("户标签", _("Optional. Household tags separated by 、 or a comma, e.g. 党员户、脱贫户. The same on "
                  "every row of the household, or only on one of them."), None),
        ("备注", _("Optional. A note on the household."), None),
        ("", "", None),
        (_("Importing"), _("Upload the file, read the preview and confirm: all rows are imported or none. "
                          "Importing the same file again changes nothing; members missing from the sheet "
                          "are not removed. Empty phone or ID cells keep what is stored."), heading),
        ("", "", None),
        (_("Micro grids"), "", heading),
    ]
    lines += [(village, grid, None) for village, grid in grids] or [
        ("", _("No micro grid yet: build the grid first."), None)]
    lines += [("", "", None), (_("Household tags"), "、".join(tags), heading)]
    for r, (a, b, font) in enumerate(lines, start=1):
        first = spreadsheet.put(guide, r, 1, a)
        if font:
            first.font = font
        spreadsheet.put(guide, r, 2, b).alignment = wrap
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
