"""Operator tools (issue 12): setup links and password resets for any account of a township from
the CLI, the county console and its API; setting a password from a link over the API; idempotency
keys that expire and are purged nightly."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, update

from jifen.platform import clock
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.idempotency import IdempotencyKey
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import CountyRecord, Tenant
from jifen.platform.townships.offboarding import rows_of
from jifen.tenants.honours.models import RecommendationList
from tests.conftest import PASSWORD, api_token, bearer, csrf_token, page_login

NEW = "Bright-Hill-77"


def _path(url: str) -> str:
    return "/t/" + url.split("/t/", 1)[1]


def _secret(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _in(app, tenant_id, fn):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, tenant_id)):
            out = fn()
            db.session.commit()
            return out


def _audit_actions(app, world, username):
    def read():
        return [a for (a,) in db.session.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).all()]
    return _in(app, world.a.tenant_id, read)


# --- setting a password from a link over the API ----------------------------------------------

def test_setup_link_works_over_the_api_once(app, world):
    admin = app.test_client()
    headers = bearer(api_token(admin, "alpha", "admin"))
    resp = admin.post("/api/v1/t/alpha/staff/", headers=headers, json={
        "username": "newbie", "display_name": "新人", "roles": [{"role": "township_admin"}]})
    secret = _secret(resp.get_json()["setup_url"])
    client = app.test_client()
    weak = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": "123456789",
                                                            "confirm": "123456789"})
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]["json"]
    differ = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": NEW, "confirm": NEW + "x"})
    assert differ.status_code == 422 and "confirm" in differ.get_json()["errors"]["json"]
    missing = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret})
    assert missing.status_code == 422 and {"password", "confirm"} <= set(missing.get_json()["errors"]["json"])
    ok = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": NEW, "confirm": NEW})
    assert ok.status_code == 200 and ok.get_json() == {"username": "newbie"}
    assert client.post("/api/v1/t/alpha/auth/token", json={"username": "newbie", "password": NEW}).status_code == 201
    again = client.post("/api/v1/t/alpha/auth/setup", json={"secret": secret, "password": "Other-Hill-99",
                                                             "confirm": "Other-Hill-99"})
    assert again.status_code == 409 and "link" in again.get_json()["errors"]["json"]  # a repeat, as everywhere
    # the link is alpha's: beta does not know it
    assert client.post("/api/v1/t/beta/auth/setup", json={"secret": secret, "password": NEW,
                                                          "confirm": NEW}).status_code == 404
    assert client.post("/api/v1/t/alpha/auth/setup", json={"secret": "nope", "password": NEW,
                                                           "confirm": NEW}).status_code == 404


# --- reissuing setup links and resetting passwords --------------------------------------------

def test_cli_reissues_a_setup_link_and_resets_a_password(app, world, runner, client):
    vadmin = world.a.username("village_admin")
    old_token = api_token(client, "alpha", vadmin)
    result = runner.invoke(args=["reset-password", "--operator", "op", "--base-url", "https://jifen.example",
                                 "alpha", vadmin])
    assert result.exit_code == 0, result.output
    url = result.output.strip().rsplit(" ", 1)[1]
    assert "not texted (the account has no phone)" in result.output
    assert url.startswith("https://jifen.example/t/alpha/setup/")
    # the old password and the old token stop working at once
    assert client.post("/api/v1/t/alpha/auth/token", json={"username": vadmin, "password": PASSWORD}).status_code == 401
    assert client.get("/api/v1/t/alpha/me", headers=bearer(old_token)).status_code == 401
    # a second link replaces the first; without --base-url it points where texts link to
    app.config["NOTIFY_LINK_BASE_URL"] = "https://cun.example/"
    result = runner.invoke(args=["reissue-setup-link", "--operator", "op", "--username", vadmin, "alpha"])
    assert result.exit_code == 0, result.output
    fresh = result.output.strip().rsplit(" ", 1)[1]
    assert fresh.startswith("https://cun.example/t/alpha/setup/")
    assert client.get(_path(url)).status_code == 404
    assert client.post("/api/v1/t/alpha/auth/setup", json={"secret": _secret(fresh), "password": NEW,
                                                           "confirm": NEW}).status_code == 200
    assert page_login(app.test_client(), "alpha", vadmin, NEW).status_code == 302
    actions = _audit_actions(app, world, vadmin)
    assert "staff.reset_password" in actions and "staff.new_setup_link" in actions
    # without --username: the first administrator
    result = runner.invoke(args=["reissue-setup-link", "--operator", "op", "alpha"])
    assert result.exit_code == 0 and "for admin of alpha" in result.output
    # errors: unknown account, and a township of another county (op2's) is not found
    bad = runner.invoke(args=["reset-password", "--operator", "op", "alpha", "nobody"])
    assert bad.exit_code != 0 and "username" in bad.output
    other = runner.invoke(args=["reset-password", "--operator", "op2", "alpha", vadmin])
    assert other.exit_code != 0 and ("未找到" in other.output or "not found" in other.output.lower())


def test_county_api_resets_a_password_and_other_counties_get_404(app, world):
    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    op2 = bearer(api_token(client, None, "op2"))
    vadmin = world.a.username("village_admin")
    base = "/api/v1/county/townships/alpha/accounts"
    assert client.post(f"{base}/reset-password", json={"username": vadmin}, headers=op2).status_code == 404
    assert client.post(f"{base}/setup-link", json={"username": vadmin}, headers=op2).status_code == 404
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 302  # nothing changed
    resp = client.post(f"{base}/reset-password", json={"username": "nobody"}, headers=op)
    assert resp.status_code == 409 and "username" in resp.get_json()["errors"]["json"]
    assert client.post(f"{base}/reset-password", json={}, headers=op).status_code == 422
    resp = client.post(f"{base}/reset-password", json={"username": vadmin}, headers=op)
    assert resp.status_code == 201 and resp.get_json()["username"] == vadmin
    assert resp.get_json()["texted_to"] is None and "/t/alpha/setup/" in resp.get_json()["setup_url"]  # no phone
    assert _link_texts(app, world.a.tenant_id) == []
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 422  # the old password is gone
    resp = client.post(f"{base}/setup-link", json={"username": vadmin}, headers=op)
    assert resp.status_code == 201
    assert app.test_client().get(_path(resp.get_json()["setup_url"])).status_code == 200
    # a township user's token is not an operator's
    admin = bearer(api_token(client, "alpha", "admin"))
    assert client.post(f"{base}/setup-link", json={"username": vadmin}, headers=admin).status_code in (401, 403)


def test_county_console_resets_a_password_with_errors_next_to_the_field(app, world):
    client = app.test_client()
    assert page_login(client, None, "op").status_code == 302
    vadmin = world.a.username("village_admin")
    token = csrf_token(client, "/county/townships/alpha")
    bad = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": "nobody",
                                                                "do": "reset"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="e-username"' in html and 'value="nobody"' in html
    ok = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": vadmin, "do": "reset"})
    html = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "/t/alpha/setup/" in html
    assert 'id="link-not-sent"' in html  # no phone on the account: the operator hands the link over
    link = html.split('id="setup-link"')[1].split(">", 1)[1].split("<", 1)[0].strip()
    assert page_login(app.test_client(), "alpha", vadmin).status_code == 422
    assert app.test_client().get(_path(link)).status_code == 200
    other = app.test_client()
    assert page_login(other, None, "op2").status_code == 302
    token2 = csrf_token(other, "/county/")
    assert other.post("/county/townships/alpha/account", data={"csrf_token": token2, "username": vadmin,
                                                                "do": "link"}).status_code == 404
    assert other.get("/county/townships/alpha").status_code == 404


# --- idempotency keys expire and are purged -----------------------------------------------------

def _age_keys(app, world, hours, key=None):
    def age():
        stmt = update(IdempotencyKey).values(created_at=clock.now() - timedelta(hours=hours))
        if key:
            stmt = stmt.where(IdempotencyKey.key == key)
        db.session.execute(stmt)
    _in(app, world.a.tenant_id, age)


def _keys(app, tenant_id):
    return _in(app, tenant_id, lambda: sorted(k for (k,) in db.session.execute(select(IdempotencyKey.key)).all()))


def test_an_expired_key_is_a_new_request_and_the_nightly_job_purges_only_expired_keys(app, world, runner):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    beta = bearer(api_token(client, "beta", "admin"))

    def make(name, key, h=headers, slug="alpha"):  # recommendation lists: an idempotent create
        return client.post(f"/api/v1/t/{slug}/honours/lists", json={"name_zh": name},
                           headers=h | {"Idempotency-Key": key})

    first = make("one", "k-old")
    assert first.status_code == 201
    assert make("one", "k-old").get_json()["id"] == first.get_json()["id"]  # replayed within the day
    assert make("two", "k-old").status_code == 409  # another body, same key
    _age_keys(app, world, 25, "k-old")
    renewed = make("two", "k-old")  # expired: a new request, even with another body
    assert renewed.status_code == 201 and renewed.get_json()["id"] != first.get_json()["id"]
    assert make("two", "k-old").get_json()["id"] == renewed.get_json()["id"]
    assert make("three", "k-fresh").status_code == 201
    assert make("b", "k-beta", beta, "beta").status_code == 201
    _age_keys(app, world, 30, "k-old")  # alpha's k-old expired again; k-fresh is fresh
    _in(app, world.b.tenant_id, lambda: db.session.execute(
        update(IdempotencyKey).values(created_at=clock.now() - timedelta(hours=30))))
    result = runner.invoke(args=["run-job", "jifen.purge_idempotency_keys", "--tenant", "alpha"])
    assert result.exit_code == 0 and "'removed': 1" in result.output, result.output
    assert _keys(app, world.a.tenant_id) == ["k-fresh"]
    assert _keys(app, world.b.tenant_id) == ["k-beta"]  # another township's keys wait for its own run
    names = _in(app, world.a.tenant_id, lambda: sorted(n for (n,) in db.session.execute(
        select(RecommendationList.name_zh).where(RecommendationList.name_zh.in_(["one", "two", "three"]))).all()))
    assert names == ["one", "three", "two"]  # the replays made nothing more


# --- export and offboarding ----------------------------------------------------------------------

def _plant_formula(app, world, door_plate=None):
    from jifen.tenants.households.models import Household

    def plant():
        household = db.session.get(Household, (world.a.tenant_id, world.a.household))
        household.head_name = "=1+1"
        if door_plate:
            household.door_plate = door_plate
    _in(app, world.a.tenant_id, plant)


def _plant_files(app, world) -> dict:
    """A photo and an uploaded roster (stored sealed) in alpha: {file id: original bytes}."""
    from PIL import Image

    from jifen.platform.files import service as files
    from jifen.platform.roles.authz import Actor

    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo, "PNG")
    book = Workbook()
    book.active.append(["姓名", "身份证号"])
    roster = io.BytesIO()
    book.save(roster)

    def plant():
        actor = Actor.system()
        image = files.store_image(actor, ("../../门前/照片.png", photo.getvalue()))
        sheet = files.store_spreadsheet(actor, ("花名册.xlsx", roster.getvalue()))
        return {image.id: None, sheet.id: roster.getvalue()}
    return _in(app, world.a.tenant_id, plant)


def _zip_tables(data: bytes) -> dict:
    """{table: [header, row, ...]} from either format, plus the manifest and the files' bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        tables = {}
        for name in zf.namelist():
            if name.endswith(".csv"):
                tables[name[:-4]] = list(csv.reader(io.StringIO(zf.read(name).decode("utf-8-sig"))))
            elif name.endswith(".xlsx") and "/" not in name:
                book = load_workbook(io.BytesIO(zf.read(name)), read_only=True)
                rows = []
                for i, sheet in enumerate(book.worksheets):  # every sheet repeats the header
                    rows += [list(r) for r in sheet.iter_rows(values_only=True)][0 if i == 0 else 1:]
                # a row ending in empty cells is read shorter (xlsx stores no empty cell): pad it
                tables[name[:-5]] = [r + [None] * (len(rows[0]) - len(r)) for r in rows]
        files = {n: zf.read(n) for n in zf.namelist() if n.startswith("files/")}
        return tables | {"manifest": json.loads(zf.read("manifest.json")), "files": files}


def _records(app):
    with app.app_context():
        return [(r.action, r.tenant_slug, r.details) for r in
                db.session.execute(select(CountyRecord).order_by(CountyRecord.created_at)).scalars()]


def test_export_from_the_cli_the_console_and_the_api(app, world, runner, tmp_path):
    _plant_formula(app, world)
    out = tmp_path / "alpha.zip"
    result = runner.invoke(args=["export-township", "--operator", "op", "--format", "csv", "--out", str(out), "alpha"])
    assert result.exit_code == 0, result.output
    tables = _zip_tables(out.read_bytes())
    households = tables["households"]
    head_col = households[0].index("head_name")
    heads = {row[head_col] for row in households[1:]}
    assert "'=1+1" in heads  # neutralised for spreadsheets
    assert "password_hash" not in tables["users"][0] and "token_hash" not in tables["user_tokens"][0]
    assert {row[tables["users"][0].index("username")] for row in tables["users"][1:]} >= {"admin", "vadmin"}
    tenant_col = households[0].index("tenant_id")
    assert {row[tenant_col] for row in households[1:]} == {str(world.a.tenant_id)}  # alpha's rows only
    assert tables["manifest"]["tables"]["households"] == len(households) - 1
    assert tables["manifest"]["township"]["slug"] == "alpha" and tables["manifest"]["format"] == "csv"
    other = runner.invoke(args=["export-township", "--operator", "op2", "--out", str(tmp_path / "x.zip"), "alpha"])
    assert other.exit_code != 0 and not (tmp_path / "x.zip").exists()
    bad = runner.invoke(args=["export-township", "--operator", "op", "--format", "pdf", "alpha"])
    assert bad.exit_code != 0 and "--format" in bad.output

    console = app.test_client()
    assert page_login(console, None, "op").status_code == 302
    page = console.get("/county/townships/alpha").get_data(as_text=True)
    assert 'name="format"' in page and '<option value="xlsx" selected>' in page  # xlsx unless chosen otherwise
    token = csrf_token(console, "/county/townships/alpha")
    resp = console.post("/county/townships/alpha/export", data={"csrf_token": token})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert _zip_tables(resp.data)["manifest"]["format"] == "xlsx" and "households" in _zip_tables(resp.data)
    resp = console.post("/county/townships/alpha/export", data={"csrf_token": token, "format": "csv"})
    assert _zip_tables(resp.data)["manifest"]["format"] == "csv"
    resp = console.post("/county/townships/alpha/export", data={"csrf_token": token, "format": "pdf"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="e-format"' in html and 'aria-invalid="true"' in html

    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    resp = client.post("/api/v1/county/townships/alpha/export", headers=op)
    assert resp.status_code == 200 and _zip_tables(resp.data)["manifest"]["township"]["slug"] == "alpha"
    assert _zip_tables(resp.data)["manifest"]["format"] == "xlsx"
    resp = client.post("/api/v1/county/townships/alpha/export?format=csv", headers=op)
    assert _zip_tables(resp.data)["manifest"]["format"] == "csv"
    resp = client.post("/api/v1/county/townships/alpha/export?format=pdf", headers=op)
    assert resp.status_code == 422 and "format" in json.dumps(resp.get_json()["errors"])
    op2 = bearer(api_token(client, None, "op2"))
    assert client.post("/api/v1/county/townships/alpha/export", headers=op2).status_code == 404
    assert [a for a, slug, _d in _records(app)] == ["township.export"] * 5
    assert [d["format"] for _a, _s, d in _records(app)] == ["csv", "xlsx", "csv", "xlsx", "csv"]
    assert "township.export" in _audit_actions(app, world, "op")
    for page in ("/county/records", "/county/townships/alpha"):  # the county's records in words
        html = console.get(page).get_data(as_text=True)
        assert 'data-action="township.export"' in html and "乡镇 · 已导出" in html and ">township.export<" not in html
    spec = client.get("/api/v1/openapi.json").get_json()
    params = spec["paths"]["/api/v1/county/townships/{township_slug}/export"]["post"]["parameters"]
    fmt = next(p for p in params if p["name"] == "format")
    assert fmt["in"] == "query" and fmt["schema"]["enum"] == ["xlsx", "csv"] and fmt["schema"]["default"] == "xlsx"


def test_the_xlsx_export_opens_keeps_formulas_as_text_and_holds_the_uploaded_files(app, world, runner, tmp_path):
    _plant_formula(app, world, door_plate="1号\x07")  # and a control character no workbook can hold
    planted = _plant_files(app, world)
    out = tmp_path / "alpha.zip"
    result = runner.invoke(args=["export-township", "--operator", "op", "--out", str(out), "alpha"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        book = load_workbook(io.BytesIO(zf.read("households.xlsx")))
    sheet = book["households"]
    header = [c.value for c in sheet[1]]
    heads = [row[header.index("head_name")] for row in sheet.iter_rows(min_row=2)]
    evil = next(c for c in heads if c.value.startswith("="))
    assert evil.value == "=1+1" and evil.data_type == "s" and evil.quotePrefix  # text, never a formula
    plates = [row[header.index("door_plate")].value for row in sheet.iter_rows(min_row=2)]
    assert "1号\ufffd" in plates

    tables = _zip_tables(out.read_bytes())
    manifest = tables["manifest"]
    assert manifest["format"] == "xlsx" and set(manifest["tables"]) <= set(tables)
    for name, count in manifest["tables"].items():
        assert len(tables[name]) - 1 == count, name
    assert manifest["tables"]["households"] >= 1 and manifest["tables"]["stored_files"] == 3  # photo, thumbnail, roster

    stored = tables["stored_files"]
    assert "data" not in stored[0]  # metadata only: the bytes are files of their own
    rows = {r[stored[0].index("id")]: dict(zip(stored[0], r, strict=True)) for r in stored[1:]}
    assert manifest["files"] == len(tables["files"]) == 3
    for member, data in tables["files"].items():
        file_id, filename = member[len("files/"):].split("-", 5)[:5], member.split("/", 1)[1][37:]
        row = rows["-".join(file_id)]
        assert hashlib.sha256(data).hexdigest() == row["sha256"] and len(data) == row["size"]
        assert "/" not in filename and filename == (row["filename"].replace("/", "_").strip(" ."))
    photo = next(d for m, d in tables["files"].items() if m.endswith("照片.png"))
    assert photo[:3] == b"\xff\xd8\xff"  # the stored (shrunk, re-encoded) photo
    roster = next(d for m, d in tables["files"].items() if m.endswith("花名册.xlsx"))
    assert roster == next(v for v in planted.values() if v)  # opened, not the sealed bytes at rest


def test_the_export_gives_id_numbers_back_opened_and_counts_them(app, world, runner, tmp_path):
    """Sealed at rest with Jifen's key, an ID number goes out usable (the township's own data, its
    rows deleted after); its keyed hash stays out; the export's records say how many went out."""
    from jifen.tenants.households.models import Resident

    number = "44162119800101002X"

    def plant():
        resident = db.session.execute(select(Resident).order_by(Resident.id)).scalars().first()
        resident.id_number = number
        return str(resident.id)
    resident_id = _in(app, world.a.tenant_id, plant)
    for fmt in ("xlsx", "csv"):
        out = tmp_path / f"alpha.{fmt}.zip"
        result = runner.invoke(args=["export-township", "--operator", "op", "--format", fmt, "--out", str(out), "alpha"])
        assert result.exit_code == 0, result.output
        residents = _zip_tables(out.read_bytes())["residents"]
        header = residents[0]
        assert "id_number_sealed" not in header and "id_number_hmac" not in header
        row = next(r for r in residents[1:] if r[header.index("id")] == resident_id)
        assert row[header.index("id_number")] == number
    assert [d["id_numbers"] for a, _s, d in _records(app) if a == "township.export"] == [1, 1]


def test_a_table_longer_than_a_sheet_goes_on_over_more_sheets(app, world, runner, tmp_path, monkeypatch):
    from jifen.platform.townships import offboarding

    monkeypatch.setattr(offboarding, "SHEET_ROWS", 2)  # Excel's 1,048,575, made small
    out = tmp_path / "alpha.zip"
    assert runner.invoke(args=["export-township", "--operator", "op", "--out", str(out), "alpha"]).exit_code == 0
    tables = _zip_tables(out.read_bytes())
    users = tables["manifest"]["tables"]["users"]
    assert users >= 3
    with zipfile.ZipFile(out) as zf:
        book = load_workbook(io.BytesIO(zf.read("users.xlsx")), read_only=True)
    assert book.sheetnames == ["users"] + [f"users {i}" for i in range(2, (users + 1) // 2 + 1)]
    assert all(next(s.iter_rows(values_only=True))[0] == "tenant_id" for s in book.worksheets)  # each with the header
    assert len(tables["users"]) - 1 == users


def test_offboarding_deletes_only_after_an_export_taken_since_it_started(app, world, pw, runner, tmp_path):
    with app.app_context():
        beta_rows = rows_of(world.b.tenant_id)
        assert rows_of(world.a.tenant_id) > 20
    # an export before the offboarding does not count
    assert runner.invoke(args=["export-township", "--operator", "op", "--out", str(tmp_path / "a.zip"), "alpha"]).exit_code == 0
    result = runner.invoke(args=["offboard-township", "--operator", "op", "--reason", "合并", "alpha"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        alpha = db.session.get(Tenant, world.a.tenant_id)
        assert alpha.status == "suspended" and alpha.delete_after > clock.now() + timedelta(days=29)
    again = runner.invoke(args=["offboard-township", "--operator", "op", "alpha"])
    assert again.exit_code != 0
    assert app.test_client().get("/t/alpha/login").status_code in (403, 503)  # suspended at once
    assert runner.invoke(args=["offboard-due"]).output == ""  # the grace period has not ended

    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    assert client.get("/api/v1/county/townships/alpha", headers=op).get_json()["awaiting_export"] is True
    assert client.get("/api/v1/county/townships/beta", headers=op).get_json()["awaiting_export"] is False
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.id == world.a.tenant_id)
                           .values(delete_after=clock.now() - timedelta(minutes=1)))
        db.session.commit()
    for _ in range(2):  # the hourly job, twice: held both times, recorded once
        result = runner.invoke(args=["offboard-due"])
        assert result.exit_code == 0 and result.output.startswith("alpha: not deleted, waiting for an export")
    with app.app_context():
        assert db.session.get(Tenant, world.a.tenant_id) is not None
    assert [a for a, _s, _d in _records(app)] == ["township.export", "township.offboard", "township.delete_held"]
    assert "township.delete_held" in _audit_actions(app, world, "op")

    console = app.test_client()
    assert page_login(console, None, "op").status_code == 302
    assert 'data-awaiting-export="alpha"' in console.get("/county/").get_data(as_text=True)
    jobs = console.get("/county/jobs").get_data(as_text=True)
    assert 'id="awaiting-export"' in jobs and 'data-township="alpha"' in jobs.split('id="awaiting-export"')[1]
    page = console.get("/county/townships/alpha").get_data(as_text=True)
    assert 'id="awaiting-export"' in page
    assert [t["awaiting_export"] for t in client.get("/api/v1/county/townships", headers=op).get_json()
            if t["slug"] == "alpha"] == [True]

    # the export: the township page no longer waits, and the next run deletes it
    token = csrf_token(console, "/county/townships/alpha")
    assert console.post("/county/townships/alpha/export", data={"csrf_token": token}).status_code == 200
    assert 'id="awaiting-export"' not in console.get("/county/townships/alpha").get_data(as_text=True)
    result = runner.invoke(args=["offboard-due"])
    assert result.exit_code == 0 and result.output.startswith("alpha: deleted"), result.output
    with app.app_context():
        assert db.session.get(Tenant, world.a.tenant_id) is None
        assert rows_of(world.a.tenant_id) == 0
        assert rows_of(world.b.tenant_id) == beta_rows  # the other township is untouched
    assert app.test_client().get("/t/alpha/login").status_code == 404
    actions = [(a, slug) for a, slug, _d in _records(app)]
    assert actions == [("township.export", "alpha"), ("township.offboard", "alpha"),
                       ("township.delete_held", "alpha"), ("township.export", "alpha"), ("township.delete", "alpha")]
    deleted = _records(app)[-1][2]["rows"]
    assert deleted["households"] >= 1 and deleted["audit_entries"] >= 1 and deleted["users"] >= 1
    verify = runner.invoke(args=["audit", "verify", "--tenant", "beta"])
    assert verify.exit_code == 0, verify.output


def test_the_beat_task_holds_an_unexported_township_and_deletes_an_exported_one(app, world, runner, tmp_path):
    from jifen.workers.retention_jobs import offboard_due

    for slug in ("alpha", "beta"):
        assert runner.invoke(args=["offboard-township", "--operator", "op", slug]).exit_code == 0
    assert runner.invoke(args=["export-township", "--operator", "op", "--out", str(tmp_path / "b.zip"), "beta"]).exit_code == 0
    with app.app_context():
        db.session.execute(update(Tenant).values(delete_after=clock.now() - timedelta(minutes=1)))
        db.session.commit()
        result = offboard_due.apply().get()
        assert result["waiting_for_export"] == ["alpha"] and [s for s, _n in result["deleted"]] == ["beta"]
        assert db.session.get(Tenant, world.a.tenant_id) is not None
        assert db.session.get(Tenant, world.b.tenant_id) is None


# --- links texted to the account's phone --------------------------------------------------------

def _link_texts(app, tenant_id):
    """The township's outbox rows that text a setup link: (username, state)."""
    from jifen.platform.accounts.models import SetupLink, User
    from jifen.tenants.notifications.models import NotificationDelivery as D

    return _in(app, tenant_id, lambda: [tuple(r) for r in db.session.execute(
        select(User.username, D.state).join(SetupLink, SetupLink.id == D.setup_link_id)
        .join(User, User.id == SetupLink.user_id).order_by(D.created_at)).all()])


def _give_phone(app, world, username, phone):
    from jifen.platform.accounts.models import User

    def give():
        db.session.execute(select(User).where(User.username == username)).scalar_one().phone = phone
    _in(app, world.a.tenant_id, give)


def test_a_password_reset_is_texted_to_the_staff_members_phone_and_to_nobody_else(app, world):
    from tests.test_job_retries import Phone, _deliver

    vadmin = world.a.username("village_admin")
    _give_phone(app, world, vadmin, "13912345678")
    _give_phone(app, world, "admin", "13800000000")  # another staff member with a phone: gets nothing
    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    resp = client.post("/api/v1/county/townships/alpha/accounts/reset-password", json={"username": vadmin}, headers=op)
    assert resp.status_code == 201
    assert resp.get_json() == {"username": vadmin, "texted_to": "139****5678"}  # the operator never sees the link
    assert _link_texts(app, world.a.tenant_id) == [(vadmin, "pending")]
    assert _link_texts(app, world.b.tenant_id) == []
    phone = Phone()
    with app.app_context():
        _deliver(phone)
    [sms] = phone.messages  # at once, whatever the hour: the staff member asked for it
    assert sms.to == "13912345678" and sms.kind == "setup_link" and vadmin in sms.text
    assert "一次性链接" in sms.text  # the township's language (zh_CN)
    assert _link_texts(app, world.a.tenant_id) == [(vadmin, "sent")]
    ok = client.post("/api/v1/t/alpha/auth/setup", json={"secret": _secret(sms.link), "password": NEW, "confirm": NEW})
    assert ok.status_code == 200 and ok.get_json() == {"username": vadmin}
    assert page_login(app.test_client(), "alpha", vadmin, NEW).status_code == 302


def test_a_texted_link_replaced_before_it_went_is_given_up_and_the_console_says_where_it_went(app, world):
    from tests.test_job_retries import Phone, _deliver

    vadmin = world.a.username("village_admin")
    _give_phone(app, world, vadmin, "13912345678")
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.id == world.a.tenant_id).values(default_locale="en"))
        db.session.commit()
    client = app.test_client()
    assert page_login(client, None, "op").status_code == 302
    token = csrf_token(client, "/county/townships/alpha")
    first = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": vadmin, "do": "reset"})
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and 'id="link-sent"' in html and "139****5678" in html
    assert "/setup/" not in html  # nobody but the staff member sees the link
    again = client.post("/county/townships/alpha/account", data={"csrf_token": token, "username": vadmin, "do": "link"})
    assert again.status_code == 200 and 'id="link-sent"' in again.get_data(as_text=True)
    phone = Phone()
    with app.app_context():
        _deliver(phone)
    [sms] = phone.messages  # the second link only: the first stopped working when it was replaced
    assert "one-time link" in sms.text
    assert _link_texts(app, world.a.tenant_id) == [(vadmin, "dead"), (vadmin, "sent")]
    assert app.test_client().get(_path(sms.link)).status_code == 200


# --- offboarding: a deletion in chunks that resumes ----------------------------------------------

def test_a_deletion_killed_midway_resumes_and_leaves_nothing_of_the_township(app, world, runner, tmp_path,
                                                                              monkeypatch):
    from jifen.platform.townships import offboarding
    from jifen.workers.retention_jobs import offboard_due

    assert runner.invoke(args=["offboard-township", "--operator", "op", "alpha"]).exit_code == 0
    assert runner.invoke(args=["export-township", "--operator", "op", "--out", str(tmp_path / "a.zip"),
                               "alpha"]).exit_code == 0
    monkeypatch.setattr(offboarding, "DELETE_CHUNK", 5)
    real = offboarding._chunk_delete

    def killed_after_three_chunks(table, tenant_id, chunk):
        if db.session.get(Tenant, tenant_id).deletion["deleted"] >= 15:
            raise SystemExit("worker killed")  # not an Exception: like a kill, or the hard time limit
        return real(table, tenant_id, chunk)

    with app.app_context():
        total, beta_rows = rows_of(world.a.tenant_id), rows_of(world.b.tenant_id)
        db.session.execute(update(Tenant).values(delete_after=clock.now() - timedelta(minutes=1)))
        db.session.commit()
        monkeypatch.setattr(offboarding, "_chunk_delete", killed_after_three_chunks)
        with pytest.raises(SystemExit):
            offboard_due.apply(throw=True)
        db.session.rollback()  # the dead worker's transaction is gone with it
        alpha = db.session.get(Tenant, world.a.tenant_id)
        progress = alpha.deletion
        assert total > 25 and progress["total"] == total
        assert 0 < progress["deleted"] < total and rows_of(alpha.id) == total - progress["deleted"]
        assert rows_of(world.b.tenant_id) == beta_rows
    # the county operator sees how far it got, and can no longer cancel or reactivate
    client = app.test_client()
    op = bearer(api_token(client, None, "op"))
    shown = client.get("/api/v1/county/townships/alpha", headers=op).get_json()["deletion"]
    assert shown["deleted"] == progress["deleted"] and shown["total"] == total and shown["table"]
    assert client.post("/api/v1/county/townships/alpha/reactivate", headers=op).status_code == 409
    page = app.test_client()
    assert page_login(page, None, "op").status_code == 302
    html = page.get("/county/townships/alpha").get_data(as_text=True)
    assert 'id="deletion"' in html and f"{progress['deleted']:,}" in html and "offboard/cancel" not in html
    assert runner.invoke(args=["offboard-township", "--operator", "op", "--cancel", "alpha"]).exit_code != 0

    monkeypatch.setattr(offboarding, "_chunk_delete", real)
    with app.app_context():
        result = offboard_due.apply().get()
        assert [s for s, _n in result["deleted"]] == ["alpha"]
        assert db.session.get(Tenant, world.a.tenant_id) is None and rows_of(world.a.tenant_id) == 0
        assert rows_of(world.b.tenant_id) == beta_rows
        record = db.session.execute(select(CountyRecord).where(CountyRecord.action == "township.delete")).scalar_one()
        assert sum(record.details["rows"].values()) == total  # over both runs


# --- retention: notifications purged nightly, and what is kept shown to the township admin ------

def test_old_finished_notifications_are_purged_and_waiting_ones_kept(app, world, runner):
    from jifen.tenants.notifications.models import Notification, NotificationDelivery

    old = clock.now() - timedelta(days=400)

    def make():
        def note(key, delivery, created_at):
            n = Notification(household_id=world.a.household, kind="test", params={}, dedupe_key=key,
                             delivery=delivery, created_at=created_at)
            db.session.add(n)
            db.session.flush()
            return n
        note("old-inbox", "in_app", old)
        sent = note("old-sent", "queued", old)
        db.session.add(NotificationDelivery(notification_id=sent.id, household_id=world.a.household, channel="sms",
                                            state="sent", created_at=old))
        failing = note("old-retrying", "queued", old)
        db.session.add(NotificationDelivery(notification_id=failing.id, household_id=world.a.household,
                                            channel="sms", state="failed", created_at=old))
        note("old-pending", "pending", old)
        note("recent", "in_app", clock.now() - timedelta(days=10))
    _in(app, world.a.tenant_id, make)
    result = runner.invoke(args=["run-job", "jifen.purge_notifications", "--tenant", "alpha"])
    assert result.exit_code == 0 and "'removed': 2" in result.output, result.output
    left = _in(app, world.a.tenant_id, lambda: sorted(k for (k,) in db.session.execute(
        select(Notification.dedupe_key).where(Notification.kind == "test")).all()))
    assert left == ["old-pending", "old-retrying", "recent"]
    deliveries = _in(app, world.a.tenant_id, lambda: [s for (s,) in db.session.execute(
        select(NotificationDelivery.state).where(NotificationDelivery.household_id == world.a.household)).all()])
    assert deliveries == ["failed"]


def test_the_township_admin_sees_the_retention_rules(app, world):
    client = app.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    resp = client.get("/api/v1/t/alpha/audit/retention", headers=admin)
    assert resp.status_code == 200
    rules = {item["key"]: item["rule"] for item in resp.get_json()}
    assert {"notifications", "ranking_snapshots", "idempotency_keys", "credentials"} <= set(rules)
    assert "365 天" in rules["notifications"] and "7 天" in rules["ranking_snapshots"]  # the township's language
    assert "24 小时" in rules["idempotency_keys"]
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert client.get("/api/v1/t/alpha/audit/retention", headers=vadmin).status_code == 403
    pages = app.test_client()
    assert page_login(pages, "alpha", "admin").status_code == 302
    assert "/t/alpha/audit/retention" in pages.get("/t/alpha/").get_data(as_text=True)
    html = pages.get("/t/alpha/audit/retention").get_data(as_text=True)
    assert 'data-key="notifications"' in html and "365" in html and "数据保留" in html
