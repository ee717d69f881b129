"""Role x action matrix at the service boundary.

EXPECTED is the specification written out by hand; the policies the platform and the capabilities
register must agree with it, every policy must name a service function declared with `@action` (or
be a check-only permission asked inside other actions) and every `@action` must have a policy, and
the scoped actions are checked against real villages through the real service functions.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import jifen
import jifen.tenants
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Forbidden, NotFound
from jifen.platform.roles.authz import POLICIES, SERVICES, Actor, Grant, action, authorize, check_actions
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.villages import service as villages
from tests.conftest import make_world

# each capability registers its policies when its package is imported
for _package in pkgutil.iter_modules(jifen.tenants.__path__):
    importlib.import_module(f"jifen.tenants.{_package.name}")

TA, VA, AC, GW, PM, SK, VL = ("township_admin", "village_admin", "area_cadre", "grid_worker",
                              "panel_member", "storekeeper", "villager")
EVERY = {TA, VA, AC, GW, PM, SK, VL}
OP, SELF = "operator", "self"

EXPECTED = {
    "township.onboard": {OP}, "township.list": {OP}, "township.view": {OP}, "township.suspend": {OP},
    "township.reactivate": {OP}, "township.new_setup_link": {OP},
    "township.reset_password": {OP}, "township.export": {OP}, "township.offboard": {OP},
    "staff.list": {TA}, "staff.view": {TA}, "staff.invite": {TA},
    "staff.set_roles": {TA}, "staff.disable": {TA}, "staff.enable": {TA}, "staff.new_setup_link": {TA},
    "village.list": EVERY, "village.view": {TA, VA, AC, PM}, "village.create": {TA},
    "village.update": {TA, VA},
    "village_group.list": EVERY, "village_group.manage": {TA, VA},
    "grid.view": {TA, VA, AC, GW, PM}, "grid.manage": {TA},
    "household.list": {TA, VA, AC, GW, PM, VL}, "household.view": {TA, VA, AC, GW, PM, VL},
    "household.create": {TA, VA, GW}, "household.update": {TA, VA, GW},
    "household.split": {TA, VA}, "household.merge": {TA, VA}, "household.view_id_numbers": {TA, VA},
    "household.view_phones": {TA, VA, GW},
    "household.import": {TA, VA}, "household.export": {TA, VA}, "household_tag.manage": {TA},
    "rulebook.view": EVERY, "rulebook.manage": {TA}, "village_rulebook.manage": {TA, VA},
    "commitment.record": {TA, VA, GW}, "commitment.report": {TA, VA, AC, GW, PM},
    "store.list": EVERY, "store.manage": {TA}, "catalog.manage": {TA},
    "stock.view": {TA, VA, SK}, "stock.move": {TA, SK},
    "application.self_apply": {VL}, "application.proxy": {TA, VA, AC, GW}, "application.record": {TA, VA, AC, GW},
    "application.list": {TA, VA, AC, GW, PM, VL}, "application.view": {TA, VA, AC, GW, PM, VL},
    "application.confirm": {VL}, "application.withdraw": {VL}, "application.verify": {TA, AC, GW},
    "application.certify": {PM}, "points_settings.manage": {TA},
    "field.capture": {GW},  # issue 14: offline capture
    "notice.list": {TA, VA, AC, GW, PM}, "notice.view": {TA, VA, AC, GW, PM}, "notice.publish": {TA, VA, PM},
    "notice.object": {VL}, "objection.decide": {PM},
    "ledger.view": {TA, VA, AC, GW, PM, VL}, "ledger.correct": {TA}, "ledger.check": {TA}, "inbox.view": {VL},
    "activity.list": {TA, VA, AC, GW, PM, VL}, "activity.view": {TA, VA, AC, GW, PM, VL},
    "activity.manage": {TA, VA, AC, GW}, "activity.signup": {VL}, "activity.checkin": {VL},
    "activity.report": {TA, VA, AC, GW, PM},
    # --- issue 5 ---
    "order.place": {TA, SK, VL}, "order.list": {TA, VA, SK, VL}, "order.view": {TA, VA, SK, VL},
    "order.cancel": {TA, SK, VL}, "order.hand_over": {TA, SK}, "household_card.print": {TA, VA, GW, SK},
    "ranking.view": EVERY, "ranking.full_names": EVERY - {VL},
    # --- issue 13 ---
    "cockpit.view": {TA, VA, AC, GW, PM},
    "stars.manage": {TA}, "stars.view": EVERY,
    "honour.manage": {TA}, "honour.shortlist": {TA, VA}, "honour.confirm": {PM}, "honour.view": EVERY,
    "recommendation.manage": {TA}, "recommendation.view": {TA, VA},
    "dividend.manage": {TA, VA}, "dividend.view": {TA, VA, PM}, "dividend.simulate": {TA, VA},
    "dividend.approve": {TA}, "dividend.pay": {TA},
    "funds.view": {TA, VA, AC}, "funds.manage": {TA},
    "notification_prefs.manage": {TA, VA, GW, VL}, "delivery.view": {TA}, "delivery.retry": {TA},
    "period.close": {TA}, "period.view": {TA, VA, AC, GW, PM},
    "file.view": EVERY,
    "household_card.own": {VL},
    "audit.list": {TA}, "audit.verify": {TA}, "retention.view": {TA},
    "jobs.list": {TA}, "jobs.view": {TA}, "jobs.county": {OP},
    "cockpit.county": {OP},
    # --- issue 13: integrity signals (not grid workers: they are among those the signals look at) ---
    "integrity.list": {TA, VA, AC, PM}, "integrity.view": {TA, VA, AC, PM}, "integrity.review": {TA, PM},
    "account.view": {SELF}, "account.update": {SELF}, "account.tokens": {SELF},
}


def test_expected_matrix_covers_every_action():
    assert set(EXPECTED) == set(POLICIES), "add the new action to EXPECTED with who may do it"


def test_every_policy_has_a_service_action_and_every_action_a_policy(app):
    check_only = {name for name, policy in POLICIES.items() if policy.check_only}
    assert sorted(set(SERVICES) - set(POLICIES)) == [], "an @action without a policy"
    assert sorted(set(POLICIES) - check_only - set(SERVICES)) == [], "a policy no @action declares"
    assert sorted(check_only & set(SERVICES)) == [], "a check-only policy used as an @action"


def test_check_only_policies_are_asked_somewhere(app):
    # a check-only policy nobody asks about is dead policy
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(jifen.__file__).parent.rglob("*.py")
                       if not p.name == "policies.py")
    for name in (n for n, policy in POLICIES.items() if policy.check_only):
        assert f'"{name}"' in source, name


def test_an_action_without_a_policy_stops_the_app(app):
    @action("nobody.registered_this")
    def orphan(actor):
        return None

    try:
        with pytest.raises(RuntimeError, match="nobody.registered_this"):
            check_actions()
    finally:
        SERVICES.pop("nobody.registered_this")
    check_actions()


def _actor(kind, role=None):
    if kind == "operator":
        return Actor("operator", None, "op")
    grants = (Grant(role, frozenset()),) if role else ()
    return Actor("user", None, "u", grants=grants)


@pytest.mark.parametrize("action_name", sorted(EXPECTED))
@pytest.mark.parametrize("who", sorted(EVERY) + [OP])
def test_role_action_matrix(action_name, who):
    actor = _actor("operator") if who == OP else _actor("user", who)
    allowed = who in EXPECTED[action_name] or (SELF in EXPECTED[action_name] and who != OP)
    if allowed:
        authorize(actor, action_name)
    else:
        with pytest.raises(Forbidden):
            authorize(actor, action_name)


def test_system_actor_may_do_anything():
    for name in POLICIES:
        authorize(Actor.system(), name)


def test_user_without_roles_can_only_act_on_own_account():
    actor = Actor("user", None, "nobody")
    authorize(actor, "account.update")
    with pytest.raises(Forbidden):
        authorize(actor, "village.list")


def test_scope_limits_village_reads_and_writes(ctx):
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    v1, v2, v3 = world.a.villages
    with tenant_scope(tenant):
        def actor(role):
            return actor_for(db.session.get(User, (tenant.id, world.a.user_id(role))))

        vadmin, cadre, panel, admin = actor(VA), actor(AC), actor(PM), actor(TA)
        # village admin of v1: sees and edits v1 only
        assert villages.get_village(vadmin, v1).id == v1
        for other in (v2, v3):
            with pytest.raises(NotFound):
                villages.get_village(vadmin, other)
            with pytest.raises(NotFound):
                villages.update_village(vadmin, other, {"name": "改名村", "code": "x"})
        villages.update_village(vadmin, v1, {"name": "官田新村", "code": "alpha-0"})
        # area cadre of v1+v2: reads both, v3 is out of scope, may not edit
        assert {villages.get_village(cadre, v).id for v in (v1, v2)} == {v1, v2}
        with pytest.raises(NotFound):
            villages.get_village(cadre, v3)
        with pytest.raises(Forbidden):
            villages.update_village(cadre, v1, {"name": "x", "code": "y"})
        # panel member of v2
        assert villages.get_village(panel, v2).id == v2
        with pytest.raises(NotFound):
            villages.get_village(panel, v1)
        # township admin: everything
        assert len(villages.list_villages(admin)) == 3
        assert villages.villages_in_scope(admin) is None
        assert villages.villages_in_scope(cadre) == {v1, v2}


def test_scope_applies_through_the_api(client, world):
    from tests.conftest import api_token, bearer

    headers = bearer(api_token(client, "alpha", world.a.username(VA)))
    v1, v2, _ = world.a.villages
    assert client.get(f"/api/v1/t/alpha/villages/{v1}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/t/alpha/villages/{v2}", headers=headers).status_code == 404
    resp = client.patch(f"/api/v1/t/alpha/villages/{v2}", json={"name": "改名"}, headers=headers)
    assert resp.status_code == 404
    resp = client.post("/api/v1/t/alpha/staff/", json={"username": "x1", "display_name": "x",
                                                       "roles": [{"role": TA}]}, headers=headers)
    assert resp.status_code == 403
    assert resp.get_json()["status"] == "forbidden"


def test_new_roles_apply_to_signed_in_sessions_at_once(app, world):
    """Resolved credentials are cached; a role change must not wait for the cache to expire."""
    from tests.conftest import api_token, bearer

    client = app.test_client()
    user = bearer(api_token(client, "alpha", world.a.username(VA)))
    admin = bearer(api_token(client, "alpha", world.a.username(TA)))
    v1, v2, _ = world.a.villages
    assert client.get(f"/api/v1/t/alpha/villages/{v1}", headers=user).status_code == 200
    assert client.get(f"/api/v1/t/alpha/villages/{v2}", headers=user).status_code == 404
    resp = client.put(f"/api/v1/t/alpha/staff/{world.a.user_id(VA)}/roles", headers=admin,
                      json={"roles": [{"role": VA, "scope_ids": [str(v2)]}]})
    assert resp.status_code == 200
    assert client.get(f"/api/v1/t/alpha/villages/{v1}", headers=user).status_code == 404
    assert client.get(f"/api/v1/t/alpha/villages/{v2}", headers=user).status_code == 200
