"""The bank payment sheet (xlsx) of an approved dividend run.

One row per household with an amount above zero, by village (pinyin) and door plate: 序号, 户主,
身份证号 (of the head; masked unless the actor may see ID numbers of that village), 村, 门牌号,
金额(元), and a blank bank-account column the village fills in (Jifen keeps no bank accounts). A
last row gives the total, which equals the pool to the fen. Written in openpyxl's write-only mode,
a keyset page of rows at a time, so a township of a million households streams through.
"""
from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import and_, func, select

from jifen.platform import spreadsheet
from jifen.platform.db import db
from jifen.platform.errors import Conflict
from jifen.platform.pinyin import pinyin_key
from jifen.platform.roles.authz import Actor, action, authorize, may
from jifen.platform.sealed import unseal
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.tenants.dividends.models import SETTLED, DividendPayout, DividendRun
from jifen.tenants.dividends.pools import yuan_plain
from jifen.tenants.dividends.settlement import door_plate_order, payout_villages, pool_of
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.households.rules import mask_id_number
from jifen.tenants.households.service import identity_read
from jifen.tenants.villages.models import Village

BATCH = 5000
MONEY = "#,##0.00"


def _money(fen: int) -> Decimal:
    return Decimal(yuan_plain(fen))


def _rows(run: DividendRun, village_id):
    """(payout, household, head's ID number) of one village, by door plate (`door_plate_order`) then
    id, in keyset pages."""
    after = None
    head = select(Resident.household_id, Resident.id_number_sealed).where(
        Resident.relation == "head", Resident.left_on.is_(None)).subquery()
    while True:
        query = (select(DividendPayout, Household, head.c.id_number_sealed)
                 .join(Household, Household.id == DividendPayout.household_id)
                 .outerjoin(head, head.c.household_id == DividendPayout.household_id)
                 .where(DividendPayout.run_id == run.id, DividendPayout.village_id == village_id,
                        DividendPayout.amount_fen > 0)
                 .order_by(*door_plate_order(), Household.id).limit(BATCH))
        if after is not None:  # keyset: after the last row of the previous batch, in the same order
            size, plate, hid = after
            length = func.length(Household.door_plate)
            query = query.where((length > size) | and_(length == size, Household.door_plate > plate)
                                | and_(length == size, Household.door_plate == plate, Household.id > hid))
        rows = db.session.execute(query).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = rows[-1][1]
        after = (len(last.door_plate), last.door_plate, last.id)


@action("dividend.pay")
def payment_sheet(actor: Actor, run_id) -> tuple[bytes, str]:
    """The xlsx for the bank, and its file name. From approval on (the bank needs it to pay)."""
    run = tenant_get_or_404(DividendRun, run_id)
    authorize(actor, "dividend.pay", run)
    if run.state not in SETTLED:
        raise Conflict(_("The payment sheet is made once the run is approved."), {"state": [run.state]})
    pool = pool_of(run)
    villages = sorted((tenant_get(Village, v) for v in payout_villages(run)), key=lambda v: pinyin_key(v.name))
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Payment"))
    bold = Font(bold=True)
    headers = [_("Serial no."), _("Head of household"), _("ID number"), _("Village"), _("Door plate"), _("Amount (yuan)"),
               _("Bank account")]
    for width, letter in zip((7, 12, 22, 12, 14, 14, 26), "ABCDEFG", strict=True):
        sheet.column_dimensions[letter].width = width
    title = spreadsheet.cell(sheet, f"{pool.title}")
    title.font = Font(bold=True, size=14)
    sheet.append([title])

    def header_cell(text):
        cell = spreadsheet.cell(sheet, text)
        cell.font = bold
        return cell

    sheet.append([header_cell(h) for h in headers])
    number, total, revealed = 0, 0, 0
    for village in villages:
        reveal = may(actor, "household.view_id_numbers", village)
        for payout, household, id_sealed in _rows(run, village.id):
            id_number = unseal(id_sealed)
            revealed += bool(reveal and id_number)
            number += 1
            total += payout.amount_fen
            amount = WriteOnlyCell(sheet, _money(payout.amount_fen))
            amount.number_format = MONEY
            spreadsheet.append(sheet, [number, household.head_name, (id_number or "") if reveal else mask_id_number(id_number),
                          village.name, household.door_plate, amount, ""])
    total_cell = WriteOnlyCell(sheet, _money(total))
    total_cell.number_format, total_cell.font = MONEY, bold
    spreadsheet.append(sheet, [header_cell(_("Total")), header_cell(_("%(n)d households", n=number)), "", "", "", total_cell, ""])
    assert total == run.amount_fen, (total, run.amount_fen)
    identity_read(actor, run, purpose="dividend_payment_sheet", count=revealed)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), f"dividend-{pool.period}-{run.number}.xlsx"
