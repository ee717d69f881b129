"""Whatever a client sends, the API answers 2xx/4xx with the JSON error shape, never a 500,
and a refused request writes nothing."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from tests.conftest import api_token, bearer, make_world

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(["", "admin", "官田村", "township_admin", "zh_CN",
                                                          "00000000-0000-0000-0000-000000000000", "Asia/Shanghai"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=6)
KEYS = ["username", "display_name", "roles", "role", "scope_ids", "name", "code", "sort_order", "slug", "timezone",
        "default_locale", "admin_username", "admin_display_name", "tenant_id", "reason", "locale", "password"]
bodies = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values, max_size=6)

WRITES = [("post", "/api/v1/t/alpha/staff/"), ("post", "/api/v1/t/alpha/villages/"), ("patch", "/api/v1/t/alpha/me"),
          ("post", "/api/v1/t/alpha/tokens"), ("post", "/api/v1/county/townships"),
          ("post", "/api/v1/county/townships/alpha/suspend")]


def _audit_count(app):
    """Every service write is audited in the same transaction: no new entry, nothing written."""
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(AuditEntry)
                                  .execution_options(all_tenants=True)).scalar()


def test_random_bodies_never_cause_a_500(app):
    with app.app_context():
        world = make_world()
    client = app.test_client()
    user = bearer(api_token(client, "alpha", "admin"))
    operator = bearer(api_token(client, None, "op"))
    village = world.a.villages[0]
    writes = WRITES + [("patch", f"/api/v1/t/alpha/villages/{village}"),
                       ("put", f"/api/v1/t/alpha/staff/{world.a.user_id('panel_member')}/roles")]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(writes), body=bodies | values)
    def check(route, body):
        method, url = route
        headers = operator if "/county/" in url else user
        before = _audit_count(app)
        resp = getattr(client, method)(url, json=body, headers=headers)
        assert resp.status_code < 500, (method, url, body, resp.get_data(as_text=True)[:500])
        if resp.status_code >= 400:
            payload = resp.get_json()
            assert {"code", "status"} <= set(payload), payload
            assert _audit_count(app) == before, (method, url, body)

    check()


def test_malformed_json_and_oversized_bodies(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin")) | {"Content-Type": "application/json"}
    resp = client.post("/api/v1/t/alpha/villages/", data="{not json", headers=headers)
    assert 400 <= resp.status_code < 500 and resp.get_json()["code"] == resp.status_code
    big = client.post("/api/v1/t/alpha/villages/", data="x" * (21 * 1024 * 1024), headers=headers)
    assert big.status_code == 413
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "village.create")
                               .execution_options(all_tenants=True)).scalar()
    assert n == 5  # the world's own villages (3 + 2); neither request added one
