"""Another township's object is a 404 for every route and every role.

The routes come from `app.url_map`, so a new township route is swept without anyone remembering
to add it. Each URL parameter must have a value below: a new kind of parameter fails the test
until someone says which object of township beta it should name.
"""
from __future__ import annotations

import pytest

from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import User
from jifen.platform.db import db
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import CSRF_RE, api_token, bearer, make_world, page_login

ROLES = ["township_admin", "village_admin", "area_cadre", "panel_member", "grid_worker", "storekeeper", "villager"]
SKIP_METHODS = {"HEAD", "OPTIONS"}


def _beta_objects(app, world) -> dict:
    """One real object of township beta for each URL parameter name."""
    with app.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            admin = db.session.get(User, (beta.id, world.b.user_id()))
            token, _raw = accounts.create_token(accounts.actor_for(admin), "beta token")
            _user, secret = staff.new_setup_link(accounts.actor_for(admin), world.b.user_id("panel_member"))
            values = {"user_id": world.b.user_id("panel_member"), "village_id": world.b.villages[0],
                      "token_id": token.id, "secret": secret}
            values |= _beta_configuration(world.b.villages[0])
        db.session.commit()
    return values


def _beta_configuration(village_id) -> dict:
    """Rows written straight to the tables (not through services): this test must name an object
    for every URL parameter whatever the services require."""
    from datetime import date

    from jifen.platform.files.models import StoredFile
    from jifen.tenants.households.models import CustomTag, Household, Resident, RosterImport
    from jifen.tenants.rulebook.models import (
        CommitmentSignature,
        RulebookVersion,
        RuleCategory,
        RuleItem,
        VillageRulebook,
    )
    from jifen.tenants.store.models import CatalogItem, StockMovement, Store
    from jifen.tenants.villages.models import GridNode, VillageGroup

    def add(obj):
        db.session.add(obj)
        db.session.flush()
        return obj

    file = add(StoredFile(kind="image", filename="x.jpg", content_type="image/jpeg", size=1, sha256="0" * 64,
                          data=b"x"))
    group = add(VillageGroup(village_id=village_id, name="一组"))
    node = add(GridNode(level=1, name="大网格", path="", village_id=village_id))
    node.path = f"/{node.id}/"
    household = add(Household(village_id=village_id, grid_node_id=node.id, door_plate="99号", head_name="张三"))
    resident = add(Resident(household_id=household.id, name="张三", name_pinyin="zhangsan", name_initials="zs",
                            relation="head"))
    tag = add(CustomTag(code="beta", name_zh="标签", name_en="tag"))
    roster = add(RosterImport(file_id=file.id, status="previewed"))
    version = add(RulebookVersion(number=1, title="细则"))
    category = add(RuleCategory(name_zh="人居环境", name_en="Living environment"))
    item = add(RuleItem(version_id=version.id, category_id=category.id, code="A1", title_zh="项", direction="award",
                        points_min=1, points_max=1, points_default=1))
    village_rulebook = add(VillageRulebook(village_id=village_id, version_id=version.id))
    signature = add(CommitmentSignature(village_rulebook_id=village_rulebook.id, household_id=household.id,
                                        signed_on=date(2026, 1, 1), signer_name="张三"))
    store = add(Store(name="另一积分超市", village_id=village_id))
    catalog_item = add(CatalogItem(name="牙膏", price_points=5, unit="支"))
    movement = add(StockMovement(store_id=store.id, catalog_item_id=catalog_item.id, kind="restock", delta=1,
                                 quantity_after=1))
    from jifen.tenants.activities.models import Activity
    from jifen.tenants.points.models import Application, Batch, LedgerTransaction, Notice, Objection

    notice = add(Notice(village_id=village_id, number=1, opens_on=date(2026, 1, 1), closes_on=date(2026, 1, 5),
                        public_token="beta-notice-token"))
    activity = add(Activity(village_id=village_id, item_code="A1", title="义务劳动", held_on=date(2026, 1, 1),
                            checkin_code="123456"))
    batch = add(Batch(village_id=village_id, item_id=item.id, title="卫生检查", occurred_on=date(2026, 1, 1)))
    application = add(Application(household_id=household.id, village_id=village_id, item_id=item.id, item_code="A1",
                                  version_id=version.id, points=1, occurred_on=date(2026, 1, 1), origin="self",
                                  state="on_notice", notice_id=notice.id))
    objection = add(Objection(application_id=application.id, notice_id=notice.id, objector_name="李四", reason="x"))
    transaction = add(LedgerTransaction(source_kind="application", source_id=application.id,
                                        household_id=household.id, period=2026, points=1,
                                        occurred_on=date(2026, 1, 1)))
    from tests.beta_objects import more_objects

    found = {"village_id": village_id, "household_id": household.id, "store_id": store.id,
             "catalog_item_id": catalog_item.id, "grid_node_id": node.id, "item_id": item.id, "add": add}
    return more_objects(found) | {"notice_id": notice.id, "activity_id": activity.id, "batch_id": batch.id,
            "application_id": application.id, "objection_id": objection.id, "transaction_id": transaction.id,
            "token": notice.public_token,
            "file_id": file.id, "group_id": group.id, "grid_node_id": node.id, "household_id": household.id,
            "resident_id": resident.id, "tag_id": tag.id, "import_id": roster.id, "version_id": version.id,
            "category_id": category.id, "item_id": item.id, "village_rulebook_id": village_rulebook.id,
            "signature_id": signature.id, "store_id": store.id, "catalog_item_id": catalog_item.id,
            "movement_id": movement.id}


def tenant_rules(app):
    for rule in app.url_map.iter_rules():
        if "tenant_slug" in rule.arguments:
            for method in sorted(rule.methods - SKIP_METHODS):
                yield rule, method


def _is_public(app, rule) -> bool:
    view = app.view_functions[rule.endpoint]
    return bool(getattr(view, "jifen_public", False) or getattr(getattr(view, "view_class", None), "jifen_public", False))


def _url(app, rule, slug, objects) -> str:
    missing = set(rule.arguments) - {"tenant_slug"} - set(objects)
    assert not missing, f"{rule.rule}: say which beta object {missing} should name in _beta_objects()"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, tenant_slug=slug, **{k: objects[k] for k in rule.arguments if k != "tenant_slug"})


def _callers(app, world):
    """(label, client, headers) for every role of township alpha and for the county operator."""
    out = []
    for role in ROLES:
        web = app.test_client()
        assert page_login(web, "alpha", world.a.username(role)).status_code == 302
        token = CSRF_RE.search(web.get("/t/alpha/").get_data(as_text=True)).group(1)
        api = app.test_client()
        out.append((f"{role}/page", web, {"X-CSRFToken": token}, token))
        out.append((f"{role}/api", api, bearer(api_token(api, "alpha", world.a.username(role))), None))
    op_web = app.test_client()
    assert page_login(op_web, None, "op").status_code == 302
    out.append(("operator/page", op_web, {}, None))
    op_api = app.test_client()
    out.append(("operator/api", op_api, bearer(api_token(op_api, None, "op")), None))
    return out


def _call(client, method, url, headers, csrf):
    kwargs = {"headers": headers}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        if url.startswith("/api/"):
            kwargs["json"] = {}
        else:
            kwargs["data"] = {"csrf_token": csrf or ""}
    return client.open(url, method=method, **kwargs)


def test_every_tenant_route_is_swept(app):
    rules = list(tenant_rules(app))
    endpoints = {r.endpoint for r, _ in rules}
    # the sweep covers pages and API; if this shrinks, routes stopped being tenant routes
    assert len(rules) >= 30
    assert {"staff.detail", "villages.edit", "staff_api.StaffDetail", "villages_api.VillageDetail"} <= endpoints


def test_other_townships_routes_are_404_for_every_role(app):
    with app.app_context():
        world = make_world()
    beta = _beta_objects(app, world)
    failures = []
    callers = _callers(app, world)
    for rule, method in tenant_rules(app):
        is_api = rule.rule.startswith("/api/")
        public = _is_public(app, rule)
        for label, client, headers, csrf in callers:
            if is_api != label.endswith("/api"):
                continue
            # 1. beta's own URL, beta's objects, called by alpha's people
            if not public:
                resp = _call(client, method, _url(app, rule, "beta", beta), headers, csrf)
                if resp.status_code != 404:
                    failures.append(f"{label} {method} {rule.rule} on beta -> {resp.status_code}")
            # 2. alpha's URL naming beta's objects
            if set(rule.arguments) - {"tenant_slug"} and not label.startswith("operator"):
                resp = _call(client, method, _url(app, rule, "alpha", beta), headers, csrf)
                if resp.status_code != 404:
                    failures.append(f"{label} {method} {rule.rule} on alpha with beta ids -> {resp.status_code}")
    assert not failures, "\n".join(failures)
    # and nothing of beta changed: its people still have their roles and are active
    with app.app_context():
        beta_t = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta_t):
            users = db.session.execute(db.select(User)).scalars().all()
            assert all(u.is_active for u in users)
            assert staff.roles_of([world.b.user_id("panel_member")])[world.b.user_id("panel_member")][0]["role"] == "panel_member"


@pytest.mark.parametrize("kind", ["page", "api"])
def test_operator_of_another_county_gets_404_for_township(app, kind):
    with app.app_context():
        make_world()
    client = app.test_client()
    if kind == "page":
        page_login(client, None, "op2")
        assert client.get("/county/townships/alpha").status_code == 404
        html = client.get("/county/").get_data(as_text=True)
        assert "龙窝镇" not in html
    else:
        headers = bearer(api_token(client, None, "op2"))
        assert client.get("/api/v1/county/townships/alpha", headers=headers).status_code == 404
        assert client.post("/api/v1/county/townships/alpha/suspend", json={}, headers=headers).status_code == 404
        assert client.get("/api/v1/county/townships", headers=headers).get_json() == []


def test_township_user_cannot_use_county_console(app):
    with app.app_context():
        world = make_world()
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", world.a.username()))
    assert client.get("/api/v1/county/townships", headers=headers).status_code == 401
    page_login(client, "alpha", world.a.username())
    resp = client.get("/county/")  # a township session means nothing here: sign in as operator
    assert resp.status_code == 302 and "/county/login" in resp.headers["Location"]


def county_rules(app):
    """Every county route but sign-in (pages and API; the cockpit's too), from the URL map."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/county", "/api/v1/county")) and not _is_public(app, rule):
            for method in sorted(rule.methods - SKIP_METHODS):
                yield rule, method


def test_county_routes_show_a_county_to_its_own_operator_only(app):
    """Swept like the township routes: another county's operator gets 404 for every route naming a
    township of 紫金县 and sees neither township on any route that names none; a township account
    gets none of the county routes."""
    with app.app_context():
        world = make_world()
    rules = list(county_rules(app))
    assert {"county_cockpit.index", "county_cockpit.screen", "county_cockpit_api.CountyCockpit"} <= {
        r.endpoint for r, _m in rules}
    op2_web, op2_api = app.test_client(), app.test_client()
    page_login(op2_web, None, "op2")
    op2_csrf = CSRF_RE.search(op2_web.get("/county/").get_data(as_text=True)).group(1)
    op2_headers = bearer(api_token(op2_api, None, "op2"))
    township_web, township_api = app.test_client(), app.test_client()
    page_login(township_web, "alpha", world.a.username())
    township_headers = bearer(api_token(township_api, "alpha", world.a.username()))
    failures = []
    for rule, method in rules:
        is_api = rule.rule.startswith("/api/")
        unknown = set(rule.arguments) - {"township_slug"}
        assert not unknown, f"{rule.rule}: say what {unknown} should name in this sweep"
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **({"township_slug": "alpha"} if rule.arguments else {}))
            missing = url_for(rule.endpoint, **({"township_slug": "no-such-town"} if rule.arguments else {}))
        client, headers = (op2_api, op2_headers) if is_api else (op2_web, {})
        if rule.arguments:
            # answered exactly as a township that does not exist (a body refused before the lookup
            # is refused alike for both), never a success
            resp = _call(client, method, url, headers, op2_csrf)
            alike = _call(client, method, missing, headers, op2_csrf)
            if resp.status_code != alike.status_code or resp.status_code < 400 or \
                    resp.get_json(silent=True) != alike.get_json(silent=True):
                failures.append(f"op2 {method} {rule.rule} on alpha -> {resp.status_code}, "
                                f"a missing township -> {alike.status_code}")
        elif method == "GET":
            resp = client.get(url, headers=headers)
            text = resp.get_data(as_text=True)
            shown = [m for m in ('"alpha"', '"beta"', "/alpha", "/beta", "九和镇", "\\u4e5d\\u548c\\u9547") if m in text]
            if resp.status_code >= 500 or shown:
                failures.append(f"op2 GET {rule.rule} -> {resp.status_code}, shows a township of 紫金县: {shown}")
        if method == "GET":
            if is_api:
                status = township_api.get(url, headers=township_headers).status_code
                if status != 401:
                    failures.append(f"township token GET {rule.rule} -> {status}")
            else:
                resp = township_web.get(url)
                if not (resp.status_code == 302 and "/county/login" in resp.headers["Location"]):
                    failures.append(f"township session GET {rule.rule} -> {resp.status_code}")
    assert not failures, "\n".join(failures)
    # the markers are what a county's own operator does see
    own = app.test_client()
    page_login(own, None, "op")
    assert all(m in own.get("/county/cockpit/").get_data(as_text=True) for m in ('"alpha"', "/beta"))
