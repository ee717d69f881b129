"""Configuration, the API's plumbing (OpenAPI, docs, error shape), health checks and pinyin order."""
from __future__ import annotations

import pytest

from jifen import create_app
from jifen.platform.config import ConfigError
from jifen.platform.pinyin import initials, sort_by_pinyin
from tests.conftest import CITUS, PG_URL, api_token, bearer


def test_embedded_default_needs_no_configuration(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("JIFEN_"):
            monkeypatch.delenv(k)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/jifen.db")
    assert app.config["CELERY"]["task_always_eager"] is True
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize("missing,named", [
    ("JIFEN_SECRET_KEY", "JIFEN_SECRET_KEY"),
    ("JIFEN_DATABASE_URL", "JIFEN_DATABASE_URL"),
    ("JIFEN_REDIS_URL", "JIFEN_REDIS_URL"),
])
def test_production_refuses_to_start_without_its_services(monkeypatch, missing, named):
    env = {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": "s" * 40,
           "JIFEN_DATABASE_URL": "postgresql://db/jifen", "JIFEN_REDIS_URL": "redis://r:6379/0"}
    env.pop(missing)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(missing, raising=False)
    with pytest.raises(ConfigError) as err:
        create_app()
    assert named in str(err.value)


def test_production_refuses_sqlite(monkeypatch):
    for k, v in {"JIFEN_ENV": "production", "JIFEN_SECRET_KEY": "s" * 40,
                 "JIFEN_DATABASE_URL": "sqlite:///x.db", "JIFEN_REDIS_URL": "redis://r"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match="postgresql"):
        create_app()


def test_environment_overrides_file_overrides_defaults(tmp_path, monkeypatch):
    cfg = tmp_path / "jifen.cfg"
    cfg.write_text("SETUP_LINK_HOURS = 5\nSESSION_LIFETIME_HOURS = 3\n")
    monkeypatch.setenv("JIFEN_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("JIFEN_SESSION_LIFETIME_HOURS", "9")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["SETUP_LINK_HOURS"] == 5
    assert app.config["SESSION_LIFETIME_HOURS"] == 9
    monkeypatch.setenv("JIFEN_CONFIG_FILE", str(tmp_path / "missing.cfg"))
    with pytest.raises(ConfigError, match="missing.cfg"):
        create_app()


def test_openapi_document_and_docs_ui(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/county/townships", "/api/v1/t/{tenant_slug}/staff/", "/api/v1/t/{tenant_slug}/villages/",
                 "/api/v1/t/{tenant_slug}/audit/", "/api/v1/t/{tenant_slug}/me"):
        assert path in spec["paths"], path
    assert "bearer" in spec["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.get_data(as_text=True)
    # the docs UI is served from this host, not a CDN (no network on a township's server)
    assert "cdn" not in docs.get_data(as_text=True).lower()
    assert client.get("/api/v1/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_validation_errors_name_each_field(client, world):
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = client.post("/api/v1/t/alpha/staff/", json={"username": "x", "tenant_id": "abc",
                                                       "roles": [{"role": "x", "scope_ids": ["nope"]}]},
                       headers=headers)
    body = resp.get_json()
    assert resp.status_code == 422
    assert set(body) >= {"code", "status", "message", "errors"}
    assert {"tenant_id", "display_name", "roles"} <= set(body["errors"]["json"])
    resp = client.patch("/api/v1/t/alpha/me", json={"role": "township_admin", "username": "root"}, headers=headers)
    assert resp.status_code == 422
    assert {"role", "username"} <= set(resp.get_json()["errors"]["json"])
    resp = client.post("/api/v1/t/alpha/staff/", json={"username": "newvill", "display_name": "x",
                                                       "roles": [{"role": "grid_worker", "scope_ids": []}]},
                       headers=headers)
    assert resp.status_code == 422 and "roles" in resp.get_json()["errors"]["json"]


def test_service_errors_share_the_shape(client, world):
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = client.post("/api/v1/t/alpha/villages/", json={"name": "官田村", "code": "dup"}, headers=headers)
    assert resp.status_code == 409
    assert resp.get_json()["errors"]["json"]["name"]
    resp = client.post(f"/api/v1/t/alpha/staff/{world.a.user_id()}/disable", headers=headers)
    assert resp.status_code == 409 and resp.get_json()["status"] == "conflict"
    assert client.get("/api/v1/t/alpha/villages/not-a-uuid", headers=headers).status_code == 404
    assert client.get("/api/v1/t/nowhere/villages/", headers=headers).status_code == 404


def test_last_admin_cannot_lose_the_role(client, world):
    headers = bearer(api_token(client, "alpha", "admin"))
    resp = client.put(f"/api/v1/t/alpha/staff/{world.a.user_id()}/roles",
                      json={"roles": [{"role": "panel_member", "scope_ids": [str(world.a.villages[0])]}]},
                      headers=headers)
    assert resp.status_code == 409


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"


def test_readiness_reports_an_unreachable_redis(make_app, migrated):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.get_json()["checks"]["redis"].startswith("error")


def test_citus_needs_a_postgresql_coordinator_and_a_known_fan_out_mode():
    with pytest.raises(ConfigError, match="coordinator's postgresql"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "CITUS": True})
    with pytest.raises(ConfigError, match="JIFEN_CITUS_FAN_OUT"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "CITUS_FAN_OUT": "ignore"})


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL or CITUS, reason="a plain PostgreSQL (not distributed) with JIFEN_CITUS=1")
def test_readiness_on_citus_refuses_a_database_not_distributed(make_app, migrated):
    """JIFEN_CITUS=1 against a coordinator where `jifen db citus-init` has not run (here: plain
    PostgreSQL): not ready, and it says what to run."""
    resp = make_app(CITUS=True).test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["citus"] == "error: the database is not distributed (jifen db citus-init)"


def test_pinyin_order_and_initials():
    names = ["张三伟", "王五", "李四", "赵六", "阿宝"]
    assert sort_by_pinyin(names) == ["阿宝", "李四", "王五", "张三伟", "赵六"]
    assert initials("张三伟") == "zsw"


def test_staff_list_is_in_pinyin_order(client, world):
    headers = bearer(api_token(client, "alpha", "admin"))
    for username, name in (("zhao", "赵六"), ("wang", "王五"), ("an", "安娜")):
        assert client.post("/api/v1/t/alpha/staff/", headers=headers, json={
            "username": username, "display_name": name,
            "roles": [{"role": "panel_member", "scope_ids": [str(world.a.villages[0])]}]}).status_code == 201
    names = [u["display_name"] for u in client.get("/api/v1/t/alpha/staff/", headers=headers).get_json()]
    assert names.index("安娜") < names.index("王五") < names.index("赵六")


def test_celery_is_set_up_for_safe_redelivery_and_the_beat_ticks(monkeypatch):
    monkeypatch.setenv("JIFEN_REDIS_URL", "redis://127.0.0.1:6379/3")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    celery = app.extensions["celery"]
    assert celery.conf.broker_url == "redis://127.0.0.1:6379/3"
    assert celery.conf.task_always_eager is False
    assert celery.conf.task_acks_late is True and celery.conf.worker_prefetch_multiplier == 1
    assert celery.conf.broker_transport_options["visibility_timeout"] >= 6 * 3600
    assert celery.conf.beat_schedule["beat-tick"]["task"] == "jifen.beat_tick"
    assert {"jifen.beat_tick", "jifen.audit_chain_check", "jifen.purge_expired_credentials"} <= set(celery.tasks)


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(make_app, clean):
    """Otherwise every user shares nginx's address and one per-IP login bucket."""
    from tests.conftest import make_world

    app = make_app(PROXY_COUNT=1, LOGIN_LIMIT_PER_IP="2 per minute")
    with app.app_context():
        make_world()
    client = app.test_client()

    def attempt(ip):
        return client.post("/api/v1/t/alpha/auth/token", json={"username": "nobody", "password": "x"},
                           headers={"X-Forwarded-For": ip}).status_code

    assert [attempt("1.1.1.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("2.2.2.2") == 401  # another villager behind the same nginx is not locked out


def test_a_nul_character_is_refused_naming_the_field_never_a_500(app, world):
    """PostgreSQL cannot store NUL; every body, form and query string is checked once, up front."""
    from tests.conftest import api_token, bearer, csrf_token, page_login

    client = app.test_client()
    headers = bearer(api_token(client, "alpha", world.a.username()))
    resp = client.post("/api/v1/t/alpha/villages/", json={"name": "a\x00b", "code": "x"}, headers=headers)
    assert resp.status_code == 422 and "name" in resp.get_json()["errors"]["json"]
    resp = client.get("/api/v1/t/alpha/households/?q=%00", headers=headers)
    assert resp.status_code == 422 and "q" in resp.get_json()["errors"]["json"]
    web = app.test_client()
    page_login(web, "alpha", world.a.username())
    token = csrf_token(web, "/t/alpha/villages/new")
    resp = web.post("/t/alpha/villages/new", data={"name": "a\x00b", "code": "x", "csrf_token": token})
    assert resp.status_code == 422
    assert client.get("/api/v1/t/alpha/villages/", headers=headers).get_json()[0]["name"] != "a\x00b"
