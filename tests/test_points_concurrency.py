"""Racing postings and spends on PostgreSQL's real row locks: nothing posts twice, caps hold
under racing workers, available points never go below zero."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Invalid
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import applications as apps
from jifen.tenants.points import ledger, notices, posting
from jifen.tenants.points.models import REDEMPTION, Application, LedgerTransaction, Notice
from tests.conftest import PG_URL
from tests.race import race

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")]


def _who(username: str):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def _on_closed_notice(pw, make) -> list:
    """Applications made by `make()`, certified, on a notice that has closed; returns their ids."""
    made = make()
    for a in made:
        if a.state == "submitted":
            apps.verify(_who("gridder"), a.id)
        if a.state == "verified":
            for member in ("panel1", "panel2"):
                apps.vote(_who(member), a.id, {"decision": "approve"})
    notice = notices.publish(Actor.system(), pw.village)
    posting.close_due(notice.closes_on + timedelta(days=1))
    assert tenant_get(Notice, notice.id).status == Notice.CLOSED
    return [a.id for a in made]


def test_eight_workers_post_one_item_exactly_once(app, world, pw):
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        villager = _who("villager")
        [app_id] = _on_closed_notice(pw, lambda: [apps.self_apply(villager, pw.household, {
            "item_code": "V1", "occurred_on": clock.today().isoformat(), "description": "参加村民大会"})])
    results = race(app, world.a.tenant_id, 8, lambda i: posting.post_ready(Actor.system()))
    assert sum(r["posted"] for r in results) == 1
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert db.session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one() == 1
        assert tenant_get(Application, app_id).state == "posted"
        bal = ledger.balance(pw.household, ledger.period_of(clock.today()))
        assert (bal.earned, bal.available) == (1, 1)
        assert ledger.recompute()["differences"] == []


def test_racing_postings_of_a_capped_item_never_exceed_the_cap(app, world, pw):
    """A2 gives 3 points, at most 6 a month: five applications posted by five racing workers,
    each holding its own row, earn 6 in all and report 9 held back."""
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        villager = _who("villager")
        ids = _on_closed_notice(pw, lambda: [apps.self_apply(villager, pw.household, {
            "item_code": "A2", "occurred_on": clock.today().isoformat(), "description": f"第{i}次"})
            for i in range(5)])

    def post_mine(i):
        locked = db.session.execute(select(Application).where(Application.id == ids[i]).with_for_update()
                                    .execution_options(populate_existing=True)).scalar_one()
        done = posting.post_one(Actor.system(), locked)
        db.session.commit()
        return done

    assert race(app, world.a.tenant_id, len(ids), post_mine) == [True] * len(ids)
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        made = [tenant_get(Application, i) for i in ids]
        assert {a.state for a in made} == {"posted"}
        assert sum(a.posted_points for a in made) == 6
        assert sum(a.capped_points for a in made) == 9
        assert sorted(a.posted_points for a in made) == [0, 0, 0, 3, 3]
        earned = db.session.execute(select(func.sum(LedgerTransaction.points)).where(
            LedgerTransaction.item_code == "A2")).scalar_one()
        assert earned == 6
        bal = ledger.balance(pw.household, ledger.period_of(clock.today()))
        assert (bal.earned, bal.available) == (6, 6)
        assert ledger.recompute()["differences"] == []


def test_racing_post_ready_workers_share_capped_items(app, world, pw):
    """The same cap with the nightly job's path: four workers run post_ready at once, chunk 1."""
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        villager = _who("villager")
        ids = _on_closed_notice(pw, lambda: [apps.self_apply(villager, pw.household, {
            "item_code": "A2", "occurred_on": clock.today().isoformat(), "description": f"第{i}次"})
            for i in range(6)])
    results = race(app, world.a.tenant_id, 4, lambda i: posting.post_ready(Actor.system(), chunk=1))
    assert sum(r["posted"] for r in results) == 6
    assert sum(r["capped"] for r in results) == 4
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        made = [tenant_get(Application, i) for i in ids]
        assert sum(a.posted_points for a in made) == 6 and sum(a.capped_points for a in made) == 12
        assert db.session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one() == 6


def test_racing_spends_never_take_available_below_zero(app, world, pw):
    """10 points available, eight workers each spend 3 at once: exactly three succeed."""
    period = None
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        gridder = _who("gridder")
        _on_closed_notice(pw, lambda: [apps.record_conduct(gridder, pw.household, {
            "item_code": "S1", "occurred_on": clock.today().isoformat(), "description": "志愿服务",
            "points": p}) for p in (2, 8)])
        posting.post_ready(Actor.system())
        period = ledger.period_of(clock.today())
        assert ledger.balance(pw.household, period).available == 10

    def spend(i):
        try:
            ledger.spend(household_id=pw.household, points=3, period=period, source_kind=REDEMPTION,
                         source_id=uuid.uuid4(), memo="兑换", on=clock.today())
            db.session.commit()
            return True
        except Invalid as e:
            db.session.rollback()
            assert "points" in e.errors
            return False

    results = race(app, world.a.tenant_id, 8, spend)
    assert results.count(True) == 3
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        bal = ledger.balance(pw.household, period)
        assert (bal.earned, bal.available) == (10, 1)
        assert db.session.execute(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.source_kind == REDEMPTION)).scalar_one() == 3
        assert ledger.recompute()["differences"] == []
