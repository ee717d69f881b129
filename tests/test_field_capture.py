"""Offline capture for grid workers (issue 14), the server side: the app shell, manifest and service
worker; the data the phone keeps (the grid's households by the reach rule, the rules in force);
records sent with the page session, the CSRF header and an idempotency key, replayed once; and
refusals that name the field."""
from __future__ import annotations

import io
import uuid

from jifen.platform.db import db
from jifen.tenants.households.models import Household
from jifen.tenants.points.models import Application, ApplicationPhoto
from tests.conftest import page_login
from tests.points_world import in_alpha, jpeg
from tests.test_points_pages import apps_of, count, signed_in, today

F = "/t/alpha/field"


def fresh_token(client) -> str:
    resp = client.get(f"{F}/data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["csrf_token"]


def send(client, path, key, token, **data):
    headers = {"X-CSRFToken": token} | ({"Idempotency-Key": key} if key else {})
    return client.post(f"{F}/{path}", data=data, headers=headers, content_type="multipart/form-data")


def household_elsewhere(world, name="王五"):
    """A household of alpha's second village, where the grid worker has no reach."""
    from jifen.tenants.villages.models import GridNode

    node = GridNode(level=1, name="彭坊大网格", village_id=world.a.villages[1], parent_id=None, path="")
    db.session.add(node)
    db.session.flush()
    node.path = f"/{node.id}/"
    h = Household(village_id=world.a.villages[1], grid_node_id=node.id, door_plate="9号", head_name=name,
                  head_pinyin="wangwu", head_initials="ww")
    db.session.add(h)
    db.session.flush()
    return h.id


def record(pw, day, **more) -> dict:
    return {"household_id": str(pw.household), "item_id": str(pw.items["S1"]), "occurred_on": day,
            "description": "帮五保户修屋顶", "points": "4"} | more


def test_the_shell_manifest_and_service_worker(app, world, pw):
    gridder = signed_in(app, "gridder")
    page = gridder.get(f"{F}/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "离线采集" in html  # Chinese by default
    assert f'href="{F}/manifest.webmanifest"' in html and f'data-worker-url="{F}/sw.js"' in html
    manifest = app.test_client().get(f"{F}/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.get_json()["scope"] == f"{F}/" and manifest.get_json()["start_url"] == f"{F}/"
    for icon in manifest.get_json()["icons"]:  # Chromium installs with a 192 px and a 512 px PNG
        got = app.test_client().get(icon["src"])
        assert got.status_code == 200 and got.mimetype == icon["type"], icon
        if icon["type"] == "image/png":
            from PIL import Image

            assert "%dx%d" % Image.open(io.BytesIO(got.data)).size == icon["sizes"]
    assert {i["sizes"] for i in manifest.get_json()["icons"]} >= {"192x192", "512x512"}
    worker = app.test_client().get(f"{F}/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript" and b"caches" in worker.data
    assert "离线采集" in signed_in(app, "gridder").get("/t/alpha/").get_data(as_text=True)  # a home tile


def test_only_grid_workers_open_it(app, world, pw):
    for username in ("cadre", "vadmin", "villager"):
        assert signed_in(app, username).get(f"{F}/").status_code == 403, username
        assert signed_in(app, username).get(f"{F}/data").status_code == 403, username
    assert app.test_client().get(f"{F}/data").status_code == 302  # not signed in: to the sign-in page


def test_data_is_the_grid_in_pinyin_order_and_the_rules_in_force(app, world, pw):
    def elsewhere():
        household_elsewhere(world)
        db.session.add(Household(village_id=world.a.villages[0], grid_node_id=world.a.grid[-1], door_plate="3号",
                                 head_name="陈六", head_pinyin="chenliu", head_initials="cl"))
    in_alpha(app, world, elsewhere)
    data = signed_in(app, "gridder").get(f"{F}/data").get_json()
    names = [h["head_name"] for h in data["households"]]
    assert names == ["陈六", "李四", "张三伟"]  # chen, li, zhang: pinyin order
    assert "王五" not in names
    [village] = data["villages"]
    assert village["id"] == str(world.a.villages[0])
    items = {i["code"]: i for i in village["items"]}
    assert set(items) == {"A1", "A2", "D1", "V1", "S1"}
    assert items["A1"]["photo_needed"] and items["A1"]["household_applies"] and not items["S1"]["household_applies"]
    assert data["user_id"] and data["csrf_token"]


def test_another_township_is_a_404(app, world, pw):
    gridder = signed_in(app, "gridder")
    for path in ("/t/beta/field/", "/t/beta/field/data"):
        assert gridder.get(path).status_code == 404
    token = fresh_token(gridder)
    resp = gridder.post("/t/beta/field/records", data={}, headers={"X-CSRFToken": token, "Idempotency-Key": "x"})
    assert resp.status_code == 404


def test_a_replayed_key_makes_one_record(app, world, pw):
    gridder = signed_in(app, "gridder")
    token, day = fresh_token(gridder), today(app, world)
    before = count(app, world, Application)
    first = send(gridder, "records", "k-1", token, **record(pw, day))
    assert first.status_code == 201, first.get_json()
    again = send(gridder, "records", "k-1", token, **record(pw, day))
    assert (again.status_code, again.get_data()) == (first.status_code, first.get_data())
    assert count(app, world, Application) == before + 1
    [made] = apps_of(app, world, id=uuid.UUID(first.get_json()["id"]))
    assert made.origin == "staff" and made.points == 4 and made.submitted_by_name == "gridder"
    # another key is another record; the same key with another body is a conflict
    assert send(gridder, "records", "k-2", token, **record(pw, day)).status_code == 201
    assert send(gridder, "records", "k-1", token, **record(pw, day, points="5")).status_code == 409
    assert count(app, world, Application) == before + 2


def test_a_proxy_with_its_photo_attaches_once(app, world, pw):
    gridder = signed_in(app, "gridder")
    token, day = fresh_token(gridder), today(app, world)
    body = lambda: {"household_id": str(pw.household2), "item_id": str(pw.items["A1"]),  # noqa: E731
                    "occurred_on": day, "description": "清理村道", "photos": (jpeg(), "p.jpg")}
    first = send(gridder, "proxy", "p-1", token, **body())
    assert first.status_code == 201, first.get_json()
    assert send(gridder, "proxy", "p-1", token, **body()).get_data() == first.get_data()
    assert [a.origin for a in apps_of(app, world, household_id=pw.household2)] == ["proxy"]
    assert count(app, world, ApplicationPhoto) == 1


def test_refusals_name_the_field_and_keep_the_key_free(app, world, pw):
    gridder = signed_in(app, "gridder")
    token, day = fresh_token(gridder), today(app, world)
    before = count(app, world, Application)
    resp = send(gridder, "records", "r-1", token, **record(pw, day, description="", points="99"))
    assert resp.status_code in (409, 422)
    body = resp.get_json()
    assert "description" in body["errors"] and body["message"]
    resp = send(gridder, "records", "r-1", token, **record(pw, "2999-01-01"))
    assert resp.status_code == 409 and "occurred_on" in resp.get_json()["errors"]
    resp = send(gridder, "proxy", "r-1", token, household_id=str(pw.household), item_id=str(pw.items["A1"]),
                occurred_on=day, description="没有照片")
    assert resp.status_code == 409 and "photos" in resp.get_json()["errors"]  # A1 needs a photo
    resp = send(gridder, "proxy", "r-1", token, household_id=str(pw.household), item_id=str(pw.items["D1"]),
                occurred_on=day, description="扣分项")
    assert resp.status_code == 409 and "item_id" in resp.get_json()["errors"]
    assert count(app, world, Application) == before
    fixed = send(gridder, "records", "r-1", token, **record(pw, day))  # the refusal left the key free
    assert fixed.status_code == 201
    assert count(app, world, Application) == before + 1


def test_a_household_out_of_the_grid_is_refused_by_name(app, world, pw):
    other = in_alpha(app, world, lambda: household_elsewhere(world))
    gridder = signed_in(app, "gridder")
    resp = send(gridder, "records", "o-1", fresh_token(gridder), **record(pw, today(app, world),
                                                                          household_id=str(other)))
    assert resp.status_code == 404 and "household_id" in resp.get_json()["errors"]


def test_the_key_and_the_csrf_token_are_required(app, world, pw):
    gridder = signed_in(app, "gridder")
    token, day = fresh_token(gridder), today(app, world)
    before = count(app, world, Application)
    resp = send(gridder, "records", None, token, **record(pw, day))
    assert resp.status_code == 400 and "Idempotency-Key" in resp.get_json()["errors"]
    resp = send(gridder, "records", "c-1", "not-the-token", **record(pw, day))
    assert resp.status_code == 400
    assert count(app, world, Application) == before


def test_signing_out_clears_what_the_phone_kept(app, world, pw):
    client = app.test_client()
    page_login(client, "alpha", "gridder")
    token = fresh_token(client)
    resp = client.post("/t/alpha/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Clear-Site-Data"] == '"storage"'
