"""The points lifecycle end to end through the service functions, on the real database."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.notifications.models import Notification
from jifen.tenants.points import applications as apps
from jifen.tenants.points import entries, ledger, notices, posting
from jifen.tenants.points.models import Application, LedgerTransaction


def photo() -> FileStorage:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, "JPEG")
    buf.seek(0)
    return FileStorage(buf, filename="p.jpg", content_type="image/jpeg")


@pytest.fixture
def scope(app, world):
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            yield


def who(username_or_role, world=None) -> Actor:
    user = db.session.execute(select(User).where(User.username == username_or_role)).scalar_one()
    return actor_for(user)


def test_self_application_goes_all_the_way_to_the_passbook(pw, scope):
    today = clock.today()
    villager, gridder = who("villager"), who("gridder")
    with pytest.raises(InputConflict) as e:
        apps.self_apply(villager, pw.household, {"item_id": pw.items["A1"], "occurred_on": today.isoformat(),
                                                 "description": "打扫公共区域"})
    assert "photos" in e.value.errors
    app = apps.self_apply(villager, pw.household, {"item_id": pw.items["A1"], "occurred_on": today.isoformat(),
                                                   "description": "打扫公共区域"}, photos=[photo()])
    assert app.state == "submitted" and app.points == 2
    apps.verify(gridder, app.id, {"points": 4, "reason": "清扫范围大"})
    assert app.state == "verified" and app.points == 4
    with pytest.raises(Invalid):  # the applicant's own panel? no: panel1 is not of the household
        apps.vote(who("panel1"), app.id, {"decision": "reject"})  # reject needs a reason
    apps.vote(who("panel1"), app.id, {"decision": "approve"})
    assert app.state == "verified"
    with pytest.raises(Conflict):
        apps.vote(who("panel1"), app.id, {"decision": "approve"})
    apps.vote(who("panel2"), app.id, {"decision": "approve"})
    assert app.state == "certified"
    notice = notices.publish(Actor.system(), pw.village)
    assert app.state == "on_notice" and notice.item_count == 1
    objection = notices.object_to(who("villager2"), app.id, {"reason": "没看到打扫"})
    assert app.state == "objected"
    notices.decide(who("panel3"), objection.id, {"decision": "dismiss", "reason": "有照片为证"})
    assert app.state == "on_notice"
    assert posting.nightly(Actor.system(), today=notice.closes_on)["posted"] == 0  # still up
    result = posting.nightly(Actor.system(), today=notice.closes_on + timedelta(days=1))
    assert result["posted"] == 1
    assert app.state == "posted"
    assert entries.balances(villager, pw.household) == (4, 4)
    again = posting.nightly(Actor.system(), today=notice.closes_on + timedelta(days=2))
    assert again["posted"] == 0
    assert db.session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one() == 1
    kinds = [n.kind for n in db.session.execute(select(Notification).order_by(Notification.created_at)).scalars()]
    assert kinds == ["verified", "certified", "on_notice", "objected", "objection_dismissed", "posted"]
    report = ledger.recompute()
    assert report["differences"] == [] and report["unbalanced"] == []


def test_caps_hold_back_the_excess_and_report_it(pw, scope):
    today = clock.today()
    villager = who("villager")
    made = [apps.self_apply(villager, pw.household, {"item_code": "A2", "occurred_on": today.isoformat(),
                                                     "description": f"第{i}次"}) for i in range(3)]
    for a in made:
        apps.verify(who("gridder"), a.id)
        apps.vote(who("panel1"), a.id, {"decision": "approve"})
        apps.vote(who("panel2"), a.id, {"decision": "approve"})
    notice = notices.publish(Actor.system(), pw.village)
    posting.nightly(Actor.system(), today=notice.closes_on + timedelta(days=1))
    assert sorted(a.posted_points for a in made) == [0, 3, 3]
    assert sorted(a.capped_points for a in made) == [0, 0, 3]
    assert entries.balances(villager, pw.household) == (6, 6)


def test_deduction_never_takes_available_below_zero_and_corrections_reverse(pw, scope):
    today = clock.today()
    rec = apps.record_conduct(who("gridder"), pw.household, {"item_code": "D1", "occurred_on": today.isoformat(),
                                                             "description": "乱倒垃圾", "points": 5})
    assert rec.state == "verified" and rec.points == -5
    for m in ("panel1", "panel2"):
        apps.vote(who(m), rec.id, {"decision": "approve"})
    notice = notices.publish(Actor.system(), pw.village)
    posting.nightly(Actor.system(), today=notice.closes_on + timedelta(days=1))
    assert entries.balances(who("villager"), pw.household) == (-5, 0)
    tx = db.session.execute(select(LedgerTransaction)).scalar_one()
    with pytest.raises(Forbidden):
        entries.correct_entry(who("gridder"), tx.id, {"points": 0, "reason": "误记"})
    entries.correct_entry(who("admin"), tx.id, {"points": 0, "reason": "误记，不是这户"})
    assert entries.balances(who("villager"), pw.household) == (0, 0)  # it took nothing: nothing comes back
    assert ledger.recompute()["differences"] == []
    assert db.session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one() == 2


def test_recusal_scope_and_wrong_state(pw, scope):
    today = clock.today()
    a = apps.record_conduct(who("gridder"), pw.household2, {"item_code": "S1", "occurred_on": today.isoformat(),
                                                            "description": "志愿服务"})
    user = db.session.execute(select(User).where(User.username == "panel1")).scalar_one()
    user.phone = "13800000002"  # panel1 lives in household 2
    db.session.commit()
    with pytest.raises(InputConflict) as e:
        apps.vote(who("panel1"), a.id, {"decision": "approve"})
    assert "decision" in e.value.errors
    with pytest.raises(NotFound):  # panel of another village
        apps.vote(who("panel"), a.id, {"decision": "approve"})
    with pytest.raises(Conflict) as e:
        apps.verify(who("gridder"), a.id)
    assert "state" in e.value.errors
    v = apps.self_apply(who("villager"), pw.household, {"item_code": "V1", "occurred_on": today.isoformat(),
                                                        "description": "参加会议"})
    apps.verify(who("gridder"), v.id)
    assert v.state == "certified"  # verification-only skips the panel
    with pytest.raises(NotFound):
        apps.self_apply(who("villager"), pw.household2, {"item_code": "V1", "occurred_on": today.isoformat(),
                                                         "description": "x"})
    assert tenant_get(Application, a.id).state == "verified"
