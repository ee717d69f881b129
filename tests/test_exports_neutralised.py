"""Formula injection (issue 12): every xlsx export keeps text that starts with =, +, - or @ as
text. A resident named `=HYPERLINK(...)` must not become a formula on the bank clerk's machine.

The walk finds every route whose view writes a workbook (its source names an xlsx response), so a
new export route fails here until it is added to EXPORTS and checked."""
from __future__ import annotations

import inspect
import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from jifen.platform import spreadsheet
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.villages.models import GridNode
from tests.conftest import api_token, bearer, page_login
from tests.honours_world import who
from tests.test_dividends import dw, pool_data  # noqa: F401  (dw: the dividends world fixture)

EVIL_NAME = '=HYPERLINK("http://evil.example","点我")'
EVIL_PLATE = "+86-1号"
EVIL_TITLE = "@SUM(1+1)分红"
EVIL_GRID = "-1网格"
DANGEROUS = ("=", "+", "-", "@")

# every route that answers with a workbook: rule -> how the test reaches it (filled in below)
EXPORTS = {
    "/t/<tenant_slug>/roster/template", "/t/<tenant_slug>/roster/export",
    "/t/<tenant_slug>/honours/lists/<uuid:recommendation_list_id>/export",
    "/t/<tenant_slug>/dividends/runs/<uuid:dividend_run_id>/sheet.xlsx",
    "/api/v1/t/<tenant_slug>/roster/template", "/api/v1/t/<tenant_slug>/roster/export",
    "/api/v1/t/<tenant_slug>/honours/lists/<uuid:recommendation_list_id>/export",
    "/api/v1/t/<tenant_slug>/dividends/runs/<uuid:dividend_run_id>/sheet",
    "/t/<tenant_slug>/trend/households/<uuid:household_id>.xlsx",  # a chart's numbers (platform/charts/xlsx.py)
    "/t/<tenant_slug>/cockpit/",  # ?format=xlsx: every dashboard chart's numbers
}
MARKERS = ("xlsx_response", "XLSX_MIMETYPE", "spreadsheetml", "charts_download")


def _writes_a_workbook(view) -> bool:
    target = getattr(view, "view_class", view)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        return False
    return any(m in source for m in MARKERS)


def test_every_workbook_route_is_walked_here(app):
    found = {str(rule) for rule in app.url_map.iter_rules()
             if _writes_a_workbook(app.view_functions[rule.endpoint])}
    assert found == EXPORTS


def test_the_cell_writer_keeps_text_as_text_in_both_workbook_modes():
    for write_only in (True, False):
        book = Workbook(write_only=write_only)
        sheet = book.create_sheet("x") if write_only else book.active
        spreadsheet.append(sheet, ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "正常", 3, None])
        out = io.BytesIO()
        book.save(out)
        row = next(load_workbook(io.BytesIO(out.getvalue())).worksheets[0].iter_rows())
        assert [c.value for c in row[:7]] == ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "正常", 3]
        assert [c.data_type for c in row[:6]] == ["s"] * 6  # never a formula
        assert [c.quotePrefix for c in row[:6]] == [True] * 5 + [False]
    assert spreadsheet.csv_text("=1+1") == "'=1+1" and spreadsheet.csv_text("正常") == "正常"


def _plant(app, world, dw):  # noqa: F811
    """An evil head name and door plate in 官田村, an evil micro-grid name."""
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            household = db.session.get(Household, (world.a.tenant_id, dw.households["王五"]))
            household.head_name, household.door_plate = EVIL_NAME, EVIL_PLATE
            head = db.session.execute(select(Resident).where(Resident.household_id == household.id)).scalar_one()
            head.name = EVIL_NAME
            db.session.get(GridNode, (world.a.tenant_id, world.a.grid[-1])).name = EVIL_GRID
            from jifen.tenants.honours import recommendations
            rec = recommendations.create_list(who("admin"), {"name_zh": "全部", "min_points": 0})
            db.session.commit()
            return rec.id


def _check(resp, must_contain) -> None:
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:300])
    book = load_workbook(io.BytesIO(resp.data))
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith(DANGEROUS):
                    assert c.data_type == "s" and c.quotePrefix, (sheet.title, c.coordinate, c.value)
                    seen.add(c.value)
    assert set(must_contain) <= seen, (must_contain, seen)


def test_every_export_route_neutralises_formula_cells(app, world, dw, client):  # noqa: F811
    rec = _plant(app, world, dw)
    admin = bearer(api_token(client, "alpha", "admin"))
    api = "/api/v1/t/alpha"
    pool = client.post(f"{api}/dividends/pools/", json=pool_data(dw, title=EVIL_TITLE), headers=admin).get_json()
    run = client.post(f"{api}/dividends/pools/{pool['id']}/simulate", headers=admin).get_json()
    assert client.post(f"{api}/dividends/runs/{run['id']}/approve", headers=admin).status_code == 200
    village = dw.village
    walked = {
        "/api/v1/t/<tenant_slug>/roster/export": (f"{api}/roster/export", [EVIL_NAME, EVIL_PLATE]),
        "/api/v1/t/<tenant_slug>/roster/template": (f"{api}/roster/template?village_id={village}", [EVIL_GRID]),
        "/api/v1/t/<tenant_slug>/honours/lists/<uuid:recommendation_list_id>/export":
            (f"{api}/honours/lists/{rec}/export?village_id={village}", [EVIL_NAME, EVIL_PLATE]),
        "/api/v1/t/<tenant_slug>/dividends/runs/<uuid:dividend_run_id>/sheet":
            (f"{api}/dividends/runs/{run['id']}/sheet", [EVIL_NAME, EVIL_PLATE, EVIL_TITLE]),
    }
    for url, planted in walked.values():
        _check(client.get(url, headers=admin), planted)
    pages = app.test_client()
    assert page_login(pages, "alpha", "admin").status_code == 302
    for rule, (url, planted) in list(walked.items()):
        page_rule = rule.replace("/api/v1", "").replace("/sheet", "/sheet.xlsx")
        page_url = url.replace("/api/v1", "").replace("/sheet", "/sheet.xlsx")
        _check(pages.get(page_url), planted)
        walked[page_rule] = (page_url, planted)
    trend = f"/t/alpha/trend/households/{dw.households['王五']}.xlsx"  # month labels and numbers only
    _check(pages.get(trend), [])
    walked["/t/<tenant_slug>/trend/households/<uuid:household_id>.xlsx"] = (trend, [])
    cockpit = "/t/alpha/cockpit/?format=xlsx"
    _check(pages.get(cockpit), [])  # (the planted names are a micro grid and a household: not on it)
    walked["/t/<tenant_slug>/cockpit/"] = (cockpit, [])
    assert set(walked) == EXPORTS
