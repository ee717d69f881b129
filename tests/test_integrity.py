"""Integrity signals: each detector fires on a constructed case and stays quiet on the normal one;
a rerun adds nothing; review (reason required, audited, 409 on repeat); who sees what; the
device cookie of the check-in page."""
from __future__ import annotations

import hashlib
import io
import random
import uuid
from datetime import date, datetime, time, timedelta

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.errors import InputConflict
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.activities import service as activities
from jifen.tenants.activities.models import Attendance
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.integrity import detectors
from jifen.tenants.integrity.models import IntegritySignal
from jifen.tenants.points import applications as apps
from jifen.tenants.points.models import Application, ApplicationStep
from jifen.tenants.rulebook.models import RuleItem
from tests.conftest import api_token, bearer, csrf_token, page_login, set_password

PAGES = "/t/alpha/integrity"
API = "/api/v1/t/alpha/integrity/signals"


@pytest.fixture
def scope(app, world):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            yield
            db.session.rollback()


def who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def run() -> dict:
    result = detectors.run_all(clock.today())
    db.session.commit()
    return result


def signals(kind: str | None = None) -> list[IntegritySignal]:
    query = select(IntegritySignal).order_by(IntegritySignal.created_at)
    if kind:
        query = query.where(IntegritySignal.kind == kind)
    return list(db.session.execute(query).scalars())


def image(seed: int | None = None, size=(64, 48)) -> FileStorage:
    """A JPEG with detail (random blocks from `seed`), or flat grey with no seed."""
    pic = Image.new("RGB", size, (128, 128, 128))
    if seed is not None:
        rnd = random.Random(seed)
        for x in range(0, size[0], 8):
            for y in range(0, size[1], 8):
                shade = rnd.randrange(256)
                pic.paste((shade, shade, 255 - shade), (x, y, x + 8, y + 8))
    buf = io.BytesIO()
    pic.save(buf, "JPEG", quality=90)
    buf.seek(0)
    return FileStorage(buf, filename="p.jpg", content_type="image/jpeg")


def self_apply(username, household, item="A1", photo=None, day=None):
    return apps.self_apply(who(username), household, {"item_id": None, "item_code": item,
                                                      "occurred_on": (day or clock.today()).isoformat(),
                                                      "description": "打扫"}, photos=[photo] if photo else None)


def third_household(pw, username="villager3"):
    """A third household of 官田村 with its own villager account."""
    admin = who("admin")
    node = db.session.execute(select(Household.grid_node_id).where(Household.id == pw.household)).scalar_one()
    h = Household(village_id=pw.village, grid_node_id=node, door_plate="3号", head_name="王五", head_pinyin="wangwu",
                  head_initials="ww")
    db.session.add(h)
    db.session.flush()
    db.session.add(Resident(household_id=h.id, name="王五", name_pinyin="wangwu", name_initials="ww", relation="head"))
    user, _ = staff.invite(admin, {"username": username, "display_name": username,
                                   "roles": [{"role": "villager", "scope_ids": [h.id]}]})
    set_password(user)
    return h.id


# --- 1. separation of duties -------------------------------------------------------------------

def test_a_verifier_approving_their_own_household_is_a_signal_and_normal_work_is_not(pw, scope):
    gridder = db.session.execute(select(User).where(User.username == "gridder")).scalar_one()
    gridder.phone = "13800000002"  # the phone of 李四, head of household2: the gridder's own household
    db.session.commit()
    own = self_apply("villager2", pw.household2, item="A2")
    other = self_apply("villager", pw.household, item="A2")
    apps.verify(who("gridder"), own.id)
    apps.verify(who("gridder"), other.id)
    apps.record_conduct(who("gridder"), pw.household, {"item_code": "S1", "occurred_on": clock.today().isoformat(),
                                                       "description": "帮扶"})  # recorder = verifier, by design
    db.session.commit()
    result = run()
    found = signals("separation")
    assert len(found) == 1 and result["by_kind"] == {"separation": 1}
    s = found[0]
    assert s.subject_user_id == gridder.id and s.household_id == pw.household2 and s.village_id == pw.village
    assert {"type": "application", "id": str(own.id)} in s.records
    assert s.numbers["own_household"] is True and s.numbers["step"] == "verify"


def test_a_panel_member_approving_a_proxy_application_they_submitted_is_a_signal(pw, scope, monkeypatch):
    # a panel member who is also on the work team submits for a household, then approves it on the panel
    admin = who("admin")
    user = db.session.execute(select(User).where(User.username == "panel1")).scalar_one()
    staff.set_roles(admin, user.id, [{"role": "panel_member", "scope_ids": [pw.village]},
                                     {"role": "area_cadre", "scope_ids": [pw.village]}])
    db.session.commit()
    app_ = apps.proxy_apply(who("panel1"), pw.household, {"item_code": "A2", "occurred_on": clock.today().isoformat(),
                                                          "description": "代填"})
    apps.verify(who("gridder"), app_.id)
    db.session.commit()
    # the workflow now refuses it (separation of duties, issue 14) ...
    with pytest.raises(InputConflict) as refused:
        apps.vote(who("panel1"), app_.id, {"decision": "approve"})
    assert "decision" in refused.value.errors
    db.session.rollback()
    # ... but approvals made before that rule are in the data: the detector still finds them
    monkeypatch.setattr(apps, "refuse_own_proxy", lambda *args, **kwargs: None)
    apps.vote(who("panel1"), app_.id, {"decision": "approve"})
    apps.vote(who("panel2"), app_.id, {"decision": "approve"})
    db.session.commit()
    run()
    [s] = signals("separation")
    assert s.subject_name == "panel1" and s.numbers == {"step": "certify", "own_household": False,
                                                        "own_record": True, "points": 3, "applications": 1,
                                                        "year": clock.today().year}
    # a second one the same year: the same signal, its count refreshed (it is still open)
    second = apps.proxy_apply(who("panel1"), pw.household2, {"item_code": "A2", "description": "代填",
                                                             "occurred_on": clock.today().isoformat()})
    apps.verify(who("gridder"), second.id)
    apps.vote(who("panel1"), second.id, {"decision": "approve"})
    db.session.commit()
    assert run()["new"] == 0
    [s] = signals("separation")
    db.session.refresh(s)
    assert s.numbers["applications"] == 2 and s.numbers["points"] == 6 and len(s.records) == 2


# --- 2. outlying verifiers -------------------------------------------------------------------------

def _decisions(pw, name: str, approved: int, rejected: int, points: int = 3) -> uuid.UUID:
    """`approved` verifications and `rejected` rejections by a verifier named `name`, written straight
    to the tables (the detector reads the applications' steps)."""
    user_id = uuid.uuid4()
    item = db.session.execute(select(RuleItem).where(RuleItem.id == pw.items["A2"])).scalar_one()
    now = clock.now()
    for n in range(approved + rejected):
        ok = n < approved
        a = Application(household_id=pw.household, village_id=pw.village, item_id=item.id, item_code=item.code,
                        version_id=item.version_id, points=points, occurred_on=clock.today(), origin="self",
                        state="verified" if ok else "rejected", verified_by=user_id if ok else None,
                        verified_by_name=name if ok else "", verified_at=now if ok else None)
        db.session.add(a)
        db.session.flush()
        db.session.add(ApplicationStep(application_id=a.id, step="verify" if ok else "reject", from_state="submitted",
                                       to_state=a.state, points=points if ok else None, actor_id=user_id,
                                       actor_name=name))
    db.session.flush()
    return user_id


def test_a_verifier_approving_far_more_than_peers_is_a_signal(pw, scope):
    for name, approved in (("甲", 14), ("乙", 15), ("丙", 16)):
        _decisions(pw, name, approved, 20 - approved)
    lenient = _decisions(pw, "丁", 20, 0)
    _decisions(pw, "戊", 5, 0)  # too few decisions to judge, whatever the rate
    db.session.commit()
    run()
    [s] = signals("verifier_outlier")
    assert s.subject_user_id == lenient and s.numbers["metric"] == "rate"
    assert s.numbers["value"] == 1.0 and s.numbers["peer_mean"] == 0.75 and s.numbers["z"] > 2
    assert s.numbers["peers"] == 3


def test_verifiers_who_decide_alike_are_not_signals(pw, scope):
    for name, approved in (("甲", 15), ("乙", 16), ("丙", 15), ("丁", 16)):
        _decisions(pw, name, approved, 20 - approved)
    db.session.commit()
    run()
    assert signals("verifier_outlier") == []


# --- 3. bursts before a cut-off --------------------------------------------------------------------

def _submitted(pw, village, household, when: datetime, n: int = 1):
    item = db.session.execute(select(RuleItem).where(RuleItem.id == pw.items["A2"])).scalar_one()
    for _ in range(n):
        db.session.add(Application(household_id=household, village_id=village, item_id=item.id, item_code=item.code,
                                   version_id=item.version_id, points=3, occurred_on=when.date(), origin="self",
                                   state="submitted", created_at=when))
    db.session.flush()


def test_a_burst_of_applications_before_the_year_end_is_a_signal_and_a_steady_village_is_not(pw, world, scope):
    year_end = date(clock.today().year - 1, 12, 31)
    noon = lambda d: clock.local_moment(d, time(12))  # noqa: E731
    # 官田村: two applications a month, then 9 in the last 3 days of the year
    for k in range(6):
        _submitted(pw, pw.village, pw.household, noon(year_end - timedelta(days=10 + 15 * k)))
    _submitted(pw, pw.village, pw.household, noon(year_end - timedelta(days=1)), 9)
    # 礼坑村: one a day for the 90 days before, 3 in the last 3 days (its usual rate)
    other = Household(village_id=world.a.villages[1], grid_node_id=db.session.execute(
        select(Household.grid_node_id).where(Household.id == pw.household)).scalar_one(), door_plate="9号")
    db.session.add(other)
    db.session.flush()
    for k in range(93):
        _submitted(pw, world.a.villages[1], other.id, noon(year_end - timedelta(days=k)))
    db.session.commit()
    run()
    [s] = signals("burst")
    assert s.village_id == pw.village
    assert s.numbers["cutoff"] == year_end.isoformat() and s.numbers["what"] == "year_end"
    assert s.numbers["burst"] == 9 and s.numbers["ratio"] > 3
    assert sum(r["type"] == "application" for r in s.records) == 9


def test_a_burst_before_a_dividend_run_counts_what_came_before_the_run_only(pw, scope):
    from jifen.tenants.dividends.models import DividendPool, DividendRun

    started = clock.now() - timedelta(days=5)
    pool = DividendPool(village_id=pw.village, title="集体收入分红", amount_fen=100000, source="collective_income",
                        period=started.year, base_percent=0)
    db.session.add(pool)
    db.session.flush()
    db.session.add(DividendRun(pool_id=pool.id, number=1, state="simulated", village_id=pw.village,
                               period=started.year, amount_fen=100000, base_percent=0, min_points=0,
                               started_at=started))
    _submitted(pw, pw.village, pw.household, started - timedelta(days=40))
    _submitted(pw, pw.village, pw.household, started - timedelta(hours=30), 4)  # four the day before: too few
    _submitted(pw, pw.village, pw.household, started + timedelta(hours=2), 6)  # after the run took its points
    db.session.commit()
    run()
    assert signals("burst") == []
    _submitted(pw, pw.village, pw.household, started - timedelta(hours=1), 2)
    db.session.commit()
    run()
    [s] = signals("burst")
    assert s.numbers["what"] == "dividend" and s.numbers["burst"] == 6
    assert s.records[0] == {"type": "dividend_pool", "id": str(pool.id)}


# --- 4. shared photos -----------------------------------------------------------------------------

def test_the_same_photo_on_two_households_applications_is_a_signal(pw, scope):
    first = self_apply("villager", pw.household, photo=image(seed=7))
    second = self_apply("villager2", pw.household2, photo=image(seed=7))
    self_apply("villager2", pw.household2, photo=image(seed=99))  # a different picture
    self_apply("villager", pw.household, photo=image())  # flat photos say nothing: they all hash alike
    self_apply("villager2", pw.household2, photo=image())
    db.session.commit()
    result = run()
    assert result["photos_hashed"] == 5
    [s] = signals("shared_photo")
    assert s.household_id == pw.household2 and s.numbers["distance"] == 0
    assert [r["id"] for r in s.records if r["type"] == "application"] == [str(second.id), str(first.id)]
    assert run()["photos_hashed"] == 0  # each photo is hashed once


def test_a_household_reusing_its_own_photo_is_not_a_signal(pw, scope):
    self_apply("villager", pw.household, photo=image(seed=3))
    self_apply("villager", pw.household, photo=image(seed=3))
    db.session.commit()
    run()
    assert signals("shared_photo") == []


# --- 5. one device, many households ---------------------------------------------------------------

def _activity(pw):
    return activities.create_activity(who("admin"), {"village_id": pw.village, "item_code": "S1", "title": "植树",
                                                     "place": "村委会", "held_on": clock.today()})


def _checkin(app, slug, username, activity, device: str | None):
    client = app.test_client()  # a phone: its own session, and the device cookie it was given
    if device:
        client.set_cookie("jifen_device", device, domain=app.config["SERVER_NAME"])
    page_login(client, slug, username)
    path = f"/t/{slug}/activities/{activity.id}/checkin"
    resp = client.post(path, data={"csrf_token": csrf_token(client, path), "code": activity.checkin_code})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def test_the_checkin_page_sets_a_long_lived_device_cookie_and_stores_only_its_hash(app, client, pw, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        activity = _activity(pw)
        db.session.commit()
    page_login(client, "alpha", "villager")
    resp = client.get(f"/t/alpha/activities/{activity.id}/checkin")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("jifen_device="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=63072000" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    path = f"/t/alpha/activities/{activity.id}/checkin"
    client.post(path, data={"csrf_token": csrf_token(client, path), "code": activity.checkin_code})
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        stored = db.session.execute(select(Attendance.device_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored


def test_one_phone_checking_in_three_households_is_a_signal_two_are_not(app, client, pw, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        activity = _activity(pw)
        third_household(pw)
        db.session.commit()
    phone = "A" * 32
    for username in ("villager", "villager2"):
        _checkin(app, "alpha", username, activity, phone)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        run()
        assert signals("device") == []
    _checkin(app, "alpha", "villager3", activity, phone)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        run()
        [s] = signals("device")
        assert s.numbers["households"] == 3 and s.village_id == pw.village
        assert {"type": "activity", "id": str(activity.id)} in s.records


def test_three_households_on_three_phones_are_not_a_signal(app, client, pw, world):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        activity = _activity(pw)
        third_household(pw)
        db.session.commit()
    for n, username in enumerate(("villager", "villager2", "villager3")):
        _checkin(app, "alpha", username, activity, str(n) * 32)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        run()
        assert signals("device") == []


# --- rerun, review, who sees what -------------------------------------------------------------------

def _one_signal(app, world, pw, village=None, subject=None) -> uuid.UUID:
    """A signal written by the detectors' writer, in alpha."""
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        detectors.write([detectors.Found("separation", f"verify:{uuid.uuid4()}", village or pw.village, subject,
                                         "gridder", pw.household2, [], {"step": "verify", "own_household": True,
                                                                        "own_record": False, "points": 3})],
                        clock.today())
        db.session.commit()
        return db.session.execute(select(IntegritySignal.id).order_by(IntegritySignal.created_at.desc())).scalars().first()


def test_rerunning_the_detectors_adds_nothing_and_keeps_a_review(pw, scope):
    self_apply("villager", pw.household, photo=image(seed=11))
    self_apply("villager2", pw.household2, photo=image(seed=11))
    db.session.commit()
    assert run()["new"] == 1
    s = signals("shared_photo")[0]
    s.status, s.review_reason = "reviewed", "同一活动合影"
    db.session.commit()
    again = run()
    assert again["new"] == 0 and again["found"] == 1
    assert [x.status for x in signals()] == ["reviewed"]


def test_review_needs_a_reason_is_audited_and_a_second_review_is_409(app, client, pw, world):
    signal_id = _one_signal(app, world, pw)
    page_login(client, "alpha", "panel1")
    path = f"{PAGES}/{signal_id}"
    page = client.get(path).get_data(as_text=True)
    assert "李四" in page and 'id="review-form"' in page
    resp = client.post(f"{path}/review", data={"csrf_token": csrf_token(client, path), "reason": "  "})
    assert resp.status_code == 422 and 'id="e-reason"' in resp.get_data(as_text=True)
    resp = client.post(f"{path}/review", data={"csrf_token": csrf_token(client, path), "reason": "核实：该户确有此事"})
    assert resp.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "核实：该户确有此事" in page and 'id="review-form"' not in page
    headers = bearer(api_token(client, "alpha", "panel2"))
    resp = client.post(f"{API}/{signal_id}/review", json={"reason": "再看一次"}, headers=headers)
    assert resp.status_code == 409
    resp = client.post(f"{API}/{signal_id}/review", json={}, headers=headers)
    assert resp.status_code == 422 and "reason" in resp.get_json()["errors"]["json"]
    body = client.get(f"{API}/{signal_id}", headers=headers).get_json()
    assert body["status"] == "reviewed" and body["reviewed_by_name"] == "panel1" and body["text"]
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "integrity.review")).scalar_one()
        assert entry.object_id == str(signal_id) and entry.after["reason"] == "核实：该户确有此事"


def test_a_signal_about_yourself_is_reviewed_by_someone_else(app, client, pw, world):
    signal_id = _one_signal(app, world, pw, subject=pw.users["panel1"])
    headers = bearer(api_token(client, "alpha", "panel1"))
    assert client.post(f"{API}/{signal_id}/review", json={"reason": "没问题"}, headers=headers).status_code == 403


def test_who_sees_signals(app, client, pw, world):
    signal_id = _one_signal(app, world, pw)  # in 官田村 (world.a.villages[0])
    for username, listed in (("admin", True), ("vadmin", True), ("cadre", True), ("panel1", True),
                             ("panel", False)):  # `panel` is 礼坑村's
        headers = bearer(api_token(client, "alpha", username))
        ids = [s["id"] for s in client.get(API, headers=headers).get_json()]
        assert (str(signal_id) in ids) is listed, username
        assert client.get(f"{API}/{signal_id}", headers=headers).status_code == (200 if listed else 404), username
    for username in ("villager", "gridder", "keeper"):
        headers = bearer(api_token(client, "alpha", username))
        assert client.get(API, headers=headers).status_code == 403, username
        assert client.get(f"{API}/{signal_id}", headers=headers).status_code in (403, 404), username
    page_login(client, "alpha", "villager")
    assert client.get(f"{PAGES}/").status_code == 403


def test_another_townships_signal_is_404(app, client, pw, world):
    signal_id = _one_signal(app, world, pw)
    headers = bearer(api_token(client, "beta", "admin"))
    assert client.get(f"/api/v1/t/beta/integrity/signals/{signal_id}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/t/beta/integrity/signals/{signal_id}/review", json={"reason": "x"},
                       headers=headers).status_code == 404


def test_the_list_page_filters_and_explains_in_chinese(app, client, pw, world):
    _one_signal(app, world, pw)
    page_login(client, "alpha", "admin")
    html = client.get(f"{PAGES}/?status=open").get_data(as_text=True)
    assert "诚信提示" in html and "待核查" in html and "公示中" not in html  # zh_CN by default
    assert "李四" in html
    assert "李四" not in client.get(f"{PAGES}/?status=reviewed").get_data(as_text=True)
    assert "李四" not in client.get(f"{PAGES}/?kind=burst").get_data(as_text=True)


def test_summary_counts_open_signals_by_kind_and_the_dashboard_panel_shows_them(app, pw, world):
    from flask import g, render_template

    from jifen.tenants.integrity import service

    signal_id = _one_signal(app, world, pw)
    with app.test_request_context("/t/alpha/"), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        g.tenant_slug = "alpha"  # as the request's tenant resolution sets it (platform/web.py)
        got = service.summary(who("admin"))
        assert got["open"] == 1 and got["open_by_kind"]["separation"] == 1 and got["open_by_kind"]["burst"] == 0
        assert [s.id for s in got["newest"]] == [signal_id]
        html = render_template("integrity/_panel.html", integrity=got)
        assert 'id="integrity-panel"' in html and f"/t/alpha/integrity/{signal_id}" in html and "<style" not in html  # its CSS is static: the panel is cached
        assert service.summary(who("panel"))["open"] == 0  # 礼坑村's panel member: not their village


def test_the_nightly_job_runs_the_detectors(app, pw, world):
    from jifen.workers.integrity_jobs import integrity_signals

    _one_signal(app, world, pw)
    with app.app_context():
        result = integrity_signals.run(str(world.a.tenant_id), clock.today().isoformat())
    assert result["rows"] == 0 and "by_kind" in result

