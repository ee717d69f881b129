"""Nothing lost: photos sent with a refused form are kept (staged) and attach when the form is sent
again, for their uploader only; every photo has a small thumbnail at its own URL."""
from __future__ import annotations

import io
import re
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.files import service as files
from jifen.platform.files.models import StoredFile
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points.models import Application, ApplicationPhoto
from tests.conftest import page_login
from tests.points_world import in_alpha
from tests.test_points_pages import P, apps_of, count, form_of, signed_in, today

KEPT_RE = re.compile(r'name="staged_photos" value="([0-9a-f-]+)"')


def big_jpeg(w=2400, h=1600) -> io.BytesIO:
    buf = io.BytesIO()
    Image.effect_noise((w, h), 60).convert("RGB").save(buf, "JPEG", quality=90)
    buf.seek(0)
    return buf


def post_apply(client, pw, day, photos=None, staged=(), **more):
    token, once = form_of(client, f"{P}/apply")
    data = {"csrf_token": token, "once": once, "household_id": str(pw.household), "item_id": str(pw.items["A1"]),
            "occurred_on": day, "description": "打扫村道", "staged_photos": list(staged)} | more
    if photos is not None:
        data["photos"] = photos
    return client.post(f"{P}/apply", data=data, content_type="multipart/form-data")


def staged_in(app, tenant_id) -> list[StoredFile]:
    with app.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        rows = db.session.execute(select(StoredFile).where(StoredFile.staged_at.is_not(None))).scalars().all()
        db.session.expunge_all()
        return rows


def test_photos_of_a_refused_form_are_kept_and_attach_once_when_it_is_sent_again(app, world, pw):
    villager = signed_in(app, "villager")
    resp = post_apply(villager, pw, today(app, world), photos=[(big_jpeg(), "a.jpg"), (big_jpeg(), "b.jpg")],
                      description="")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    kept = KEPT_RE.findall(html)
    assert len(kept) == 2 and 'id="e-description"' in html
    for file_id in kept:  # shown small, opened full
        assert f"/t/alpha/files/{file_id}/thumb" in html and f'href="/t/alpha/files/{file_id}"' in html
    assert 'capture' not in html
    assert count(app, world, Application) == 0 and len(staged_in(app, world.a.tenant_id)) == 2

    # sent again with one kept photo unticked and no new file: one application with the other photo
    resp = post_apply(villager, pw, today(app, world), staged=kept[:1])
    assert resp.status_code == 303
    [application] = db_apps(app, world)
    photos = db_photos(app, world)
    assert [str(p.file_id) for p in photos] == kept[:1] and photos[0].application_id == application.id
    assert [str(f.id) for f in staged_in(app, world.a.tenant_id)] == kept[1:]  # the unticked one waits to be swept

    # the attached id cannot be attached a second time
    resp = post_apply(villager, pw, today(app, world), staged=kept[:1])
    assert resp.status_code == 422 and 'id="e-photos"' in resp.get_data(as_text=True)
    assert count(app, world, Application) == 1 and count(app, world, ApplicationPhoto) == 1


def test_a_kept_photo_counts_as_the_evidence_and_new_photos_add_to_it(app, world, pw):
    villager = signed_in(app, "villager")
    resp = post_apply(villager, pw, "2999-01-01", photos=[(big_jpeg(300, 200), "a.jpg")])
    [kept] = KEPT_RE.findall(resp.get_data(as_text=True))
    resp = post_apply(villager, pw, today(app, world), photos=[(big_jpeg(300, 200), "b.jpg")], staged=[kept])
    assert resp.status_code == 303
    photos = db_photos(app, world)
    assert len(photos) == 2 and str(photos[0].file_id) == kept and staged_in(app, world.a.tenant_id) == []


def test_another_users_or_townships_staged_photo_is_refused_never_attached(app, world, pw):
    villager2 = signed_in(app, "villager2")
    resp = post_apply(villager2, pw, "2999-01-01", photos=[(big_jpeg(300, 200), "x.jpg")],
                      household_id=str(pw.household2))
    [theirs] = KEPT_RE.findall(resp.get_data(as_text=True))
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.b.tenant_id)):
        beta_villager = actor_for(db.session.execute(select(User).where(User.id == world.b.staff["villager"][0])).scalar_one())
        other_township = str(files.store_image(beta_villager, ("b.jpg", big_jpeg(300, 200).getvalue()),
                                               staged=True).id)
        db.session.commit()

    villager = signed_in(app, "villager")
    for foreign in (theirs, other_township, "not-an-id"):
        resp = post_apply(villager, pw, today(app, world), staged=[foreign], item_id=str(pw.items["A2"]))
        assert resp.status_code == 422, foreign
        html = resp.get_data(as_text=True)
        assert 'id="e-photos"' in html and foreign not in KEPT_RE.findall(html)
    assert count(app, world, Application) == 0 and count(app, world, ApplicationPhoto) == 0
    assert [str(f.id) for f in staged_in(app, world.a.tenant_id)] == [theirs]  # still villager2's, still waiting


def test_staged_photos_left_over_are_deleted_with_their_thumbnails_after_two_days(app, world, pw):
    villager = signed_in(app, "villager")
    post_apply(villager, pw, "2999-01-01", photos=[(big_jpeg(300, 200), "a.jpg")])
    total = lambda: count(app, world, StoredFile)  # noqa: E731
    assert total() == 2  # the photo and its thumbnail
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert files.purge_staged() == 0  # too young
        with clock.at(clock.now() + files.STAGED_AGE + timedelta(minutes=1)):
            assert files.purge_staged() == 1
        db.session.commit()
    assert total() == 0


def test_thumbnail_is_small_at_its_own_url_and_reached_like_the_photo(app, world, pw):
    villager = signed_in(app, "villager")
    resp = post_apply(villager, pw, today(app, world), photos=[(big_jpeg(), "a.jpg")])
    assert resp.status_code == 303
    [photo] = db_photos(app, world)
    full = villager.get(f"/t/alpha/files/{photo.file_id}")
    thumb = villager.get(f"/t/alpha/files/{photo.file_id}/thumb")
    assert full.status_code == thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(full.data)).size) == files.PHOTO_EDGE
    assert max(Image.open(io.BytesIO(thumb.data)).size) == files.THUMB_EDGE
    assert len(thumb.data) * 5 < len(full.data), (len(thumb.data), len(full.data))
    detail = villager.get(resp.location).get_data(as_text=True)
    assert f'src="/t/alpha/files/{photo.file_id}/thumb"' in detail and f'href="/t/alpha/files/{photo.file_id}"' in detail
    # the same reach rule as the photo: another township's user gets 404 for both, a stranger signs in
    beta = app.test_client()
    assert page_login(beta, "beta", "villager").status_code == 302
    assert beta.get(f"/t/beta/files/{photo.file_id}").status_code == 404
    assert beta.get(f"/t/beta/files/{photo.file_id}/thumb").status_code == 404
    assert app.test_client().get(f"/t/alpha/files/{photo.file_id}/thumb").status_code == 302


def db_apps(app, world):
    return apps_of(app, world)


def db_photos(app, world) -> list[ApplicationPhoto]:
    def q():
        rows = db.session.execute(select(ApplicationPhoto).order_by(ApplicationPhoto.sort_order)).scalars().all()
        db.session.expunge_all()
        return rows
    return in_alpha(app, world, q)

