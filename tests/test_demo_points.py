"""The demo's year of points history: loaded through the real services, every application state and
notice outcome present, the ledger consistent, and loading again adds nothing.

The Longwo demo is loaded without its points part first (fast); then the points demo runs for two
villages at a smaller volume than `jifen demo` uses."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from jifen import demo
from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends.models import DividendRun
from jifen.tenants.funds.models import FundCoverage, FundRecord
from jifen.tenants.honours.models import HonourCandidate, HonourWall, StarRating
from jifen.tenants.integrity import demo as integrity_demo
from jifen.tenants.integrity.models import IntegritySignal
from jifen.tenants.points import demo as points_demo
from jifen.tenants.points import entries, ledger
from jifen.tenants.points.models import Application, Batch, HouseholdBalance, LedgerTransaction, Notice, Objection
from jifen.tenants.points.workflow import STATES
from jifen.tenants.rankings.models import RankingSnapshot
from jifen.tenants.store.models import Order
from jifen.tenants.villages.models import Village
from tests import restore_drill
from tests.conftest import api_token


def _count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


SMALLER = (("RATE", {"官田村": 6}), ("RATE_DEFAULT", 3), ("BATCH_EVERY", {"官田村": 4}), ("BATCH_EVERY_DEFAULT", 6),
           ("VILLAGERS", {"官田村": 2}), ("VILLAGERS_DEFAULT", 1))


def _load_longwo(app) -> dict:
    """The demo without its points part (fast), then the points demo for two villages at SMALLER volume
    and the rewards, as `jifen demo` does next; returns the points demo's figures."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(points_demo, "load_demo", lambda *a, **k: None)
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        mp.undo()
        for name, value in SMALLER:
            mp.setattr(points_demo, name, value)
        tenant, admin, villages = _longwo_objects()
        with tenant_scope(tenant):
            stats = points_demo.load_demo(admin, villages)
            every = {v.name: v for v in db.session.execute(select(Village)).scalars()}
            return stats | {"rewards": [loader(admin, every) for loader in demo.REWARDS]}
    finally:
        mp.undo()


def _longwo_objects():
    tenant = db.session.execute(select(Tenant).where(Tenant.slug == "longwo")).scalar_one()
    with tenant_scope(tenant):
        admin = actor_for(db.session.execute(select(User).where(User.username == "admin")).scalar_one())
        villages = {v.name: v for v in db.session.execute(select(Village)).scalars() if v.name in ("官田村", "琴口村")}
    return tenant, admin, villages


@pytest.fixture
def longwo(app, monkeypatch, test_database):
    """The Longwo demo (villages, households, rulebook, staff) with points loaded for 官田村 and 琴口村:
    loaded once per test process (a saved state of the test database, restored for each test that
    asks: two tests here and in tests/test_privacy.py, about 30-50 s each load; the second one saves
    it when xdist gives both to the same process)."""
    test_database.restore("longwo", ("empty", lambda: _load_longwo(app)))
    stats = test_database.value("longwo")
    for name, value in SMALLER:  # a test loading the points demo again loads it as it was loaded
        monkeypatch.setattr(points_demo, name, value)
    with app.app_context():
        tenant, admin, villages = _longwo_objects()
        with tenant_scope(tenant):
            yield tenant, admin, villages, stats


def test_demo_points_history_is_complete_consistent_and_loads_once(app, longwo, make_app, tmp_path):
    tenant, admin, villages, stats = longwo
    # what villagers get for their points: orders, rankings with movement, stars, an honour wall, a dividend
    assert all(stats["rewards"]), stats["rewards"]
    assert {o.state for o in db.session.execute(select(Order)).scalars()} >= {"open", "handed_over"}
    assert _count(RankingSnapshot) >= 2 and _count(StarRating) > 0 and _count(HonourWall) > 0
    assert _count(HonourCandidate, HonourCandidate.status == "confirmed") > 0
    assert _count(DividendRun, DividendRun.state == "paid") == 1
    # fund coverage: money received over past months, tonight's snapshot with exactly one village below
    coverage = db.session.execute(select(FundCoverage).where(FundCoverage.taken_on == clock.today())).scalars().all()
    assert len(coverage) == 4  # the township and the three villages with a store
    assert [r.village_id is not None for r in coverage if r.below] == [True]
    assert len({d.replace(day=1) for d in db.session.execute(select(FundRecord.received_on)).scalars()}) >= 3
    assert stats["errors"] == [] and stats["skipped"] == 0
    states = dict(db.session.execute(select(Application.state, func.count()).group_by(Application.state)).all())
    assert set(states) == set(STATES), states
    assert states["posted"] > states["rejected"] > 0
    total = sum(states.values())
    made = _count(Application, Application.description.in_(integrity_demo.MADE))  # the integrity demo's cases
    assert total - made == stats["applications"] and 200 <= total <= 1500
    # ... which the detectors really find: 刘强 verifying his own household, two households' shared photo
    assert {"separation", "shared_photo"} <= set(db.session.execute(select(IntegritySignal.kind)).scalars())
    # where applications came from: households, grid workers on their behalf, staff, batch sheets
    origins = dict(db.session.execute(select(Application.origin, func.count()).group_by(Application.origin)).all())
    assert {"self", "proxy", "staff"} <= set(origins)
    assert _count(Batch) >= 1 and _count(Application, Application.batch_id.is_not(None)) >= 10
    # the year: applications from January to now, nothing in the future
    today = clock.today()
    first, last = db.session.execute(select(func.min(Application.occurred_on), func.max(Application.occurred_on))).one()
    assert first.year == today.year and first.month <= 2 and last <= today
    # notices: many closed, exactly one open per village with points
    for village in villages.values():
        assert _count(Notice, Notice.village_id == village.id, Notice.status == Notice.CLOSED) >= 10
        assert _count(Notice, Notice.village_id == village.id, Notice.status == Notice.OPEN) == 1
    # objections: upheld and dismissed, and one still open (官田村)
    outcomes = dict(db.session.execute(select(Objection.status, func.count()).group_by(Objection.status)).all())
    assert outcomes.get("upheld", 0) >= 1 and outcomes.get("dismissed", 0) >= 1 and outcomes.get("open") == 1
    # corrections are reversing entries pointing at their original
    assert _count(LedgerTransaction, LedgerTransaction.reverses_id.is_not(None)) == stats["corrections"] >= 1
    report = ledger.recompute()
    assert report["differences"] == [] and report["unbalanced"] == []
    with_points = _count(HouseholdBalance, HouseholdBalance.period == today.year, HouseholdBalance.available > 0)
    assert with_points >= 60
    # the dashboard's facts over the demo's year equal a recount from the ledger, with months of history
    from tests.test_cockpit_facts import recount, stored

    assert stored() == recount()
    months = {k[0] for k in stored()["months"] if k[1] == "township" and k[3] is None}
    assert len(months) >= min(today.month, 3)
    # a household's rank over time: the month-ends of the year were ranked
    assert _count(RankingSnapshot) >= min(today.month, 3)

    # the demo villager signs in and has points of their own
    user = db.session.execute(select(User).where(User.username == points_demo.DEMO_VILLAGER)).scalar_one()
    villager = actor_for(user)
    (household_id,) = next(g.scope_ids for g in villager.grants if g.role == "villager")
    assert _count(Application, Application.household_id == household_id, Application.origin == "self") >= 1
    earned, _available = entries.balances(villager, household_id)
    assert earned > 0
    assert api_token(app.test_client(), "longwo", points_demo.DEMO_VILLAGER, "Longwo-demo-2026")

    # loading again adds nothing: the points demo alone, and the whole demo (rewards included)
    counts = lambda: [_count(m) for m in (Application, Notice, Objection, LedgerTransaction, User, Order,  # noqa: E731
                                          RankingSnapshot, StarRating, HonourCandidate, DividendRun, FundRecord,
                                          FundCoverage)]
    before = counts()
    assert points_demo.load_demo(admin, villages) is None
    assert counts() == before
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert counts() == before

    # PostgreSQL: deploy/README.md's restore drill on this demo (dump, restore, audit verify, check-balances)
    if db.engine.dialect.name == "postgresql":
        from jifen.tenants.households.models import Resident

        ids = {r.id_number for r in db.session.execute(select(Resident)).scalars() if r.id_number_sealed}
        assert len(ids) > 1000
        restore_drill.run(make_app, tmp_path, tenant.slug, secrets=ids)
