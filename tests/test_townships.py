"""County operators onboard, list, suspend and reactivate townships: pages, API and CLI."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jifen.platform.accounts.models import User
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.townships.models import Tenant
from tests.conftest import (
    PASSWORD,
    api_token,
    bearer,
    csrf_token,
    page_login,
)

GOOD = {"slug": "jiuhe", "name": "九和镇", "timezone": "Asia/Shanghai", "default_locale": "zh_CN",
        "admin_username": "jhadmin", "admin_display_name": "九和管理员"}


@pytest.fixture
def op_api(app, world):
    client = app.test_client()
    return client, bearer(api_token(client, None, "op"))


def _tenant_count(app):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Tenant)).scalar()


def test_onboard_through_the_api_then_the_admin_sets_up_and_signs_in(app, op_api):
    client, headers = op_api
    resp = client.post("/api/v1/county/townships", json=GOOD, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["township"]["slug"] == "jiuhe" and body["township"]["status"] == "active"
    path = body["setup_url"].split("jifen.test", 1)[1]
    assert path.startswith("/t/jiuhe/setup/")
    admin = app.test_client()
    token = csrf_token(admin, path)
    assert admin.post(path, data={"password": "Green-Tea-2026", "confirm": "Green-Tea-2026",
                                  "csrf_token": token}).status_code == 302
    assert page_login(admin, "jiuhe", "jhadmin", "Green-Tea-2026").status_code == 302
    assert "九和镇" in admin.get("/t/jiuhe/").get_data(as_text=True)
    listing = client.get("/api/v1/county/townships", headers=headers).get_json()
    assert {t["slug"] for t in listing} == {"alpha", "beta", "jiuhe"}


@pytest.mark.parametrize("field,value,status", [
    ("slug", "alpha", 409), ("slug", "Bad Slug!", 422), ("slug", "ab", 422), ("slug", "api", 422),
    ("slug", "-x-y", 422), ("timezone", "Mars/Olympus", 422), ("name", "", 422), ("admin_username", "张三", 422),
    ("default_locale", "fr", 422),
])
def test_bad_onboarding_input_names_the_field_and_writes_nothing(app, op_api, field, value, status):
    client, headers = op_api
    before = _tenant_count(app)
    resp = client.post("/api/v1/county/townships", json=GOOD | {field: value}, headers=headers)
    assert resp.status_code == status
    assert field in resp.get_json()["errors"]["json"], resp.get_json()
    assert _tenant_count(app) == before


@pytest.mark.parametrize("field", ["tenant_id", "status", "role"])
def test_unknown_or_read_only_fields_are_refused(app, op_api, field):
    client, headers = op_api
    resp = client.post("/api/v1/county/townships", json=GOOD | {field: "x"}, headers=headers)
    assert resp.status_code == 422
    assert field in resp.get_json()["errors"]["json"]
    assert _tenant_count(app) == 2


def test_onboarding_page_shows_errors_next_to_fields_and_then_succeeds(app, world):
    client = app.test_client()
    page_login(client, None, "op")
    token = csrf_token(client, "/county/townships/new")
    bad = client.post("/county/townships/new", data=GOOD | {"slug": "Bad Slug!", "timezone": "Nowhere/X",
                                                           "csrf_token": token})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert 'id="e-slug"' in html and 'value="九和镇"' in html  # the rest of the form is kept
    assert _tenant_count(app) == 2
    good = client.post("/county/townships/new", data=GOOD | {"csrf_token": token})
    assert good.status_code == 200
    assert 'id="setup-link"' in good.get_data(as_text=True)
    listing = client.get("/county/").get_data(as_text=True)
    # pinyin order: 九和镇 (jiu) before 龙窝镇 (long) ... 九和 also sorts before 九和镇? one of each
    assert listing.index("九和镇") < listing.index("龙窝镇")


def test_suspended_township_shows_a_notice_and_its_api_refuses_but_nothing_is_deleted(app, world, op_api):
    client, headers = op_api
    user = app.test_client()
    page_login(user, "alpha", "admin")
    user_api = app.test_client()
    user_headers = bearer(api_token(user_api, "alpha", "admin"))
    resp = client.post("/api/v1/county/townships/alpha/suspend", json={"reason": "欠费"}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "suspended"
    page = user.get("/t/alpha/villages/")
    assert page.status_code == 403
    assert "suspended" in page.get_data(as_text=True) or "暂停" in page.get_data(as_text=True)
    assert app.test_client().get("/t/alpha/login").status_code == 403
    api = user_api.get("/api/v1/t/alpha/villages/", headers=user_headers)
    assert api.status_code == 403 and api.get_json()["status"] == "tenant_suspended"
    # the other township is untouched
    assert app.test_client().get("/t/beta/login").status_code == 200
    # suspending twice is a clear conflict
    again = client.post("/api/v1/county/townships/alpha/suspend", json={}, headers=headers)
    assert again.status_code == 409
    resp = client.post("/api/v1/county/townships/alpha/reactivate", headers=headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "active"
    assert user.get("/t/alpha/villages/").status_code == 200
    assert len(user_api.get("/api/v1/t/alpha/villages/", headers=user_headers).get_json()) == 3
    with app.app_context():
        actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.tenant_id == world.a.tenant_id)
                                     .order_by(AuditEntry.seq).execution_options(all_tenants=True)).scalars().all()
    assert actions[-2:] == ["township.suspend", "township.reactivate"]


def test_county_pages_suspend_and_reactivate(app, world):
    client = app.test_client()
    page_login(client, None, "op")
    token = csrf_token(client, "/county/townships/alpha")
    assert client.post("/county/townships/alpha/suspend", data={"reason": "测试", "csrf_token": token}).status_code == 302
    html = client.get("/county/townships/alpha").get_data(as_text=True)
    assert "测试" in html
    assert client.post("/county/townships/alpha/reactivate", data={"csrf_token": token}).status_code == 302


def test_new_setup_link_for_the_first_admin(app, op_api):
    client, headers = op_api
    resp = client.post("/api/v1/county/townships/alpha/setup-link", headers=headers)
    assert resp.status_code == 201 and resp.get_json()["admin_username"] == "admin"


def test_cli_onboard_list_suspend_and_reactivate(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["onboard-township", "--operator", "op", "--slug", "jiuhe", "--name", "九和镇",
                                 "--admin-username", "jhadmin", "--admin-name", "九和管理员"])
    assert result.exit_code == 0, result.output
    assert "/t/jiuhe/setup/" in result.output
    bad = runner.invoke(args=["onboard-township", "--operator", "op", "--slug", "jiuhe", "--name", "x",
                              "--admin-username", "a1", "--admin-name", "x", "--timezone", "Mars/X"])
    assert bad.exit_code != 0
    assert "slug" in bad.output and "timezone" in bad.output
    result = runner.invoke(args=["suspend-township", "--operator", "op", "--reason", "test", "jiuhe"])
    assert result.exit_code == 0 and "suspended" in result.output
    listing = runner.invoke(args=["list-townships", "--operator", "op"]).output
    assert "jiuhe\tsuspended" in listing and "alpha\tactive" in listing
    result = runner.invoke(args=["suspend-township", "--operator", "op", "--reactivate", "jiuhe"])
    assert "jiuhe: active" in result.output


def test_cli_create_operator_refuses_a_weak_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-operator", "--county", "紫金县", "--county-slug", "zijin",
                                 "--username", "op9", "--password", "12345678"])
    assert result.exit_code != 0 and "password" in result.output
    result = runner.invoke(args=["create-operator", "--county", "紫金县", "--county-slug", "zijin",
                                 "--username", "op9", "--password", PASSWORD])
    assert result.exit_code == 0, result.output


def test_demo_loads_longwo_and_is_idempotent(app, monkeypatch):
    from jifen.tenants.points import demo as points_demo
    monkeypatch.setattr(points_demo, "load_demo", lambda *a, **k: None)  # the year of points: test_demo_points.py
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "longwo" in first.output
    assert runner.invoke(args=["demo"]).exit_code == 0
    client = app.test_client()
    token = api_token(client, "longwo", "admin", "Longwo-demo-2026")
    names = [v["name"] for v in client.get("/api/v1/t/longwo/villages/", headers=bearer(token)).get_json()]
    # the nine pilot villages, in pinyin order
    assert names == ["官田村", "光明村", "礼坑村", "梅园村", "彭坊村", "琴口村", "琴南村", "嶂下村", "竹径村"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)
                                  .execution_options(all_tenants=True)).scalar() == 7
    # the township is configured: a full grid, households on it, the rulebook, stores and catalog
    grid = client.get("/api/v1/t/longwo/grid/nodes", headers=bearer(token)).get_json()
    assert {n["level"] for n in grid} == {1, 2, 3, 4}
    assert {n["village_name"] for n in grid if n["level"] == 1} == set(names)
    found = client.get("/api/v1/t/longwo/households/?per_page=1", headers=bearer(token)).get_json()
    assert found["total"] >= 2000
    in_force = client.get("/api/v1/t/longwo/rulebook/in-force?day=2026-06-01", headers=bearer(token)).get_json()
    assert len(in_force["items"]) >= 30
    catalog = client.get("/api/v1/t/longwo/stores/catalog", headers=bearer(token)).get_json()
    names = {c["name"] for c in catalog}
    assert {"牙膏", "牙刷", "洗衣粉", "洗发水"} <= names and any(n.startswith(("食用油", "花生油")) for n in names)


def test_a_suspension_made_by_another_process_is_seen_within_the_cache_time(make_app, clean):
    """Each process caches its township snapshots briefly (townships/lookup.py)."""
    import time

    from sqlalchemy import update

    from tests.conftest import make_world

    app = make_app(TENANT_CACHE_SECONDS=0.5)
    with app.app_context():
        make_world()
    client = app.test_client()
    assert client.get("/t/alpha/login").status_code == 200
    with app.app_context():  # as another process would: straight to the database, no forget()
        db.session.execute(update(Tenant).where(Tenant.slug == "alpha").values(status="suspended"))
        db.session.commit()
    time.sleep(0.6)
    assert client.get("/t/alpha/login").status_code == 403


def test_onboarding_rules_are_in_the_api_document_with_the_service_constants(app, op_api):
    from jifen.platform.accounts.service import USERNAME_RE
    from jifen.platform.townships import service as townships

    client, headers = op_api
    onboard = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Onboard"]
    slug = onboard["properties"]["slug"]
    assert (slug["pattern"], slug["minLength"], slug["maxLength"]) == (townships.SLUG_PATTERN, townships.MIN_SLUG,
                                                                       townships.MAX_SLUG)
    assert sorted(slug["not"]["enum"]) == sorted(townships.RESERVED_SLUGS)
    assert onboard["properties"]["name"]["maxLength"] == townships.MAX_NAME
    assert onboard["properties"]["admin_username"]["pattern"] == USERNAME_RE.pattern
    assert "Asia/Shanghai" in onboard["properties"]["timezone"]["enum"]
    before = _tenant_count(app)
    resp = client.post("/api/v1/county/townships", json=GOOD | {"name": "镇" * (townships.MAX_NAME + 1)},
                       headers=headers)
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]["json"]
    assert _tenant_count(app) == before
