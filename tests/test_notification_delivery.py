"""Notification delivery through the SMS and WeChat adapters, against a local fake gateway started
here (tests/fake_provider.py): payloads, retries with backoff, dead after N, no double sends, quiet
hours, the preferred channel, the recipient's language; household preferences (pages, API, scope);
the nightly staff digest."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, time, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, Invalid, NotFound
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.notifications import delivery, digest, preferences, quiet, service
from jifen.tenants.notifications.models import Notification, NotificationDelivery, StaffDigest
from jifen.tenants.villages.models import GridNode
from tests.conftest import PG_URL, api_token, bearer, csrf_token, page_login
from tests.fake_provider import FakeProvider

D = NotificationDelivery
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


@pytest.fixture(scope="module")
def gateway():
    p = FakeProvider().start()
    yield p
    p.stop()


@pytest.fixture
def provider(gateway):
    """The fake gateway, with no requests seen and no failures planned."""
    gateway.clear()
    gateway.script.clear()
    return gateway


def _config(provider, **more) -> dict:
    return {"SMS_URL": provider.url("/sms"), "SMS_TOKEN": "sms-secret", "WECHAT_URL": provider.url("/wechat"),
            "WECHAT_TOKEN": "wx-secret", "WECHAT_TEMPLATE_ID": "TPL-1", "NOTIFY_HTTP_TIMEOUT": 1.5,
            "NOTIFY_LINK_BASE_URL": "https://jifen.example.cn", "NOTIFY_MAX_ATTEMPTS": 3} | more


@pytest.fixture(scope="module")
def configured(make_app, gateway):
    return make_app(**_config(gateway))


@pytest.fixture
def napp(configured, pw, provider):
    """The app with both adapters pointed at the fake gateway (pw: the points world)."""
    return configured


@pytest.fixture
def alpha(napp, world):
    with napp.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            yield napp
        db.session.rollback()


def who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def say(household_id, key: str = "n1", kind: str = "verified", **params) -> Notification:
    """A household notification written the way the points workflow writes one."""
    service.notify(household_id, kind, key, f"applications/{uuid.uuid4()}",
                   **({"item": "测试项A2", "points": 3} | params))
    db.session.commit()
    return db.session.execute(select(Notification).where(Notification.dedupe_key == key)).scalar_one()


def prefs(household_id, **data):
    found = preferences.update_preferences(who("admin"), household_id, data)
    db.session.commit()  # the test owns its unit of work: services never commit
    return found


def deliveries() -> list[NotificationDelivery]:
    return list(db.session.execute(select(D).order_by(D.created_at, D.id)
                                   .execution_options(populate_existing=True)).scalars())


def fresh(n: Notification) -> Notification:
    return db.session.execute(select(Notification).where(Notification.id == n.id)
                              .execution_options(populate_existing=True)).scalar_one()


def of(n: Notification) -> NotificationDelivery:
    return db.session.execute(select(D).where(D.notification_id == n.id)
                              .execution_options(populate_existing=True)).scalar_one()


def settled(provider):
    """Send the channel confirmation the preferences change wrote, then forget the gateway's log."""
    delivery.deliver_all()
    provider.clear()


# --- adapters and payloads ------------------------------------------------------------------------

def test_sms_adapter_posts_the_message_with_the_delivery_id_as_idempotency_key(alpha, pw, provider):
    with freeze_time(T0):
        prefs(pw.household2, channel="sms")
        confirmation = delivery.deliver_all()
        assert confirmation["sent"] == 1  # "messages now also come by SMS", sent on the new channel
        provider.clear()
        n = say(pw.household2)
        result = delivery.deliver_all()
    assert result["sent"] == 1
    [req] = provider.sent()
    d = of(n)
    body = req["json"]
    assert req["path"] == "/sms"
    assert req["headers"]["Authorization"] == "Bearer sms-secret"
    assert req["headers"]["Idempotency-Key"] == body["message_id"] == str(d.id)
    assert body["to"] == "13800000002"  # the head of household's phone, the default
    assert body["kind"] == "verified" and body["tenant"] == "alpha" and body["locale"] == "zh_CN"
    assert body["link"].startswith("https://jifen.example.cn/t/alpha/points/applications/")
    assert body["text"].endswith(body["link"]) and "测试项A2" in body["text"]
    assert (d.state, d.attempts, d.via, d.provider_ref) == ("sent", 1, "sms", "sms-1")
    assert fresh(n).delivery == Notification.QUEUED


def test_wechat_adapter_posts_a_template_message(alpha, pw, provider):
    with freeze_time(T0):
        prefs(pw.household, channel="wechat", wechat_openid="oWx_household_1")
        settled(provider)
        n = say(pw.household)
        delivery.deliver_all()
    [req] = provider.sent()
    body = req["json"]
    assert req["path"] == "/wechat" and req["headers"]["Authorization"] == "Bearer wx-secret"
    assert body["touser"] == "oWx_household_1" and body["template_id"] == "TPL-1"
    assert body["client_msg_id"] == req["headers"]["Idempotency-Key"] == str(of(n).id)
    assert "测试项A2" in body["data"]["first"]["value"]
    assert body["data"]["keyword1"]["value"] == "龙窝镇" and body["data"]["keyword2"]["value"] == "2026-06-01 10:00"
    assert body["url"].startswith("https://jifen.example.cn/t/alpha/")
    assert (of(n).state, of(n).via, of(n).provider_ref) == ("sent", "wechat", "1001")
    # WeChat answers 200 with an errcode: -1 (busy) is retried, 43004 (not following) is given up
    with freeze_time(T0) as clock:
        busy, gone = say(pw.household, "busy"), say(pw.household, "gone")
        provider.fail(1, "wx-busy")
        provider.fail(1, "wx-43004")
        delivery.deliver_all()
        assert (of(busy).state, of(gone).state) == ("failed", "dead")
        assert "43004" in of(gone).last_error
        clock.tick(timedelta(seconds=61))
        delivery.deliver_all()
    assert (of(busy).state, of(gone).state) == ("sent", "dead")


def test_without_an_endpoint_the_logging_channel_sends(make_app, world, pw, caplog):
    app = make_app()  # no SMS_URL: the embedded default
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        prefs(pw.household2, channel="sms")
        n = say(pw.household2)
        caplog.set_level("INFO", logger="jifen.notifications")
        delivery.deliver_all()
        d = of(n)
        assert (d.state, d.via) == ("sent", "log")
        assert any(str(d.id) in r.getMessage() and "13800000002" in r.getMessage() for r in caplog.records)


# --- retries, dead, dedupe ------------------------------------------------------------------------

def test_failures_are_retried_with_exponential_backoff(alpha, pw, provider):
    with freeze_time(T0) as clock:
        prefs(pw.household2, channel="sms")
        settled(provider)
        n = say(pw.household2)
        provider.fail(1, "500")
        provider.fail(1, "timeout")
        delivery.deliver_all()
        d = of(n)
        assert (d.state, d.attempts, d.last_error) == ("failed", 1, 'HTTP 500 {"error": "provider down"}')
        assert d.next_attempt_at == T0 + timedelta(seconds=60)
        clock.tick(timedelta(seconds=59))
        assert delivery.deliver_all().get("sent", 0) == 0
        assert len(provider.sent()) == 1  # not due yet: nothing sent
        clock.tick(timedelta(seconds=1))
        delivery.deliver_all()
        d = of(n)
        assert (d.state, d.attempts) == ("failed", 2) and "timed out" in d.last_error
        assert d.next_attempt_at == T0 + timedelta(seconds=60 + 120)
        clock.tick(timedelta(seconds=120))
        delivery.deliver_all()
    d = of(n)
    assert (d.state, d.attempts, d.last_error) == ("sent", 3, None)
    keys = [r["headers"]["Idempotency-Key"] for r in provider.sent()]
    assert keys == [str(d.id)] * 3  # every attempt of one delivery carries the same key


def test_a_delivery_is_dead_after_the_configured_failures_and_the_admin_can_retry_it(alpha, pw, provider):
    with freeze_time(T0) as clock:
        prefs(pw.household2, channel="sms")
        settled(provider)
        n = say(pw.household2)
        provider.fail(10, "500")
        for _ in range(6):
            delivery.deliver_all()
            clock.tick(timedelta(hours=1))
        d = of(n)
        assert (d.state, d.attempts) == ("dead", 3)  # NOTIFY_MAX_ATTEMPTS
        assert len(provider.sent()) == 3
        with pytest.raises(Conflict) as e:
            delivery.retry(who("admin"), delivery.list_deliveries(who("admin"), ("sent",))[0].delivery.id)
        assert "state" in e.value.errors
        provider.script.clear()
        delivery.retry(who("admin"), d.id)
        assert (of(n).state, of(n).attempts) == ("pending", 0)
        delivery.deliver_all()
    assert of(n).state == "sent" and len(provider.sent()) == 4
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "delivery.retry")).scalar_one()
    with freeze_time(T0 + timedelta(days=1)):  # a permanent refusal (4xx) is dead at once
        refused = say(pw.household2, "refused")
        provider.fail(1, "400")
        delivery.deliver_all()
    assert (of(refused).state, of(refused).attempts) == ("dead", 1) and "400" in of(refused).last_error


def test_running_delivery_again_sends_nothing_twice(alpha, pw, provider):
    with freeze_time(T0):
        prefs(pw.household2, channel="sms")
        settled(provider)
        ns = [say(pw.household2, f"k{i}") for i in range(5)]
        say(pw.household2, "k0")  # the same event again: one outbox row
        first = delivery.deliver_all()
        second = delivery.deliver_all()
    assert first["sent"] == 5 and second == {"tenants": 0}
    keys = [r["headers"]["Idempotency-Key"] for r in provider.sent()]
    assert sorted(keys) == sorted(str(of(n).id) for n in ns)  # one request per delivery
    assert db.session.execute(select(func.count()).select_from(D)).scalar_one() == 6  # and the confirmation


def test_a_claimed_row_is_not_claimed_again_until_the_claim_times_out(alpha, pw, provider):
    """A worker that died between claiming (or sending) and recording the outcome: the row stays
    `sending`; after NOTIFY_SENDING_TIMEOUT another worker sends it again with the same key (the
    documented at-least-once edge: the provider dedupes on it)."""
    with freeze_time(T0) as clock:
        prefs(pw.household2, channel="sms")
        settled(provider)
        n = say(pw.household2)
        delivery.plan()
        claims = delivery.claim()
        assert [c.id for c in claims] == [of(n).id] and of(n).state == "sending"
        assert delivery.claim() == []  # a second worker gets nothing
        delivery.send_one(claims[0])  # the first worker sends …
        db.session.execute(db.update(D).where(D.id == claims[0].id).values(state="sending", sent_at=None))
        db.session.commit()  # … but (as if) died before its outcome was committed
        assert delivery.deliver_all().get("sent", 0) == 0
        clock.tick(timedelta(seconds=601))
        assert delivery.deliver_all()["sent"] == 1
        assert delivery.send_one(claims[0]) == "lost"  # the first worker's claim no longer counts
    keys = [r["headers"]["Idempotency-Key"] for r in provider.sent()]
    assert keys == [str(of(n).id)] * 2 and of(n).attempts == 2


# --- quiet hours, channel, language ---------------------------------------------------------------

def test_quiet_hours_postpone_external_sending_but_not_the_inbox(alpha, pw, provider):
    late = datetime(2026, 6, 1, 14, 0, tzinfo=timezone.utc)  # 22:00 in Shanghai
    with freeze_time(late) as clock:
        prefs(pw.household2, channel="sms", quiet_start="21:00", quiet_end="07:00")
        n = say(pw.household2)
        delivery.deliver_all()
        assert provider.sent() == []
        morning = datetime(2026, 6, 1, 23, 0, tzinfo=timezone.utc)  # 07:00 on June 2nd in Shanghai
        assert of(n).next_attempt_at == morning and of(n).state == "pending"
        assert [m.id for m in service.inbox(who("villager2"))][0] == n.id  # in the inbox at once
        clock.move_to(morning - timedelta(seconds=1))
        delivery.deliver_all()
        assert provider.sent() == []
        clock.move_to(morning)
        delivery.deliver_all()
    assert len(provider.sent()) == 2 and of(n).state == "sent"  # the confirmation waited too


def test_a_retry_that_falls_into_quiet_hours_waits_for_them_to_end(alpha, pw, provider):
    with freeze_time(datetime(2026, 6, 1, 12, 59, tzinfo=timezone.utc)) as clock:  # 20:59 local
        prefs(pw.household2, channel="sms", quiet_start="21:00", quiet_end="07:00")
        settled(provider)
        n = say(pw.household2)
        provider.fail(1, "500")
        delivery.deliver_all()
        assert of(n).state == "failed"
        clock.tick(timedelta(seconds=61))  # 21:00:01: due, but quiet
        delivery.deliver_all()
        d = of(n)
        assert (d.state, d.attempts) == ("pending", 1)  # put off, the attempt not counted
        assert d.next_attempt_at == datetime(2026, 6, 1, 23, 0, tzinfo=timezone.utc)
    assert len(provider.sent()) == 1


def test_quiet_until():
    tz = "Asia/Shanghai"

    def at(hour):  # June 1st, `hour` o'clock in Shanghai (may run into the next day), as UTC
        return datetime(2026, 6, 1, tzinfo=timezone.utc) + timedelta(hours=hour - 8)
    assert quiet.quiet_until(at(22), tz, time(21), time(7)) == at(31)
    assert quiet.quiet_until(at(3), tz, time(21), time(7)) == at(7)
    assert quiet.quiet_until(at(7), tz, time(21), time(7)) is None
    assert quiet.quiet_until(at(12), tz, time(21), time(7)) is None
    assert quiet.quiet_until(at(13), tz, time(12), time(14)) == at(14)
    assert quiet.quiet_until(at(13), tz, None, None) is None


def test_the_household_channel_decides_and_in_app_only_sends_nothing(alpha, pw, provider):
    with freeze_time(T0):
        quiet = say(pw.household, "inbox-only")  # no preferences: the inbox only
        prefs(pw.household2, channel="wechat", wechat_openid="oWx_household_2")
        settled(provider)
        n = say(pw.household2)
        delivery.deliver_all()
    assert [r["path"] for r in provider.sent()] == ["/wechat"]
    assert fresh(quiet).delivery == Notification.IN_APP
    assert db.session.execute(select(D).where(D.notification_id == quiet.id)).first() is None
    assert of(n).channel == "wechat"
    with freeze_time(T0) as clock:  # the workers were down for three days: old news stays in the inbox
        old = say(pw.household2, "old")
        clock.tick(timedelta(hours=73))
        delivery.deliver_all()
    assert len(provider.sent()) == 1 and fresh(old).delivery == Notification.IN_APP


def test_changing_the_channel_replans_what_has_not_gone_out(alpha, pw, provider):
    with freeze_time(T0):
        prefs(pw.household2, channel="sms")
        settled(provider)
        n = say(pw.household2)
        provider.fail(1, "500")
        delivery.deliver_all()
        assert of(n).state == "failed"
        prefs(pw.household2, channel="wechat", wechat_openid="oWx_household_2")
        delivery.deliver_all()
    paths = sorted(r["path"] for r in provider.sent())
    assert paths == ["/sms", "/wechat", "/wechat"]  # the failed SMS, then the message and the confirmation
    assert of(n).channel == "wechat" and of(n).state == "sent"


def test_messages_are_written_in_the_households_language(alpha, pw, provider):
    with freeze_time(T0):
        prefs(pw.household, channel="sms", phone="13900000001")  # township language (zh_CN)
        prefs(pw.household2, channel="sms", language="en")
        settled(provider)
        zh, en = say(pw.household, "zh"), say(pw.household2, "en")
        delivery.deliver_all()
    by_to = {r["json"]["to"]: r["json"] for r in provider.sent()}
    assert by_to["13900000001"]["locale"] == "zh_CN" and by_to["13800000002"]["locale"] == "en"
    assert by_to["13800000002"]["text"].startswith("Verified: 测试项A2, 3 points.")
    assert by_to["13900000001"]["text"].startswith("审核通过")
    assert {of(zh).state, of(en).state} == {"sent"}


# --- preferences: service, API, pages, scope ----------------------------------------------------------

def test_preferences_are_checked_field_by_field(alpha, pw):
    admin = who("admin")
    # Invalid: the field alone is wrong; InputConflict (409): fields disagree with each other or with
    # what is stored (the head's phone, the other quiet-hours end)
    cases = [({"channel": "fax"}, "channel", Invalid),
             ({"channel": "sms"}, "phone", InputConflict),  # household 1's head has no phone
             ({"phone": "12345"}, "phone", Invalid), ({"channel": "wechat"}, "wechat_openid", InputConflict),
             ({"wechat_openid": "bad openid!"}, "wechat_openid", Invalid), ({"language": "fr"}, "language", Invalid),
             ({"quiet_start": "21:00"}, "quiet_end", InputConflict),
             ({"quiet_start": "25:99", "quiet_end": "07:00"}, "quiet_start", Invalid),
             ({"quiet_start": "07:00", "quiet_end": "07:00"}, "quiet_end", InputConflict)]
    for data, field, refusal in cases:
        with pytest.raises(refusal) as e:
            preferences.update_preferences(admin, pw.household, data)
        assert field in e.value.errors, (data, e.value.errors)
    assert preferences.preference_of(pw.household) is None  # nothing half-written
    p = preferences.update_preferences(admin, pw.household, {"channel": "sms", "phone": "+86 139 0000 0001",
                                                             "quiet_start": "21:30", "quiet_end": "6:45"})
    assert (p.channel, p.phone, p.quiet_start, p.quiet_end) == ("sms", "13900000001", time(21, 30), time(6, 45))
    p = preferences.update_preferences(admin, pw.household, {"language": "en"})  # the rest stays
    assert (p.channel, p.phone, p.language) == ("sms", "13900000001", "en")


def test_who_may_set_a_households_preferences(alpha, pw, world):
    """The villager for their own household; grid worker, village admin and township admin within their
    area; not a grid worker of another grid, nor other roles."""
    other_node = GridNode(level=1, name="另一大网格", village_id=pw.village, path="")
    db.session.add(other_node)
    db.session.flush()
    other_node.path = f"/{other_node.id}/"
    elsewhere = Household(village_id=pw.village, grid_node_id=other_node.id, door_plate="9号", head_name="王五")
    db.session.add(elsewhere)
    db.session.flush()
    db.session.add(Resident(household_id=elsewhere.id, name="王五", name_pinyin="wangwu", name_initials="ww",
                            relation="head", phone="13600000009"))
    db.session.commit()
    for user in ("villager", "gridder", "vadmin", "admin"):
        assert preferences.get_preferences(who(user), pw.household).household.id == pw.household
    for user in ("villager2", "gridder"):
        for household in {"villager2": [pw.household], "gridder": [elsewhere.id]}[user]:
            with pytest.raises(NotFound):
                preferences.update_preferences(who(user), household, {"language": "en"})
    from jifen.platform.errors import Forbidden
    for user in ("panel1", "keeper", "cadre"):
        with pytest.raises(Forbidden):
            preferences.get_preferences(who(user), pw.household)
    # phones: masked for a grid worker, whole for the household itself and for admins
    assert preferences.get_preferences(who("gridder"), pw.household2).shown("13800000002") == "138****0002"
    assert preferences.get_preferences(who("villager2"), pw.household2).shown("13800000002") == "13800000002"


def test_preferences_api(napp, pw, world):
    client = napp.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    gridder = bearer(api_token(client, "alpha", "gridder"))
    url = f"/api/v1/t/alpha/notifications/households/{pw.household2}/preferences"
    got = client.get(url, headers=gridder).get_json()
    assert got["channel"] == "in_app" and got["phone"] is None and got["head_phone"] == "138****0002"
    assert client.get(url, headers=admin).get_json()["head_phone"] == "13800000002"
    resp = client.patch(url, headers=gridder, json={"channel": "fax"})
    assert resp.status_code == 422 and "channel" in resp.get_json()["errors"]["json"]
    resp = client.patch(url, headers=gridder, json={"quiet_start": "21:00"})  # the stored end is empty
    assert resp.status_code == 409 and "quiet_end" in resp.get_json()["errors"]["json"]
    resp = client.patch(url, headers=gridder, json={"household_id": str(pw.household)})
    assert resp.status_code == 422  # read-only field
    resp = client.patch(url, headers=gridder, json={"channel": "sms", "language": "en", "quiet_start": "21:00",
                                                    "quiet_end": "07:00"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["channel"], body["language"], body["quiet_start"], body["quiet_end"]) == ("sms", "en", "21:00",
                                                                                          "07:00")
    assert body["updated_by_name"] == "gridder"
    resp = client.patch(url, headers=admin, json={"language": None, "quiet_start": None, "quiet_end": None})
    assert resp.status_code == 200 and resp.get_json()["language"] is None and resp.get_json()["quiet_start"] is None
    villager = bearer(api_token(client, "alpha", "villager"))
    assert client.get(url, headers=villager).status_code == 404  # another household
    panel = bearer(api_token(client, "alpha", "panel1"))
    assert client.patch(url, headers=panel, json={"language": "en"}).status_code == 403
    with napp.app_context():
        beta = db.session.get(Tenant, world.b.tenant_id)
        with tenant_scope(beta):
            beta_household = db.session.execute(select(Household.id)).scalar_one()
    other = f"/api/v1/t/alpha/notifications/households/{beta_household}/preferences"
    assert client.get(other, headers=admin).status_code == 404
    assert client.get(f"/api/v1/t/beta/notifications/households/{beta_household}/preferences",
                      headers=admin).status_code == 404


def test_deliveries_api_and_retry(napp, pw, provider):
    client = napp.test_client()
    admin = bearer(api_token(client, "alpha", "admin"))
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        prefs(pw.household2, channel="sms")
        provider.fail(1, "400")
        delivery.deliver_all()
        dead = deliveries()[0]
    listed = client.get("/api/v1/t/alpha/notifications/deliveries", headers=admin).get_json()
    assert listed["counts"]["dead"] == 1 and listed["items"][0]["id"] == str(dead.id)
    item = listed["items"][0]
    assert (item["state"], item["channel"], item["kind"], item["recipient"]) == ("dead", "sms", "channel_set",
                                                                                 "2号 · 李四")
    assert client.get("/api/v1/t/alpha/notifications/deliveries?state=bogus", headers=admin).status_code == 422
    gridder = bearer(api_token(client, "alpha", "gridder"))
    assert client.get("/api/v1/t/alpha/notifications/deliveries", headers=gridder).status_code == 403
    assert client.post(f"/api/v1/t/alpha/notifications/deliveries/{dead.id}/retry", headers=gridder).status_code == 403
    resp = client.post(f"/api/v1/t/alpha/notifications/deliveries/{dead.id}/retry", headers=admin)
    assert resp.status_code == 200 and resp.get_json()["state"] == "pending" and resp.get_json()["attempts"] == 0
    resp = client.post(f"/api/v1/t/alpha/notifications/deliveries/{dead.id}/retry", headers=admin)
    assert resp.status_code == 409 and "state" in resp.get_json()["errors"]["json"]


def pw_tenant(pw):
    return db.session.execute(select(Tenant.id).where(Tenant.slug == pw.slug)).scalar_one()


def test_villager_sets_their_preferences_from_the_household_page(napp, pw, provider):
    client = napp.test_client()
    assert page_login(client, "alpha", "villager").status_code == 302
    home = client.get(f"/t/alpha/ledger/households/{pw.household}").get_data(as_text=True)
    assert 'id="message-prefs"' in home
    url = f"/t/alpha/notifications/households/{pw.household}/preferences"
    assert f'href="{url}"' in home
    token = csrf_token(client, url)
    resp = client.post(url, data={"csrf_token": token, "channel": "sms", "phone": "", "language": ""})
    assert resp.status_code == 422 and 'id="e-phone"' in resp.get_data(as_text=True)
    resp = client.post(url, data={"csrf_token": token, "channel": "sms", "phone": "13900000001", "language": "en",
                                  "quiet_start": "21:00", "quiet_end": "07:00"})
    assert resp.status_code == 302
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        row = preferences.preference_of(pw.household)
        assert (row.channel, row.phone, row.language, row.quiet_start) == ("sms", "13900000001", "en", time(21))
        assert row.updated_by_name == "villager"
    assert client.get(f"/t/alpha/notifications/households/{pw.household2}/preferences").status_code == 404
    assert client.get("/t/alpha/notifications/deliveries").status_code == 403


def test_a_grid_worker_keeps_a_masked_phone_by_leaving_the_field_empty(napp, pw):
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        prefs(pw.household2, channel="sms", phone="13700000007")
    client = napp.test_client()
    page_login(client, "alpha", "gridder")
    url = f"/t/alpha/notifications/households/{pw.household2}/preferences"
    page = client.get(url).get_data(as_text=True)
    assert "13700000007" not in page and "137****0007" in page
    resp = client.post(url, data={"csrf_token": csrf_token(client, url), "channel": "sms", "phone": "",
                                  "language": "en"})
    assert resp.status_code == 302
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        assert (preferences.preference_of(pw.household2).phone, preferences.preference_of(pw.household2).language) \
            == ("13700000007", "en")
    resp = client.post(url, data={"csrf_token": csrf_token(client, url), "channel": "sms", "phone": "",
                                  "use_head_phone": "1"})
    assert resp.status_code == 302
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        assert preferences.preference_of(pw.household2).phone is None


def test_the_admin_page_lists_failures_and_retries_them(napp, pw, provider):
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        prefs(pw.household2, channel="sms")
        provider.fail(1, "400")
        delivery.deliver_all()
        dead = deliveries()[0]
    client = napp.test_client()
    page_login(client, "alpha", "admin")
    page = client.get("/t/alpha/notifications/deliveries").get_data(as_text=True)
    assert f'data-id="{dead.id}"' in page and 'data-state="dead"' in page and "HTTP 400" in page
    assert "/t/alpha/notifications/deliveries" in client.get("/t/alpha/").get_data(as_text=True)  # the tile
    resp = client.post(f"/t/alpha/notifications/deliveries/{dead.id}/retry",
                       data={"csrf_token": csrf_token(client, "/t/alpha/notifications/deliveries")})
    assert resp.status_code == 302
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        assert deliveries()[0].state == "pending"
        delivery.deliver_all()
        assert deliveries()[0].state == "sent"
    assert 'data-state="sent"' in client.get("/t/alpha/notifications/deliveries?show=sent").get_data(as_text=True)


def test_cli_delivers(napp, pw, provider):
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        prefs(pw.household2, channel="sms")
    result = napp.test_cli_runner().invoke(args=["delivery", "deliver", "--tenant", "alpha"])
    assert result.exit_code == 0, result.output
    assert "sent=1" in result.output and len(provider.sent()) == 1
    again = napp.test_cli_runner().invoke(args=["delivery", "deliver"])
    assert "tenants=0" in again.output and len(provider.sent()) == 1


# --- the staff digest -------------------------------------------------------------------------------

def _waiting_work(pw):
    """One application to verify (household 1) and one to certify (household 2, verified)."""
    from jifen.tenants.points import applications as apps

    today = clock.today().isoformat()
    apps.self_apply(who("villager"), pw.household, {"item_code": "A2", "occurred_on": today,
                                                                 "description": "打扫卫生"})
    verified = apps.self_apply(who("villager2"), pw.household2, {"item_code": "A2", "occurred_on": today,
                                                                   "description": "打扫卫生"})
    apps.verify(who("gridder"), verified.id)
    db.session.commit()


def _points_items() -> dict:
    rows = db.session.execute(select(User.username, StaffDigest.items).join(
        StaffDigest, StaffDigest.user_id == User.id)).all()
    out = {u: {i["source"]: i["count"] for i in items if i["source"].startswith("points.")} for u, items in rows}
    return {u: items for u, items in out.items() if items}


@freeze_time(T0, tick=True)  # 10:00 in Shanghai: outside the staff quiet hours, so the text goes now
def test_the_digest_counts_what_waits_for_each_role_once_a_day(alpha, pw, provider):
    _waiting_work(pw)
    admin = db.session.execute(select(User).where(User.username == "admin")).scalar_one()
    admin.phone = "13700000000"
    db.session.commit()
    tenant = db.session.get(Tenant, pw_tenant(pw))
    task = alpha.extensions["celery"].tasks["jifen.staff_digest"]
    day = clock.today().isoformat()
    first = task.apply(kwargs={"tenant_id": str(tenant.id), "local_date": day}).get()
    assert _points_items() == {
        "admin": {"points.to_verify": 1}, "cadre": {"points.to_verify": 1}, "gridder": {"points.to_verify": 1},
        "panel1": {"points.to_certify": 1}, "panel2": {"points.to_certify": 1}, "panel3": {"points.to_certify": 1}}
    assert first["texts"] == 1 and first["digests"] >= 6
    again = task.apply(kwargs={"tenant_id": str(tenant.id), "local_date": day, "force": True}).get()
    assert again == first
    assert db.session.execute(select(func.count()).select_from(StaffDigest)).scalar_one() == first["digests"]
    with tenant_scope(tenant):
        delivery.deliver_all()
    texts = [r["json"] for r in provider.sent() if r["json"]["kind"] == "digest"]
    assert len(texts) == 1 and texts[0]["to"] == "13700000000"
    assert "1" in texts[0]["text"] and texts[0]["link"] == "https://jifen.example.cn/t/alpha/"
    lines = digest.lines(db.session.execute(select(StaffDigest).where(StaffDigest.user_id == admin.id))
                         .scalar_one(), tenant)
    assert [(x["source"], x["count"], x["url"]) for x in lines if x["source"].startswith("points.")] == [
        ("points.to_verify", 1, "/t/alpha/points/queue")]


def test_the_digest_shows_on_the_staff_home_and_in_the_api(napp, pw):
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        _waiting_work(pw)
        tenant_id = pw_tenant(pw)
        digest.run(db.session.get(Tenant, tenant_id), clock.today())
    client = napp.test_client()
    page_login(client, "alpha", "panel1")
    home = client.get("/t/alpha/").get_data(as_text=True)
    assert 'id="staff-digest"' in home and 'data-source="points.to_certify"' in home
    api = napp.test_client()
    body = api.get("/api/v1/t/alpha/notifications/digest", headers=bearer(api_token(api, "alpha", "panel1"))).get_json()
    assert {(i["source"], i["count"]) for i in body["items"]} >= {("points.to_certify", 1)}
    empty = api.get("/api/v1/t/alpha/notifications/digest", headers=bearer(api_token(api, "alpha", "keeper")))
    assert empty.status_code == 200 and [i for i in empty.get_json()["items"] if i["source"].startswith("points.")] == []
    other = napp.test_client()
    page_login(other, "alpha", "vadmin")
    assert 'data-source="points.' not in other.get("/t/alpha/").get_data(as_text=True)


# --- racing workers (PostgreSQL row locks) ------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_concurrent_workers_never_send_a_delivery_twice(napp, pw, provider):
    with napp.app_context(), tenant_scope(db.session.get(Tenant, pw_tenant(pw))):
        prefs(pw.household2, channel="sms")
        for i in range(40):
            service.notify(pw.household2, "verified", f"race-{i}", "", item="测试项A2", points=3)
        db.session.commit()
        tenant_id = pw_tenant(pw)
    start, errors, results = threading.Barrier(4), [], []

    def work():
        try:
            with napp.app_context():
                start.wait(timeout=30)
                results.append(delivery.deliver_all(tenant_id))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    keys = [r["headers"]["Idempotency-Key"] for r in provider.sent()]
    assert len(keys) == 41 and len(set(keys)) == 41  # 40 messages and the confirmation, each once
    assert sum(r.get("sent", 0) for r in results) == 41
    with napp.app_context(), tenant_scope(db.session.get(Tenant, tenant_id)):
        rows = deliveries()
        assert {(d.state, d.attempts) for d in rows} == {("sent", 1)} and len(rows) == 41


def test_the_beat_delivers_every_minute_and_the_digest_is_a_daily_job(app):
    from jifen.platform.jobs.schedule import DAILY_JOBS

    beat = app.extensions["celery"].conf.beat_schedule["deliver-notifications"]
    assert beat == {"task": "jifen.deliver_notifications", "schedule": 60.0}
    assert "jifen.deliver_notifications" in app.extensions["celery"].tasks
    assert DAILY_JOBS["jifen.staff_digest"].at == time(7, 30)
