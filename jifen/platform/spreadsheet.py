"""The one way to put a value in an exported workbook: text stays text (formula injection).

A spreadsheet program runs a cell that starts with `=`, `+`, `-` or `@` as a formula (a name such
as `=HYPERLINK(...)` typed by a resident would run on the bank clerk's machine). openpyxl even
stores a string starting with `=` as a formula. Every text value in an export goes through `cell`
or `put`: it is stored as a text cell, and one that starts with one of those characters (or a tab
or carriage return) also gets Excel's "quote prefix" - what Excel itself stores when someone types
`'=1+1` - so it shows the text exactly as written and stays text even when the cell is edited.
The text is not changed, so an exported roster imports back unchanged. CSV has no such flag:
`csv_text` prefixes those values with an apostrophe.

A workbook cannot hold the ASCII control characters other than tab, LF and CR (openpyxl raises
on them): `cell` and `put` write each as U+FFFD, so one stray byte in a name cannot stop an export.
"""
from __future__ import annotations

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def is_dangerous(value) -> bool:
    return isinstance(value, str) and value.startswith(DANGEROUS)


def neutralise(c: Cell) -> Cell:
    """Make a cell holding text a plain text cell (never a formula), quote-prefixed when needed."""
    if isinstance(c.value, str):
        c.data_type = "s"
        if is_dangerous(c.value):
            c.quotePrefix = True
    return c


def storable(value):
    """`value`, with the control characters a workbook cannot hold replaced (text only)."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def cell(ws, value) -> Cell:
    """A cell for `ws.append` (write-only or not); style it as needed after."""
    return neutralise(WriteOnlyCell(ws, storable(value)))


def row(ws, values) -> list:
    """A row for `ws.append`: every text value (or ready-made cell) neutralised. Text that starts
    with none of DANGEROUS goes in as the plain value: openpyxl makes a string a text cell unless
    it starts with "=", which is one of them (an export of a township's 700,000 cells took about a
    fifth less time without a cell object for each)."""
    return [neutralise(v) if isinstance(v, Cell) else cell(ws, v) if is_dangerous(v)
            else storable(v) if isinstance(v, str) else v for v in values]


def append(ws, values) -> None:
    ws.append(row(ws, values))


def put(ws, r: int, c: int, value) -> Cell:
    """`ws.cell(row, column, value)` for a workbook that is not write-only."""
    target = ws.cell(row=r, column=c)
    target.value = storable(value)
    return neutralise(target)


def csv_text(value):
    """A CSV field: text that a spreadsheet would run gets a leading apostrophe."""
    return "'" + value if is_dangerous(value) else value
