"""Uploads: a file is what its bytes say, not what its name says; photos are shrunk; files are
served only to the township that owns them."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Invalid
from jifen.platform.files import service as files
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import make_world, page_login


def _png(w=40, h=30, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def alpha(ctx):
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        yield world, actor_for(db.session.get(User, (tenant.id, world.a.user_id())))


def test_photo_is_reencoded_as_jpeg_and_shrunk(alpha):
    _world, admin = alpha
    stored = files.store_image(admin, ("big.png", _png(3000, 2000)))
    assert stored.content_type == "image/jpeg" and stored.kind == "image"
    with Image.open(io.BytesIO(stored.data)) as img:
        assert img.format == "JPEG" and max(img.size) == files.PHOTO_EDGE


@pytest.mark.parametrize("payload", [b"just some text, named like a photo", b"%PDF-1.4 not a photo", b""])
def test_a_non_image_is_refused_naming_the_field(alpha, payload):
    _world, admin = alpha
    with pytest.raises(Invalid) as err:
        files.store_image(admin, ("photo.jpg", payload), field="photo")
    assert "photo" in err.value.errors
    assert db.session.execute(db.select(files.StoredFile)).first() is None


def test_too_large_is_refused_with_the_limit(alpha):
    _world, admin = alpha
    with pytest.raises(Invalid) as err:
        files.store_image(admin, ("huge.jpg", b"\xff" * (files.MAX_IMAGE_BYTES + 1)))
    assert "8 MB" in err.value.errors["photo"][0]


def test_scan_may_be_pdf_or_photo(alpha):
    _world, admin = alpha
    assert files.store_document(admin, ("决议.pdf", b"%PDF-1.7\n...")).content_type == "application/pdf"
    assert files.store_document(admin, ("决议.png", _png())).content_type == "image/jpeg"
    with pytest.raises(Invalid) as err:
        files.store_document(admin, ("决议.docx", b"PK\x03\x04 word"))
    assert "scan" in err.value.errors


def test_spreadsheet_must_be_xlsx(alpha):
    _world, admin = alpha
    with pytest.raises(Invalid) as err:
        files.store_spreadsheet(admin, ("花名册.xls", b"\xd0\xcf\x11\xe0 old excel"))
    assert ".xlsx" in err.value.errors["file"][0]


def test_file_is_served_to_its_township_only(app):
    with app.app_context():
        world = make_world()
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_for(db.session.get(User, (tenant.id, world.a.user_id())))
            file_id = files.store_image(admin, ("p.png", _png())).id
        db.session.commit()
    client = app.test_client()
    page_login(client, "alpha", world.a.username("villager"))
    resp = client.get(f"/t/alpha/files/{file_id}")
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    assert "inline" in resp.headers["Content-Disposition"]
    other = app.test_client()
    page_login(other, "beta", world.b.username())
    assert other.get(f"/t/beta/files/{file_id}").status_code == 404


def test_api_clients_fetch_files_with_their_token(app):
    from tests.conftest import api_token, bearer

    with app.app_context():
        world = make_world()
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            admin = actor_for(db.session.get(User, (tenant.id, world.a.user_id())))
            file_id = files.store_image(admin, ("p.png", _png())).id
        db.session.commit()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", world.a.username("storekeeper")))
    resp = client.get(f"/api/v1/t/alpha/files/{file_id}", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
    assert client.get(f"/api/v1/t/alpha/files/{file_id}").status_code == 401
