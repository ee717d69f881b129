"""The village roster (花名册): template, upload → preview → confirm, re-import, export, every error
kind by row and column, oversized and unreadable uploads, scope, and the demo households."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.files.models import StoredFile
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household, HouseholdEvent, HouseholdTag, Resident, RosterImport
from jifen.tenants.households.roster_excel import COLUMNS
from jifen.tenants.households.rules import ID_CHECK, ID_WEIGHTS
from jifen.tenants.villages.models import GridNode
from tests.conftest import CSRF_RE, api_token, bearer, csrf_token, page_login

HEADERS = [h for _k, h in COLUMNS]
API = "/api/v1/t/alpha/roster"


def id_no(birth: str, seq: int) -> str:
    body = f"441622{birth}{seq:03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


A1, A2, A3 = id_no("19700101", 11), id_no("19720202", 22), id_no("19980303", 31)
B1, B2 = id_no("19650505", 51), id_no("19900606", 62)


def xlsx(rows, headers=HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(headers)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# 村 | 网格 | 门牌号 | 姓名 | 与户主关系 | 联系电话 | 身份证号 | 户标签 | 备注
GOOD = [
    ["官田村", "上屋", "上屋组8号", "王大明", "户主", "13800138000", A1, "党员户、脱贫户", "老党员"],
    ["官田村", "上屋", "上屋组8号", "刘秀英", "配偶", "", A2, "党员户、脱贫户", ""],
    ["官田村", "上屋", "上屋组8号", "王小军", "长子", 13900139000, A3, "", ""],
    ["官田村", "下屋", "下屋组3号", "黄建国", "户主", "0762-7123456", B1, "军属", ""],
    ["官田村", "下屋", "下屋组3号", "黄丽", "女儿", "", "", "", ""],
]


def _grid(village_id, small_id, extra_village_id):
    """Micro nodes under the world's small node of 官田村 (上屋, 下屋, 新屋, a retired 旧屋), a second
    small node with another 新屋, and a micro node 礼坑一组 in 礼坑村."""
    def add(name, level, parent, village, retired=False):
        parent_node = db.session.get(GridNode, (tenant_id(), parent)) if parent else None
        node = GridNode(level=level, name=name, village_id=village, parent_id=parent, path="",
                        retired_at=datetime.now(timezone.utc) if retired else None)
        db.session.add(node)
        db.session.flush()
        node.path = (parent_node.path if parent_node else "/") + f"{node.id}/"
        return node.id

    for name in ("上屋", "下屋", "新屋"):
        add(name, 4, small_id, village_id)
    add("旧屋", 4, small_id, village_id, retired=True)
    small2 = add("小网格二", 3, db.session.get(GridNode, (tenant_id(), small_id)).parent_id, village_id)
    add("新屋", 4, small2, village_id)
    big = add("礼坑大网格", 1, None, extra_village_id)
    mid = add("礼坑中网格", 2, big, extra_village_id)
    small = add("礼坑小网格", 3, mid, extra_village_id)
    add("礼坑一组", 4, small, extra_village_id)


def tenant_id():
    from jifen.platform.tenancy import current_tenant_id

    return current_tenant_id()


@pytest.fixture
def alpha(app, world):
    """The world with the roster's grid in township alpha."""
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            _grid(world.a.villages[0], world.a.grid[2], world.a.villages[1])
        db.session.commit()
    return world


@pytest.fixture
def admin_api(app, alpha):
    client = app.test_client()
    return client, bearer(api_token(client, "alpha", "admin"))


def upload(client, headers, data: bytes, village_id=None, name="花名册.xlsx"):
    form = {"file": (io.BytesIO(data), name)}
    if village_id:
        form["village_id"] = str(village_id)
    return client.post(f"{API}/imports", data=form, headers=headers, content_type="multipart/form-data")


def english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


def in_alpha(app, world, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            result = fn()
            db.session.commit()  # the test runs its own unit of work: services never commit
            return result


def snapshot(app, world):
    """Every household, resident and tag of alpha, as plain tuples."""
    def read():
        households = db.session.execute(select(
            Household.id, Household.door_plate, Household.grid_node_id, Household.head_name, Household.head_pinyin,
            Household.note, Household.updated_at).order_by(Household.id)).all()
        residents = db.session.execute(select(
            Resident.id, Resident.household_id, Resident.name, Resident.relation, Resident.phone,
            Resident.id_number_hmac, Resident.sort_order).order_by(Resident.id)).all()
        tags = db.session.execute(select(HouseholdTag.household_id, HouseholdTag.tag)
                                  .order_by(HouseholdTag.household_id, HouseholdTag.tag)).all()
        return [tuple(r) for r in households], [tuple(r) for r in residents], [tuple(t) for t in tags]
    return in_alpha(app, world, read)


def unchanged(summary) -> bool:
    return (summary["households_created"] == summary["households_updated"] == 0
            and summary["residents_created"] == summary["residents_updated"] == 0)


def import_good(client, headers, rows=GOOD):
    resp = upload(client, headers, xlsx(rows))
    assert resp.status_code == 201, resp.get_json()
    imp = resp.get_json()
    assert imp["status"] == "previewed", imp["errors"]
    done = client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers)
    assert done.status_code == 202, done.get_json()
    return client.get(done.headers["Location"], headers=headers).get_json()  # the job ran after the commit


# --- template -----------------------------------------------------------------------------------

def test_template_downloads_with_headers_guide_and_text_columns(app, admin_api):
    client, headers = admin_api
    resp = client.get(f"{API}/template", headers=headers)
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["花名册", "填写说明"]
    assert [c.value for c in wb["花名册"][1]] == HEADERS
    assert wb["花名册"]["G2"].number_format == "@" and wb["花名册"]["F2"].number_format == "@"
    guide = " ".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    assert "上屋" in guide and "党员户" in guide and "军属" in guide
    assert "旧屋" not in guide  # retired
    assert "小网格/新屋" in guide  # the ambiguous name is listed by its path
    page = app.test_client()
    page_login(page, "alpha", "admin")
    got = page.get("/t/alpha/roster/template")
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    assert "/t/alpha/roster/" in page.get("/t/alpha/").get_data(as_text=True)  # the console tile


# --- import ---------------------------------------------------------------------------------------

def test_good_file_previews_clean_and_imports_everything(app, admin_api, alpha):
    client, headers = admin_api
    resp = upload(client, headers, xlsx(GOOD))
    imp = resp.get_json()
    assert resp.status_code == 201 and imp["status"] == "previewed" and imp["errors"] == []
    assert imp["row_count"] == 5
    assert imp["summary"].items() >= {"households_created": 2, "residents_created": 5, "households_updated": 0}.items()
    assert in_alpha(app, alpha, lambda: db.session.execute(
        select(func.count()).select_from(Household)).scalar()) == 1  # only the world's own: nothing yet
    done = client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers)
    assert done.status_code == 202 and done.get_json()["status"] == "importing"
    assert done.get_json()["url"] == done.headers["Location"] == f"{API}/imports/{imp['id']}"
    now = client.get(done.headers["Location"], headers=headers).get_json()  # in the embedded default the job ran
    assert now["status"] == "imported" and now["rows_done"] == 5 and now["percent"] == 100

    def check():
        h = db.session.execute(select(Household).where(Household.door_plate == "上屋组8号")).scalar_one()
        assert (h.head_name, h.head_pinyin, h.head_initials, h.note) == ("王大明", "wangdaming", "wdm", "老党员")
        assert db.session.get(GridNode, (h.tenant_id, h.grid_node_id)).name == "上屋"
        members = db.session.execute(select(Resident).where(Resident.household_id == h.id)
                                     .order_by(Resident.sort_order)).scalars().all()
        assert [(m.name, m.relation, m.phone, m.id_number) for m in members] == [
            ("王大明", "head", "13800138000", A1), ("刘秀英", "spouse", None, A2),
            ("王小军", "child", "13900139000", A3)]
        assert members[2].name_pinyin == "wangxiaojun" and members[2].name_initials == "wxj"
        tags = set(db.session.execute(select(HouseholdTag.tag).where(HouseholdTag.household_id == h.id)).scalars())
        assert tags == {"party_member", "poverty_alleviated"}
        other = db.session.execute(select(Household).where(Household.door_plate == "下屋组3号")).scalar_one()
        assert db.session.execute(select(Resident.phone).where(Resident.household_id == other.id,
                                                               Resident.relation == "head")).scalar() == "0762-7123456"
        events = db.session.execute(select(HouseholdEvent.kind)).scalars().all()
        assert events == ["created", "created"]
        entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "household.import")).scalar_one()
        assert entry.object_type == "roster_imports" and entry.object_id == imp["id"]
        assert entry.after["households_created"] == 2 and entry.after["residents_created"] == 5
    in_alpha(app, alpha, check)
    again = client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers)
    assert again.status_code == 409  # imported once


def test_bad_row_is_listed_confirm_refused_then_fixed_file_imports(app, alpha):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    english(client)
    bad = [row[:] for row in GOOD]
    bad[1][5] = "12345"  # row 3: phone
    token = csrf_token(client, "/t/alpha/roster/")
    resp = client.post("/t/alpha/roster/", data={"file": (io.BytesIO(xlsx(bad)), "花名册.xlsx"), "csrf_token": token},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    preview_url = resp.headers["Location"]
    html = client.get(preview_url).get_data(as_text=True)
    assert "联系电话" in html and "“12345” is not a phone number" in html
    assert "Confirm the import" not in html
    before = snapshot(app, alpha)
    refused = client.post(preview_url + "/confirm", data={"csrf_token": token})
    assert refused.status_code == 409
    assert snapshot(app, alpha) == before
    with app.app_context():
        imp = db.session.execute(select(RosterImport).execution_options(all_tenants=True)).scalar_one()
        assert imp.status == "invalid" and imp.errors == [
            {"row": 3, "column": "联系电话", "message": imp.errors[0]["message"]}]
    resp = client.post("/t/alpha/roster/", data={"file": (io.BytesIO(xlsx(GOOD)), "花名册.xlsx"), "csrf_token": token},
                       content_type="multipart/form-data")
    fixed_url = resp.headers["Location"]
    page = client.get(fixed_url).get_data(as_text=True)
    assert "roster/" in page and CSRF_RE.search(page)
    assert client.post(fixed_url + "/confirm", data={"csrf_token": token}).status_code == 302
    done = client.get(fixed_url).get_data(as_text=True)
    assert "Imported on" in done
    assert len(snapshot(app, alpha)[1]) == 1 + 5


def test_reimporting_the_same_file_changes_nothing(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers)
    before = snapshot(app, alpha)
    resp = upload(client, headers, xlsx(GOOD))
    summary = resp.get_json()["summary"]
    assert unchanged(summary) and summary["households_unchanged"] == 2 and summary["residents_unchanged"] == 5
    again = import_good(client, headers)
    assert unchanged(again["summary"])
    assert snapshot(app, alpha) == before


def test_changed_fields_are_updated_and_new_members_added_none_removed(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers)
    changed = [row[:] for row in GOOD]
    changed[0][1] = changed[2][1] = "大网格/中网格/小网格二/新屋"  # 新屋 alone is ambiguous: its path
    changed[1][1] = ""  # a household's grid may be written on one row only
    changed[0][7] = changed[1][7] = "党员户"  # 脱贫户 removed
    changed[1][5] = "13700137000"  # spouse gets a phone
    del changed[4]  # 黄丽 missing from the sheet: kept
    changed.append(["官田村", "下屋", "下屋组3号", "黄小宝", "孙子", "", "", "", ""])
    summary = import_good(client, headers, changed)["summary"]
    assert summary.items() >= {"households_updated": 1, "households_unchanged": 1, "residents_created": 1,
                               "residents_updated": 1, "residents_unchanged": 3}.items()

    def check():
        h = db.session.execute(select(Household).where(Household.door_plate == "上屋组8号")).scalar_one()
        node = db.session.get(GridNode, (h.tenant_id, h.grid_node_id))
        assert node.name == "新屋" and node.level == 4
        assert set(db.session.execute(select(HouseholdTag.tag).where(HouseholdTag.household_id == h.id))
                   .scalars()) == {"party_member"}
        assert db.session.execute(select(Resident.phone).where(Resident.name == "刘秀英")).scalar() == "13700137000"
        assert set(db.session.execute(select(Resident.name).join(Household, Household.id == Resident.household_id)
                                      .where(Household.door_plate == "下屋组3号")).scalars()) == {"黄建国", "黄丽",
                                                                                                 "黄小宝"}
    in_alpha(app, alpha, check)


def test_admin_export_reimports_to_no_change(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers)
    before = snapshot(app, alpha)
    resp = client.get(f"{API}/export", headers=headers)
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data))["花名册"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == HEADERS
    assert any(A1 in (r[6] or "") for r in rows) and any(r[5] == "13800138000" for r in rows)
    again = upload(client, headers, resp.data).get_json()
    assert again["status"] == "previewed" and unchanged(again["summary"]), again
    assert again["summary"]["households_unchanged"] == 3  # the world's 1号 too
    assert client.post(f"{API}/imports/{again['id']}/confirm", headers=headers).status_code == 202
    assert snapshot(app, alpha) == before


def test_masked_export_by_village_admin_reimports_without_touching_ids(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers)
    before = snapshot(app, alpha)
    vadmin = app.test_client()
    vheaders = bearer(api_token(vadmin, "alpha", "vadmin"))
    resp = vadmin.get(f"{API}/export?masked=true", headers=vheaders)
    assert resp.status_code == 200
    cells = [str(c.value or "") for r in load_workbook(io.BytesIO(resp.data))["花名册"].iter_rows() for c in r]
    assert A1 not in cells and "4416**********" + A1[-4:] in cells and "138****8000" in cells
    again = upload(vadmin, vheaders, resp.data).get_json()
    assert again["status"] == "previewed" and unchanged(again["summary"]), again
    assert vadmin.post(f"{API}/imports/{again['id']}/confirm", headers=vheaders).status_code == 202
    assert snapshot(app, alpha) == before
    full = vadmin.get(f"{API}/export", headers=vheaders)  # a village admin may see their village's IDs
    assert A1 in [str(c.value) for r in load_workbook(io.BytesIO(full.data))["花名册"].iter_rows() for c in r]


# --- every kind of error, by row and column --------------------------------------------------------

def test_every_error_kind_is_listed_by_row_and_column(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers, GOOD[:3])  # 上屋组8号 exists with A1..A3
    rows = [
        ["官田村", "上屋", "", "李四", "户主", "", "", "", ""],                          # 2 门牌号 missing
        ["官田村", "上屋", "1A号", "", "户主", "", "", "", ""],                           # 3 姓名 missing
        ["官田村", "上屋", "1B号", "李五", "", "", "", "", ""],                           # 4 与户主关系 missing
        ["石头村", "上屋", "1C号", "李六", "户主", "", "", "", ""],                       # 5 unknown village
        ["官田村", "无此网格", "1D号", "李七", "户主", "", "", "", ""],                   # 6 unknown grid
        ["官田村", "新屋", "1E号", "李八", "户主", "", "", "", ""],                       # 7 ambiguous grid
        ["官田村", "小网格", "1F号", "李九", "户主", "", "", "", ""],                     # 8 not micro
        ["官田村", "旧屋", "1G号", "李十", "户主", "", "", "", ""],                       # 9 retired
        ["官田村", "礼坑一组", "1H号", "陈一", "户主", "", "", "", ""],                   # 10 another village's grid
        ["官田村", "上屋", "2号", "陈二", "户主", "", "", "", ""],                        # 11
        ["官田村", "上屋", "2号", "陈三", "户主", "", "", "", ""],                        # 12 two heads
        ["官田村", "上屋", "3号", "陈四", "户主", "", B1, "", ""],                        # 13
        ["官田村", "上屋", "4号", "陈五", "户主", "", B1, "", ""],                        # 14 ID twice in sheet
        ["官田村", "上屋", "5号", "陈六", "户主", "", A2, "", ""],                        # 15 ID of another household
        ["官田村", "上屋", "6号", "陈七", "户主", "1380013800", "", "", ""],              # 16 bad phone
        ["官田村", "上屋", "7号", "陈八", "户主", "", A1[:-1] + ("0" if A1[-1] != "0" else "1"), "", ""],  # 17 check digit
        ["官田村", "上屋", "8号", "陈九", "老表", "", "", "", ""],                        # 18 unknown relation
        ["官田村", "上屋", "9号", "陈十", "户主", "", "", "党员户、富裕户", ""],          # 19 unknown tag
        ["官田村", "上屋", "10号", "钟一", "配偶", "", "", "", ""],                       # 20 no head
        ["官田村", "上屋", "11号", "钟二", "户主", "", 441622197001011234.0, "", ""],     # 21 numeric ID
        ["官田村", "", "12号", "钟三", "户主", "", "", "", ""],                           # 22 grid missing
        ["官田村", "上屋", "13号", "钟四", "户主", "", "", "", ""],
        ["官田村", "下屋", "13号", "钟五", "子", "", "", "", ""],                         # 24 grid differs
        ["官田村", "上屋", "14号", "钟六", "户主", "", "", "", ""],
        ["官田村", "上屋", "14号", "钟六", "子", "", "", "", ""],                         # 26 same name twice
    ]
    resp = upload(client, headers, xlsx(rows))
    imp = resp.get_json()
    assert resp.status_code == 201 and imp["status"] == "invalid"
    found = {(e["row"], e["column"]) for e in imp["errors"]}
    expected = {(2, "门牌号"), (3, "姓名"), (4, "与户主关系"), (5, "村"), (6, "网格"), (7, "网格"), (8, "网格"),
                (9, "网格"), (10, "网格"), (12, "与户主关系"), (14, "身份证号"), (15, "身份证号"), (16, "联系电话"),
                (17, "身份证号"), (18, "与户主关系"), (19, "户标签"), (20, "与户主关系"), (21, "身份证号"), (22, "网格"),
                (24, "网格"), (26, "姓名")}
    assert found == expected, sorted(found ^ expected)
    by = {(e["row"], e["column"]): e["message"] for e in imp["errors"]}
    assert "石头村" in by[(5, "村")]
    assert "大网格/中网格/小网格/新屋" in by[(7, "网格")]
    assert "礼坑村" in by[(10, "网格")]
    assert "11" in by[(12, "与户主关系")]
    assert "13" in by[(14, "身份证号")] and "上屋组8号" in by[(15, "身份证号")]
    assert "富裕户" in by[(19, "户标签")]
    assert imp["summary"]["error_count"] == len(expected)
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 409


def test_current_head_missing_from_the_sheet_is_an_error(app, admin_api, alpha):
    client, headers = admin_api
    import_good(client, headers, GOOD[:3])
    rows = [["官田村", "上屋", "上屋组8号", "王小军", "户主", "", A3, "", ""]]
    imp = upload(client, headers, xlsx(rows)).get_json()
    assert [(e["row"], e["column"]) for e in imp["errors"]] == [(2, "与户主关系")]
    assert "王大明" in imp["errors"][0]["message"]


@pytest.mark.parametrize("headers_row,missing", [
    (["村", "网格", "门牌", "姓名", "与户主关系", "联系电话", "身份证号", "户标签", "备注"], "门牌号"),
    (["村", "网格", "门牌号", "姓名", "联系电话", "身份证号", "户标签", "备注"], "与户主关系"),
])
def test_wrong_headers_name_the_missing_header(app, admin_api, headers_row, missing):
    client, headers = admin_api
    imp = upload(client, headers, xlsx([["官田村"] * len(headers_row)], headers=headers_row)).get_json()
    assert imp["status"] == "invalid"
    assert [(e["row"], e["column"]) for e in imp["errors"]] == [(1, missing)]


def test_empty_sheet_is_an_error(app, admin_api):
    client, headers = admin_api
    imp = upload(client, headers, xlsx([])).get_json()
    assert imp["status"] == "invalid" and len(imp["errors"]) == 1 and imp["errors"][0]["row"] == 2


@pytest.mark.parametrize("data", [b"name,door\n\xe5\xbc\xa0,1\n", b"PK\x03\x04" + b"\x00" * 200])
def test_not_xlsx_or_corrupt_is_a_field_error_and_writes_nothing(app, admin_api, alpha, data):
    client, headers = admin_api
    resp = upload(client, headers, data, name="roster.xlsx")
    assert resp.status_code == 422
    assert "file" in resp.get_json()["errors"]["json"]
    page = app.test_client()
    page_login(page, "alpha", "admin")
    english(page)
    token = csrf_token(page, "/t/alpha/roster/")
    html = page.post("/t/alpha/roster/", data={"file": (io.BytesIO(data), "roster.xlsx"), "csrf_token": token},
                     content_type="multipart/form-data")
    assert html.status_code == 422
    text = html.get_data(as_text=True)
    assert 'id="e-file"' in text and ".xlsx" in text
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(RosterImport)
                                  .execution_options(all_tenants=True)).scalar() == 0


def test_no_file_is_a_field_error(app, alpha):
    page = app.test_client()
    page_login(page, "alpha", "admin")
    english(page)
    token = csrf_token(page, "/t/alpha/roster/")
    resp = page.post("/t/alpha/roster/", data={"csrf_token": token}, content_type="multipart/form-data")
    assert resp.status_code == 422 and 'id="e-file"' in resp.get_data(as_text=True)


def test_too_large_upload_gets_413_naming_the_limit(app, admin_api):
    client, headers = admin_api
    over_10 = upload(client, headers, b"PK\x03\x04" + b"0" * (11 * 1024 * 1024))  # the spreadsheet limit
    assert over_10.status_code == 422 and "10" in over_10.get_json()["errors"]["json"]["file"][0]
    big = b"PK\x03\x04" + b"0" * (21 * 1024 * 1024)  # over the request limit: refused unread
    resp = upload(client, headers, big)
    assert resp.status_code == 413
    body = resp.get_json()
    assert body["code"] == 413 and "20 MB" in body["message"]
    page = app.test_client()
    page_login(page, "alpha", "admin")
    english(page)
    token = csrf_token(page, "/t/alpha/roster/")
    resp = page.post("/t/alpha/roster/", data={"file": (io.BytesIO(big), "big.xlsx"), "csrf_token": token},
                     content_type="multipart/form-data")
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert 'id="e-file"' in html and "20 MB" in html  # the form again, the message at the file field


# --- scope ---------------------------------------------------------------------------------------

def test_village_admin_imports_only_into_their_village(app, alpha):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "vadmin"))
    rows = [["礼坑村", "礼坑一组", "1号", "李四", "户主", "", "", "", ""]]
    imp = upload(client, headers, xlsx(rows)).get_json()
    assert imp["status"] == "invalid" and [(e["row"], e["column"]) for e in imp["errors"]] == [(2, "村")]
    resp = upload(client, headers, xlsx(rows), village_id=alpha.a.villages[1])
    assert resp.status_code == 409 and "village_id" in resp.get_json()["errors"]["json"]
    own = [["", "上屋", "上屋组1号", "李四", "户主", "", "", "", ""]]  # 村 empty: the chosen village
    imp = upload(client, headers, xlsx(own), village_id=alpha.a.villages[0]).get_json()
    assert imp["status"] == "previewed", imp["errors"]
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 202
    admin = app.test_client()
    admin_headers = bearer(api_token(admin, "alpha", "admin"))
    township = upload(admin, admin_headers, xlsx([["官田村", "上屋", "上屋组2号", "李五", "户主", "", "", "", ""]]))
    hidden = township.get_json()["id"]
    assert client.get(f"{API}/imports/{hidden}", headers=headers).status_code == 404  # not theirs
    gridder = bearer(api_token(app.test_client(), "alpha", "gridder"))
    assert client.get(f"{API}/template", headers=gridder).status_code == 403


def test_a_village_of_another_township_is_a_409_naming_it_and_nothing_is_kept(app, admin_api, alpha):
    """The form's village is documented as what a form can carry (an id, never null); a village that
    is not one of the caller's is the township's data refusing it: 409, the upload not kept."""
    client, headers = admin_api

    def kept() -> tuple[int, int]:
        with app.app_context():
            return tuple(db.session.execute(select(func.count()).select_from(model)
                                            .execution_options(all_tenants=True)).scalar()
                         for model in (RosterImport, StoredFile))

    before = kept()
    upload_schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["RosterUpload"]
    assert upload_schema["required"] == ["file"] and "nullable" not in upload_schema["properties"]["village_id"]
    rows = [["", "上屋", "上屋组1号", "李四", "户主", "", "", "", ""]]
    resp = upload(client, headers, xlsx(rows), village_id=alpha.b.villages[0])
    assert resp.status_code == 409 and "village_id" in resp.get_json()["errors"]["json"]
    template = client.get(f"{API}/template?village_id={alpha.b.villages[0]}", headers=headers)
    assert template.status_code == 409 and "village_id" in template.get_json()["errors"]["json"]
    assert kept() == before


def test_another_townships_import_is_not_found(app, alpha):
    with app.app_context():
        beta = db.session.get(Tenant, alpha.b.tenant_id)
        with tenant_scope(beta):
            from jifen.platform.files.models import StoredFile

            f = StoredFile(kind="spreadsheet", filename="x.xlsx", content_type="x", size=1, sha256="0" * 64,
                           data=xlsx(GOOD))
            db.session.add(f)
            db.session.flush()
            imp = RosterImport(file_id=f.id, status="previewed", summary={}, errors=[])
            db.session.add(imp)
            db.session.flush()
            import_id = imp.id
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    assert client.get(f"{API}/imports/{import_id}", headers=headers).status_code == 404
    assert client.post(f"{API}/imports/{import_id}/confirm", headers=headers).status_code == 404
    page = app.test_client()
    page_login(page, "alpha", "admin")
    english(page)
    assert page.get(f"/t/alpha/roster/{import_id}").status_code == 404


def test_confirm_checks_again_against_the_database(app, admin_api, alpha):
    client, headers = admin_api
    imp = upload(client, headers, xlsx(GOOD[3:])).get_json()
    assert imp["status"] == "previewed"
    import_good(client, headers, [["官田村", "上屋", "上屋组20号", "黄建国", "户主", "", B1, "", ""]])
    resp = client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers)
    assert resp.status_code == 202  # the job checks again, after the request
    now = client.get(f"{API}/imports/{imp['id']}", headers=headers).get_json()
    assert now["status"] == "invalid" and now["errors"][0]["column"] == "身份证号"
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 409


def test_confirm_refuses_a_grid_retired_after_the_upload_and_imports_messy_cells_as_cleaned(app, admin_api, alpha):
    """The confirm does not run the rules on a cell's text again (the upload staged the cells it
    cleaned), but it looks the grid, village, tags and ID numbers up again."""
    client, headers = admin_api
    messy = [["官田村", "上屋", "  上屋组9号 ", "王 大明", "户主", "138 0013 8000", A1, "", ""],
             ["官田村", "上屋", "上屋组9号", "刘秀英", "长子", "(0762)7123456", "", "", ""]]
    retired = upload(client, headers, xlsx(messy)).get_json()
    fine = upload(client, headers, xlsx(messy)).get_json()
    assert retired["status"] == fine["status"] == "previewed"

    def retire():
        node = db.session.execute(select(GridNode).where(GridNode.name == "上屋")).scalar_one()
        node.retired_at = datetime.now(timezone.utc)
        db.session.commit()

    def unretire():
        node = db.session.execute(select(GridNode).where(GridNode.name == "上屋")).scalar_one()
        node.retired_at = None
        db.session.commit()

    in_alpha(app, alpha, retire)
    assert client.post(f"{API}/imports/{retired['id']}/confirm", headers=headers).status_code == 202
    now = client.get(f"{API}/imports/{retired['id']}", headers=headers).get_json()
    assert now["status"] == "invalid" and {e["column"] for e in now["errors"]} == {"网格"}
    in_alpha(app, alpha, unretire)
    assert client.post(f"{API}/imports/{fine['id']}/confirm", headers=headers).status_code == 202
    assert client.get(f"{API}/imports/{fine['id']}", headers=headers).get_json()["status"] == "imported"

    def stored():
        h = db.session.execute(select(Household).where(Household.door_plate == "上屋组9号")).scalar_one()
        members = db.session.execute(select(Resident).where(Resident.household_id == h.id)
                                     .order_by(Resident.sort_order)).scalars().all()
        return [(m.name, m.relation, m.phone, m.name_pinyin) for m in members]

    assert in_alpha(app, alpha, stored) == [("王大明", "head", "13800138000", "wangdaming"),
                                            ("刘秀英", "child", "07627123456", "liuxiuying")]


def test_rows_staged_as_read_before_cleaned_staging_are_checked_in_full(app, admin_api, alpha):
    """An import uploaded before the upload staged cleaned cells (a plain list of the cells as read)
    is still checked by every rule at the confirm, and imports."""
    from jifen.platform import sealed
    from jifen.tenants.households.models import RosterImport

    client, headers = admin_api
    imp = upload(client, headers, xlsx(GOOD)).get_json()

    def restage():
        row = db.session.execute(select(RosterImport)).scalar_one()
        staged = json.loads(sealed.unseal(row.rows_sealed))["cleaned"]
        staged[2][1][4] = "长子"  # as read: the sheet's word, which only the full check maps to "child"
        row.rows_sealed = sealed.seal(json.dumps(staged, ensure_ascii=False))
        db.session.commit()

    in_alpha(app, alpha, restage)
    assert client.post(f"{API}/imports/{imp['id']}/confirm", headers=headers).status_code == 202
    assert client.get(f"{API}/imports/{imp['id']}", headers=headers).get_json()["status"] == "imported"
    assert in_alpha(app, alpha, lambda: db.session.execute(
        select(Resident.relation).where(Resident.name == "王小军")).scalar_one()) == "child"


def test_page_lists_uploads_and_export_link(app, alpha):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    html = client.get("/t/alpha/roster/").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and "/t/alpha/roster/export" in html
    assert "官田村" in html


# --- demo ------------------------------------------------------------------------------------------

def test_demo_households_are_plausible_and_idempotent(app, alpha):
    from jifen.tenants.households.demo import load_demo
    from jifen.tenants.villages.models import Village

    def run():
        admin = actor_for(db.session.get(User, (alpha.a.tenant_id, alpha.a.user_id())))
        villages = {v.name: v for v in db.session.execute(select(Village)).scalars() if v.name in ("官田村", "礼坑村")}
        return load_demo(admin, villages)

    first = in_alpha(app, alpha, lambda: (run(), db.session.commit())[0])
    assert 446 <= first["households_created"] <= 600 and first["residents_created"] > first["households_created"]
    before = snapshot(app, alpha)
    second = in_alpha(app, alpha, lambda: (run(), db.session.commit())[0])
    assert second["households_created"] == second["households_updated"] == second["residents_created"] == 0
    assert snapshot(app, alpha) == before

    def check():
        residents = db.session.execute(select(Resident)).scalars().all()
        ids = [r.id_number for r in residents if r.id_number]
        assert len(ids) == len(set(ids)) and all(i.startswith("441622") for i in ids)
        from jifen.tenants.households.rules import clean_id_number

        assert all(clean_id_number(i) == i for i in ids)
        heads = [r for r in residents if r.relation == "head"]
        share = sum(1 for r in heads if r.phone) / len(heads)
        assert 0.7 < share < 0.9
        party = db.session.execute(select(func.count()).select_from(HouseholdTag)
                                   .where(HouseholdTag.tag == "party_member")).scalar()
        assert 0.03 < party / len(heads) < 0.14
    in_alpha(app, alpha, check)


def test_demo_needs_micro_grids(app, alpha):
    from jifen.tenants.households.demo import load_demo
    from jifen.tenants.villages.models import Village

    def run():
        admin = actor_for(db.session.get(User, (alpha.a.tenant_id, alpha.a.user_id())))
        village = db.session.execute(select(Village).where(Village.name == "梅园村")).scalar_one()
        with pytest.raises(RuntimeError, match="梅园村"):
            load_demo(admin, {"梅园村": village})
    in_alpha(app, alpha, run)
