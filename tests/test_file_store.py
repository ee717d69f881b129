"""Uploads in S3-compatible object storage (JIFEN_FILE_STORE=s3), against a real S3 server: moto's
standalone server on a free local port, spoken to over HTTP by boto3 exactly as MinIO or AWS
would be. Each test gets a fresh bucket. What a user would notice: the bytes are in the bucket and
not in the database, downloads return them, rosters stay sealed, old files still download after the
switch, an offboarded township's objects go, and a store that is down is a 503 that wrote nothing."""
from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta

import boto3
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from jifen.platform import clock, sealed
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.config import ConfigError
from jifen.platform.db import db
from jifen.platform.files import service as files
from jifen.platform.files.models import StoredFile
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Resident
from jifen.tenants.store.models import CatalogItem
from tests.conftest import api_token, bearer, csrf_token, page_login

CREDENTIALS = {"S3_REGION": "us-east-1", "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing"}
STORES = "/api/v1/t/alpha/stores"


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    """(a boto3 client of the test's own, a fresh bucket's name)."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    name = f"jifen-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return s3, name


@pytest.fixture
def s3_app(make_app, world, bucket, s3_endpoint):
    """An app storing new uploads in the bucket, on the test database with the world in it."""
    return make_app(FILE_STORE="s3", S3_ENDPOINT_URL=s3_endpoint, S3_BUCKET=bucket[1], S3_PREFIX="uploads",
                    **CREDENTIALS)


def objects(bucket, prefix="") -> dict[str, bytes]:
    s3, name = bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix=prefix).get("Contents", [])]
    return {k: s3.get_object(Bucket=name, Key=k)["Body"].read() for k in keys}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (30, 160, 60)).save(out, "PNG")
    return out.getvalue()


def upload_catalog_photo(app) -> dict:
    """Through the API: a catalog item, then its photo; the item's JSON."""
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    name = f"香皂{uuid.uuid4().hex[:6]}"  # a catalog item's name is unique in the township
    item = client.post(f"{STORES}/catalog", json={"name": name, "price_points": 6, "unit": "块"}, headers=headers)
    assert item.status_code == 201, item.get_json()
    resp = client.put(f"{STORES}/catalog/{item.get_json()['id']}/photo", data={"photo": (io.BytesIO(_png()), "a.png")},
                      headers=headers, content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def stored_rows(app, world, slug="a"):
    """The stored files, without photos' thumbnails (each photo has one, stored the same way)."""
    township = getattr(world, slug)
    with app.app_context(), tenant_scope(db.session.get(Tenant, township.tenant_id)):
        rows = db.session.execute(select(StoredFile)).scalars().all()
        thumbs = {r.thumbnail_id for r in rows}
        return [(r.id, r.kind, r.storage_key, r.data) for r in rows if r.id not in thumbs]


def download(app, url: str):
    client = app.test_client()
    page_login(client, "alpha", "admin")
    return client.get(url)


def test_photo_goes_to_the_bucket_not_the_row_and_downloads_the_same(s3_app, world, bucket):
    item = upload_catalog_photo(s3_app)
    [(file_id, kind, key, data)] = stored_rows(s3_app, world)
    assert kind == "image" and data is None
    assert key == f"uploads/{world.a.tenant_id}/{file_id}"
    in_bucket = objects(bucket)
    assert len(in_bucket) == 2 and in_bucket[key][:2] == b"\xff\xd8"  # the re-encoded JPEG, and its thumbnail
    resp = download(s3_app, item["photo_url"])
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg" and resp.data == in_bucket[key]
    # an object lost from the bucket (a restore from backups of different times): 404, not a 500
    bucket[0].delete_object(Bucket=bucket[1], Key=key)
    assert download(s3_app, item["photo_url"]).status_code == 404


def stored_xlsx(data: bytes) -> bytes:
    """The same workbook with its parts stored uncompressed, so the ID numbers are plain in its bytes
    (a sealed copy must not show them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


def test_roster_in_the_bucket_is_sealed_and_imports(s3_app, world, bucket):
    from tests.test_roster import A1, GOOD, _grid, upload, xlsx

    with s3_app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        _grid(world.a.villages[0], world.a.grid[2], world.a.villages[1])
        db.session.commit()
    roster = stored_xlsx(xlsx(GOOD))
    assert A1.encode() in roster
    client = s3_app.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = upload(client, headers, roster)
    assert resp.status_code == 201 and resp.get_json()["status"] == "previewed", resp.get_json()
    [(_id, kind, key, data)] = stored_rows(s3_app, world)
    assert kind == "spreadsheet" and data is None
    sealed_bytes = objects(bucket)[key]
    assert A1.encode() not in sealed_bytes and not sealed_bytes.startswith(b"PK")
    with s3_app.app_context():
        assert sealed.unseal_bytes(sealed_bytes) == roster
    done = client.post(f"/api/v1/t/alpha/roster/imports/{resp.get_json()['id']}/confirm", headers=headers)
    assert done.status_code == 202, done.get_json()
    assert client.get(done.headers["Location"], headers=headers).get_json()["status"] == "imported"  # the job ran
    with s3_app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert A1 in {r.id_number for r in db.session.execute(select(Resident)).scalars()}
    # the uploader downloads the roster as uploaded (read back from the bucket and unsealed)
    page = s3_app.test_client()
    page_login(page, "alpha", "admin")
    got = page.get(f"/t/alpha/files/{_id}")
    assert got.status_code == 200 and got.data == roster


def test_rotating_the_id_keys_reseals_rosters_in_the_bucket(make_app, s3_app, world, bucket):
    from cryptography.fernet import Fernet

    with s3_app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        roster = files.store_spreadsheet(admin, ("花名册.xlsx", b"PK\x03\x04 a roster"))
        key = roster.storage_key
        db.session.commit()
    old_key, new_key = s3_app.config["ID_KEYS"][0], Fernet.generate_key().decode()
    s3 = {k: s3_app.config[k] for k in ("FILE_STORE", "S3_ENDPOINT_URL", "S3_BUCKET", "S3_PREFIX")} | CREDENTIALS
    rotated = make_app(ID_KEYS=[new_key, old_key], **s3)
    result = rotated.test_cli_runner().invoke(args=["reseal-ids"])
    assert result.exit_code == 0 and "1 uploaded spreadsheets" in result.output, result.output
    only_new = make_app(ID_KEYS=[new_key], **s3)
    with only_new.app_context():
        assert sealed.unseal_bytes(objects(bucket)[key]) == b"PK\x03\x04 a roster"


def test_a_file_stored_in_the_database_still_downloads_after_the_switch_and_moves(make_app, app, world, bucket,
                                                                                   s3_endpoint):
    item = upload_catalog_photo(app)  # the default: in the row
    [(file_id, _kind, key, data)] = stored_rows(app, world)
    assert key is None and data[:2] == b"\xff\xd8"
    s3_app = make_app(FILE_STORE="s3", S3_ENDPOINT_URL=s3_endpoint, S3_BUCKET=bucket[1], **CREDENTIALS)
    resp = download(s3_app, item["photo_url"])
    assert resp.status_code == 200 and resp.data == data
    assert objects(bucket) == {}
    # moved into the bucket by the CLI: the row keeps only the key, the download is unchanged
    result = s3_app.test_cli_runner().invoke(args=["files", "move-to-store"])
    assert result.exit_code == 0 and "2 file(s) moved" in result.output, result.output
    [(_id, _kind, key, left)] = stored_rows(s3_app, world)
    assert left is None and objects(bucket)[key] == data and key == f"{world.a.tenant_id}/{file_id}"
    assert len(objects(bucket)) == 2  # with its thumbnail
    assert download(s3_app, item["photo_url"]).data == data
    again = s3_app.test_cli_runner().invoke(args=["files", "move-to-store"])
    assert again.exit_code == 0 and "0 file(s) moved" in again.output


def test_offboarding_deletion_removes_the_townships_objects_only(s3_app, world, bucket):
    from jifen.platform.townships.models import CountyRecord
    from jifen.platform.townships.offboarding import delete_township

    upload_catalog_photo(s3_app)
    with s3_app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            admin = actor_for(db.session.get(User, (beta.id, world.b.user_id())))
            files.store_document(admin, ("决议.pdf", b"%PDF-1.7 beta's resolution"))
        db.session.commit()
    alpha_prefix, beta_prefix = f"uploads/{world.a.tenant_id}/", f"uploads/{world.b.tenant_id}/"
    assert len(objects(bucket, alpha_prefix)) == 2 and len(objects(bucket, beta_prefix)) == 1
    with s3_app.app_context():
        delete_township(db.session.get(Tenant, world.a.tenant_id), Actor.system("offboarding", None))
        db.session.commit()
        record = db.session.execute(select(CountyRecord).where(CountyRecord.action == "township.delete")).scalar_one()
        assert record.details["objects"] == 2  # the photo and its thumbnail
    assert objects(bucket, alpha_prefix) == {}
    assert list(objects(bucket, beta_prefix).values()) == [b"%PDF-1.7 beta's resolution"]


def test_an_object_left_by_a_rolled_back_upload_is_swept_after_a_day(s3_app, world, bucket):
    with s3_app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        admin = actor_for(db.session.get(User, (world.a.tenant_id, world.a.user_id())))
        kept = files.store_document(admin, ("决议.pdf", b"%PDF-1.7 kept")).storage_key
        db.session.commit()
        lost = files.store_document(admin, ("决议.pdf", b"%PDF-1.7 rolled back")).storage_key
        db.session.rollback()  # the request failed after the object was written
        assert set(objects(bucket)) == {kept, lost}
        assert files.sweep_orphan_objects() == {"checked": 0, "deleted": 0}  # too young: may be a request running
        with clock.at(clock.now() + timedelta(days=1, minutes=5)):
            assert files.sweep_orphan_objects() == {"checked": 2, "deleted": 1}
    assert set(objects(bucket)) == {kept}


def test_the_sweep_is_a_daily_job_on_the_retention_list(s3_app, world):
    from jifen.platform.jobs.schedule import DAILY_JOBS

    assert "jifen.sweep_file_objects" in DAILY_JOBS
    result = s3_app.test_cli_runner().invoke(args=["run-job", "jifen.sweep_file_objects", "--tenant", "alpha"])
    assert result.exit_code == 0, result.output
    # and the township's admins read the rule on their data retention list
    client = s3_app.test_client()
    rules = client.get("/api/v1/t/alpha/audit/retention", headers=bearer(api_token(client, "alpha", "admin")))
    assert "一天后删除" in {i["key"]: i["rule"] for i in rules.get_json()}["uploads"]


@pytest.mark.parametrize("settings,named", [
    ({"FILE_STORE": "s3"}, "JIFEN_S3_BUCKET"),
    ({"FILE_STORE": "ftp"}, "JIFEN_FILE_STORE"),
    ({"FILE_STORE": "s3", "S3_BUCKET": "b", "S3_ACCESS_KEY_ID": "only-the-id"}, "JIFEN_S3_SECRET_ACCESS_KEY"),
])
def test_incomplete_store_settings_stop_the_start_naming_the_setting(make_app, migrated, settings, named):
    with pytest.raises(ConfigError) as err:
        make_app(**settings)
    assert named in str(err.value)


def test_an_unreachable_store_is_a_503_and_writes_nothing(make_app, s3_app, world):
    down = make_app(FILE_STORE="s3", S3_ENDPOINT_URL="http://127.0.0.1:1", S3_BUCKET="jifen-down",
                    S3_CONNECT_TIMEOUT=1, **CREDENTIALS)
    client = down.test_client()
    headers = bearer(api_token(client, "alpha", "admin"))
    item = client.post(f"{STORES}/catalog", json={"name": "香皂", "price_points": 6, "unit": "块"}, headers=headers)
    resp = client.put(f"{STORES}/catalog/{item.get_json()['id']}/photo", data={"photo": (io.BytesIO(_png()), "a.png")},
                      headers=headers, content_type="multipart/form-data")
    assert resp.status_code == 503 and resp.get_json()["status"] == "unavailable"
    assert "File storage" in resp.get_json()["message"] or "文件存储" in resp.get_json()["message"]
    assert resp.headers["Retry-After"] == "30"
    # the page form: an error page, no item, no stored file
    page_login(client, "alpha", "admin")
    token = csrf_token(client, "/t/alpha/stores/catalog/new")
    page = client.post("/t/alpha/stores/catalog/new", content_type="multipart/form-data", data={
        "csrf_token": token, "name": "洗发水", "price_points": "20", "unit": "瓶", "photo": (io.BytesIO(_png()), "b.png")})
    assert page.status_code == 503
    with down.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert db.session.execute(select(func.count()).select_from(StoredFile)).scalar() == 0
        assert db.session.execute(select(func.count()).select_from(CatalogItem)
                                  .where(CatalogItem.name == "洗发水")).scalar() == 0
    # a file in the bucket, read while the store is down: 503 too, not a 500
    photo = upload_catalog_photo(s3_app)["photo_url"]
    assert download(down, photo).status_code == 503


def test_a_file_in_the_bucket_with_the_store_set_back_to_db_still_downloads(make_app, s3_app, world, bucket):
    """Setting JIFEN_FILE_STORE back to db with the bucket still configured: new uploads go to the
    rows, the ones in the bucket are still read from it."""
    photo = upload_catalog_photo(s3_app)["photo_url"]
    back = make_app(S3_ENDPOINT_URL=s3_app.config["S3_ENDPOINT_URL"], S3_BUCKET=bucket[1], S3_PREFIX="uploads",
                    **CREDENTIALS)
    assert back.config["FILE_STORE"] == "db"
    resp = download(back, photo)
    assert resp.status_code == 200 and resp.data in objects(bucket).values()
    upload_catalog_photo(back)
    with back.app_context():
        held = db.session.execute(text("SELECT count(*) FROM stored_files WHERE data IS NOT NULL")).scalar()
    assert held == 2 and len(objects(bucket)) == 2  # each photo with its thumbnail
