"""ID numbers (身份证号) held as the law expects: sealed at rest with a key from configuration, a
keyed hash for uniqueness and look-ups, masked everywhere unless an allowed role asks to show them
(audited), keys rotated without losing a row, and no plain number left in any table after the demo."""
from __future__ import annotations

import io
import json
import re

import pytest
from cryptography.fernet import Fernet
from openpyxl import load_workbook
from sqlalchemy import JSON, String, Text, inspect, select, text

from jifen import create_app
from jifen.platform import sealed
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.config import ConfigError
from jifen.platform.db import db
from jifen.platform.errors import InputConflict
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households import service
from jifen.tenants.households.models import Resident
from tests.conftest import api_token, bearer, csrf_token, page_login
from tests.test_demo_points import longwo  # noqa: F401 - the demo fixture
from tests.test_households import actor, alpha, idn, new_household

ID_SHAPED = re.compile(r"\d{17}[\dX]")


def _household(world, plate: str, head: str, number: str, phone: str | None = None):
    """A household of 官田村 whose head has this ID number (and phone)."""
    return service.create_household(actor(world), {
        "village_id": world.a.villages[0], "grid_node_id": world.a.grid[3], "door_plate": plate,
        "members": [{"name": head, "relation": "户主", "id_number": number, "phone": phone}]})


def _raw_residents() -> list[dict]:
    """The residents table as the database holds it (no model in between)."""
    return [dict(r._mapping) for r in db.session.execute(text("SELECT * FROM residents"))]


def _identity_reads(tenant_id) -> list[AuditEntry]:
    with tenant_scope(db.session.get(Tenant, tenant_id)):
        return db.session.execute(select(AuditEntry).where(AuditEntry.action == "identity.read")
                                  .order_by(AuditEntry.seq)).scalars().all()


def test_id_numbers_are_stored_encrypted_with_a_keyed_hash(app, world):
    with app.app_context(), alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "101号", "王五", head_id=idn(1))
        db.session.commit()
        rows = [r for r in _raw_residents() if r["household_id"] in (h.id, h.id.hex, str(h.id))]
        assert len(rows) == 1 and "id_number" not in rows[0]
        stored = json.dumps(rows[0], default=str)
        assert idn(1) not in stored and idn(1)[6:14] not in stored  # not even the birth date
        assert rows[0]["id_number_hmac"] == sealed.blind(idn(1)) and len(rows[0]["id_number_hmac"]) == 64
        assert sealed.unseal(rows[0]["id_number_sealed"]) == idn(1)
        db.session.expire_all()
        assert service.current_members(h.id)[0].id_number == idn(1)  # the model reads it back
        # the same number seals differently each time: equality goes through the hash only
        assert sealed.seal(idn(1)) != sealed.seal(idn(1))


def test_uniqueness_per_township_through_the_hash(app, world):
    with app.app_context():
        with alpha(world):
            new_household(actor(world), world.a.villages[0], world.a.grid[3], "101号", "王五", head_id=idn(2))
            db.session.commit()
            with pytest.raises(InputConflict) as err:
                new_household(actor(world), world.a.villages[0], world.a.grid[3], "102号", "李四", head_id=idn(2))
            assert "members.0.id_number" in err.value.errors
            db.session.rollback()
        with tenant_scope(db.session.get(Tenant, world.b.tenant_id)):  # another township may hold it too
            admin = actor_for(db.session.get(User, (world.b.tenant_id, world.b.user_id("township_admin"))))
            service.create_household(admin, {"village_id": world.b.villages[0], "grid_node_id": world.b.grid[3],
                                             "door_plate": "101号", "members": [
                                                 {"name": "王五", "relation": "户主", "id_number": idn(2)}]})
            db.session.commit()
    # the API names the field, as before the numbers were sealed
    client = app.test_client()
    resp = client.post("/api/v1/t/alpha/households/", headers=bearer(api_token(client, "alpha", "admin")), json={
        "village_id": str(world.a.villages[0]), "grid_node_id": str(world.a.grid[3]), "door_plate": "103号",
        "members": [{"name": "赵六", "relation": "户主", "id_number": idn(2)}]})
    assert resp.status_code == 409 and "members.0.id_number" in resp.get_json()["errors"]["json"]


def test_search_by_whole_id_number_through_the_hash(app, world):
    with app.app_context(), alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "108号", "孙七", ("孙小七", "子"),
                          head_id=idn(3))
        service.update_member(actor(world), h.id, service.current_members(h.id)[1].id, {"id_number": idn(4)})
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    for number in (idn(3), idn(4), idn(4).lower()[:-1] + idn(4)[-1]):
        found = client.get("/api/v1/t/alpha/households/", query_string={"q": number}, headers=headers).get_json()
        assert [i["door_plate"] for i in found["items"]] == ["108号"], number
    # part of a number finds nothing: there is no plain text to match a substring against
    found = client.get("/api/v1/t/alpha/households/", query_string={"q": idn(3)[-6:]}, headers=headers).get_json()
    assert found["items"] == []
    # the household page's search box too
    page_login(client, "alpha", "admin")
    assert "孙七" in client.get("/t/alpha/households/", query_string={"q": idn(4)}).get_data(as_text=True)


def test_masks_for_other_roles_and_the_audited_show(app, world):
    with app.app_context(), alpha(world):
        h = _household(world, "105号", "周九", idn(5), "13912345678")
        db.session.commit()
        hid = h.id
    client = app.test_client()
    # a grid worker calls households: the phone in full, the ID number masked, no way to show it
    gridder = bearer(api_token(client, "alpha", "gridder"))
    got = client.get(f"/api/v1/t/alpha/households/{hid}", headers=gridder).get_json()
    assert got["members"][0]["phone"] == "13912345678" and got["phones_visible"]
    assert got["members"][0]["id_number"] == "4416**********" + idn(5)[-4:] and not got["may_reveal_identity"]
    assert client.post(f"/api/v1/t/alpha/households/{hid}/identity", headers=gridder).status_code == 403
    # an area cadre needs neither: both masked
    cadre = bearer(api_token(client, "alpha", "cadre"))
    got = client.get(f"/api/v1/t/alpha/households/{hid}", headers=cadre).get_json()
    assert got["members"][0]["phone"] == "139****5678" and idn(5) not in json.dumps(got)
    # the village's admin shows them: the answer has them, the audit log says who saw how many
    with app.app_context():
        before = len(_identity_reads(world.a.tenant_id))
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert idn(5) not in client.get(f"/api/v1/t/alpha/households/{hid}", headers=vadmin).get_data(as_text=True)
    got = client.post(f"/api/v1/t/alpha/households/{hid}/identity", headers=vadmin).get_json()
    assert got["members"][0]["id_number"] == idn(5)
    with app.app_context():
        reads = _identity_reads(world.a.tenant_id)
        assert len(reads) == before + 1
        entry = reads[-1]
        assert (entry.actor_name, entry.object_type, entry.object_id) == ("vadmin", "households", str(hid))
        assert entry.after == {"purpose": "household", "id_numbers": 1} and idn(5) not in json.dumps(entry.after)
    # the page: masked, a button for those who may, the full number after pressing it
    page_login(client, "alpha", "vadmin")
    page = client.get(f"/t/alpha/households/{hid}").get_data(as_text=True)
    assert idn(5) not in page and "/identity" in page
    shown = client.post(f"/t/alpha/households/{hid}/identity",
                        data={"csrf_token": csrf_token(client, f"/t/alpha/households/{hid}")})
    assert idn(5) in shown.get_data(as_text=True)
    # the member form never sends the full number back (its mask is the hint)
    with app.app_context(), alpha(world):
        rid = service.current_members(hid)[0].id
    form = client.get(f"/t/alpha/households/{hid}/members/{rid}").get_data(as_text=True)
    assert idn(5) not in form and idn(5)[-4:] in form
    with app.app_context():
        assert len(_identity_reads(world.a.tenant_id)) == before + 2
    # an empty box keeps the number; ticking "remove" clears it (and its hash)
    path = f"/t/alpha/households/{hid}/members/{rid}"
    fields = {"name": "周九", "relation": "head", "phone": "", "id_number": ""}
    assert client.post(path, data=fields | {"csrf_token": csrf_token(client, path)}).status_code == 302
    with app.app_context(), alpha(world):
        assert service.current_members(hid)[0].id_number == idn(5)
    assert 'name="clear_id_number"' in form
    assert client.post(path, data=fields | {"clear_id_number": "1", "csrf_token": csrf_token(client, path)}
                       ).status_code == 302
    with app.app_context(), alpha(world):
        resident = service.current_members(hid)[0]
        assert resident.id_number is None and resident.id_number_hmac is None
    assert 'name="clear_id_number"' not in client.get(path).get_data(as_text=True)


def test_roster_export_masked_unless_allowed_and_a_full_export_is_audited(app, world):
    with app.app_context(), alpha(world):
        _household(world, "107号", "吴十", idn(7), "13912345670")
        db.session.commit()
        before = len(_identity_reads(world.a.tenant_id))
    client = app.test_client()

    def export(user, **args):
        resp = client.get("/api/v1/t/alpha/roster/export", headers=bearer(api_token(client, "alpha", user)),
                          query_string={"village_id": str(world.a.villages[0])} | args)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        sheet = load_workbook(io.BytesIO(resp.data)).worksheets[0]
        return [[c for c in row] for row in sheet.iter_rows(min_row=2, values_only=True) if row[2] == "107号"][0]

    masked = export("vadmin", masked="true")
    assert masked[6] == "4416**********" + idn(7)[-4:] and masked[5] == "139****5670"
    with app.app_context():
        assert len(_identity_reads(world.a.tenant_id)) == before  # nothing shown in full, nothing recorded
    full = export("vadmin")
    assert full[6] == idn(7) and full[5] == "13912345670"
    with app.app_context():
        reads = _identity_reads(world.a.tenant_id)
        assert len(reads) == before + 1 and reads[-1].after["purpose"] == "roster_export"
        assert reads[-1].after["id_numbers"] >= 1 and reads[-1].actor_name == "vadmin"


def test_an_uploaded_roster_is_stored_sealed(app, world):
    """A roster file is full of ID numbers: the stored upload is encrypted too, and still imports."""
    with app.app_context(), alpha(world):
        _household(world, "113号", "冯一", idn(13))
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    data = client.get("/api/v1/t/alpha/roster/export", headers=headers,
                      query_string={"village_id": str(world.a.villages[0])}).data
    assert data.startswith(b"PK")
    resp = client.post("/api/v1/t/alpha/roster/imports", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "花名册.xlsx"), "village_id": str(world.a.villages[0])})
    assert resp.status_code == 201, resp.get_json()
    imported = resp.get_json()
    with app.app_context():
        stored = db.session.execute(text("SELECT data, sha256 FROM stored_files WHERE kind = 'spreadsheet'")).all()
        assert len(stored) == 1 and not bytes(stored[0][0]).startswith(b"PK")  # not the .xlsx zip
        assert sealed.unseal_bytes(bytes(stored[0][0])) == data
    # the stored upload downloads for its uploader only (a file link must not leak a roster)
    file_id = imported["file_id"]
    assert client.get(f"/api/v1/t/alpha/files/{file_id}", headers=headers).data == data
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert client.get(f"/api/v1/t/alpha/files/{file_id}", headers=vadmin).status_code == 404
    confirmed = client.post(f"/api/v1/t/alpha/roster/imports/{imported['id']}/confirm", headers=headers)
    assert confirmed.status_code == 202, confirmed.get_json()
    assert client.get(confirmed.headers["Location"], headers=headers).get_json()["status"] == "imported"
    with app.app_context():  # the rows staged for the import job are sealed too
        [staged] = db.session.execute(text("SELECT rows_sealed FROM roster_imports")).scalars().all()
        assert idn(13) not in staged and idn(13) in sealed.unseal(staged)


def test_key_rotation_old_rows_readable_then_resealed(make_app, app, world):
    old_key, new_key = app.config["ID_KEYS"][0], Fernet.generate_key().decode()
    with app.app_context(), alpha(world):
        h = new_household(actor(world), world.a.villages[0], world.a.grid[3], "109号", "郑一", head_id=idn(9))
        db.session.commit()
        hid = h.id
    rotated = make_app(ID_KEYS=[new_key, old_key])
    with rotated.app_context(), alpha(world):
        assert service.current_members(hid)[0].id_number == idn(9)  # an old row opens with the old key
        service.add_member(actor(world), hid, {"name": "郑二", "relation": "子", "id_number": idn(10)})
        db.session.commit()
        result = rotated.test_cli_runner().invoke(args=["reseal-ids"])
        assert result.exit_code == 0, result.output
        assert "were under an older key" in result.output and "0 uploaded spreadsheets" in result.output
        db.session.expire_all()
        tokens = [r["id_number_sealed"] for r in _raw_residents() if r["id_number_sealed"]]
        assert tokens and all(sealed.sealed_with_newest(t) for t in tokens)
    only_new = make_app(ID_KEYS=[new_key])
    with only_new.app_context(), alpha(world):
        assert sorted(r.id_number for r in service.current_members(hid)) == [idn(9), idn(10)]
        # the keyed hash did not change: uniqueness and search still hold after the rotation
        assert service.search_households(actor(world), q=idn(10)).total == 1
    only_old = make_app(ID_KEYS=[old_key])
    with only_old.app_context(), alpha(world):
        with pytest.raises(sealed.SealError):
            _ = service.current_members(hid)[0].id_number


def test_migration_converts_existing_rows_and_back(app, world):
    """Rows written before the change (plain column) are sealed by the migration, in batches; the
    downgrade opens them again."""
    from flask_migrate import downgrade, upgrade

    with app.app_context(), alpha(world):
        _household(world, "110号", "钱一", idn(11))
        _household(world, "111号", "钱二", idn(12))
        db.session.commit()
    with app.app_context():
        db.session.remove()
        downgrade(revision="c12j0bruns01")  # the step before the ID numbers were sealed
        plain = set(db.session.execute(text("SELECT id_number FROM residents WHERE id_number IS NOT NULL")).scalars())
        assert {idn(11), idn(12)} <= plain
        db.session.remove()
        upgrade()
        rows = _raw_residents()
        assert rows and all("id_number" not in r for r in rows)
        assert {sealed.unseal(r["id_number_sealed"]) for r in rows if r["id_number_sealed"]} == plain
        assert {r["id_number_hmac"] for r in rows if r["id_number_hmac"]} == {sealed.blind(n) for n in plain}
        assert not any(n in json.dumps(rows, default=str) for n in plain)
        index = {i["name"]: i for i in inspect(db.engine).get_indexes("residents")}["uq_residents_id_number_hmac"]
        assert index["unique"] and index["column_names"] == ["tenant_id", "id_number_hmac"]
        db.session.remove()
    with app.app_context(), alpha(world):  # the unique index is back, on the hash
        with pytest.raises(InputConflict):
            _household(world, "112号", "钱三", idn(11))
        db.session.rollback()


def test_production_refuses_to_start_without_id_keys(tmp_path, monkeypatch):
    for name in ("JIFEN_ID_KEYS", "JIFEN_ID_HMAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    base = {"JIFEN_ENV": "production", "SECRET_KEY": "x" * 40, "REDIS_URL": "redis://127.0.0.1:6379/15",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@127.0.0.1:5432/none"}
    with pytest.raises(ConfigError) as err:
        create_app(base)
    assert "JIFEN_ID_KEYS" in str(err.value) and "JIFEN_ID_HMAC_KEY" in str(err.value)
    with pytest.raises(ConfigError) as err:
        create_app(base | {"ID_KEYS": ["not-a-key"], "ID_HMAC_KEY": "h" * 40})
    assert "JIFEN_ID_KEYS[0]" in str(err.value)
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("JIFEN_ID_KEYS", json.dumps([key]))
    monkeypatch.setenv("JIFEN_ID_HMAC_KEY", "h" * 40)
    app = create_app(base)
    assert app.config["ID_KEYS"] == [key] and app.config["ID_HMAC_KEY"] == "h" * 40


def _text_columns() -> list[tuple[str, str]]:
    """(table, column) for every text-like column of every table (strings, text, JSON)."""
    out = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text | JSON):
                out.append((table.name, column.name))
    insp = inspect(db.engine)
    assert {t for t, _c in out} <= set(insp.get_table_names())
    return out


def _scan(numbers: set[str]) -> list[tuple[str, str]]:
    """(table, column) of every cell of every text-like column that holds one of `numbers`."""
    postgres = db.engine.dialect.name == "postgresql"
    found = []
    for table, column in _text_columns():
        col = f'"{column}"'
        value = f"{col}::text" if postgres else f"CAST({col} AS TEXT)"
        shaped = f"{value} ~ '[0-9]{{17}}[0-9X]'" if postgres else f"{col} IS NOT NULL"  # the database filters
        for (cell,) in db.session.execute(text(f'SELECT {value} FROM "{table}" WHERE {shaped}')):
            found += [(table, column) for m in ID_SHAPED.findall(cell or "") if m in numbers]
    return found


def test_no_plain_id_number_in_any_table_after_the_demo(app, longwo):  # noqa: F811 - the fixture
    """Every text column of every table, scanned for the demo's ID numbers (run on PostgreSQL: the
    restore drill reads the same tables)."""
    tenant, _admin, _villages, _stats = longwo
    with app.app_context():
        with tenant_scope(tenant):
            numbers = {r.id_number for r in db.session.execute(select(Resident)).scalars() if r.id_number_sealed}
        assert len(numbers) > 1000, len(numbers)
        assert _scan(numbers) == []
        hashes = db.session.execute(text("SELECT COUNT(DISTINCT id_number_hmac) FROM residents")).scalar()
        assert hashes == len(numbers)  # each demo number has its keyed hash
        # the scan finds a number where one is: written in plain into a note (never committed)
        planted = sorted(numbers)[0]
        db.session.execute(text("UPDATE households SET note = :n WHERE id = (SELECT id FROM households ORDER BY id LIMIT 1)"),
                           {"n": f"身份证 {planted}"})
        assert _scan(numbers) == [("households", "note")]
        db.session.rollback()
