"""The cockpit's facts equal a recount from scratch over the ledger.

The recount here is independent of `cockpit/facts.py`: it reads every ledger transaction and its
postings through the ORM and adds them up in Python, by the rules the dashboards promise
(docs/decisions.md, "Cockpit figures"). A hypothesis machine posts, corrects, spends and closes at
random, with late entries dated back into earlier months, and builds the facts incrementally
between steps; after every build the facts must equal the recount.
"""
from __future__ import annotations

import time as time_module
import uuid
from collections import defaultdict
from datetime import date, time, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.cockpit import facts
from jifen.tenants.cockpit.models import GRID, MEASURES, NO_ID, TOWNSHIP, VILLAGE, HouseholdMonth, MonthFact
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.points.models import LedgerPosting, LedgerTransaction
from jifen.tenants.rulebook.models import RuleItem
from jifen.tenants.villages.models import GridNode, Village

TODAY = date(2026, 6, 15)


def recount() -> dict:
    """{(month, scope_kind, scope_id, item_id): measures} and {(household, month): measures},
    straight from the ledger."""
    households = {h.id: h for h in db.session.execute(select(Household)).scalars()}
    nodes = {n.id: n for n in db.session.execute(select(GridNode)).scalars()}
    postings = defaultdict(list)
    for p in db.session.execute(select(LedgerPosting)).scalars():
        postings[p.transaction_id].append(p)
    months: dict = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    own: dict = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for t in db.session.execute(select(LedgerTransaction)).scalars():
        add = dict.fromkeys(MEASURES, 0)
        for p in postings[t.id]:
            if p.account == "household" and t.source_kind in ("application", "activity"):
                add["issued" if p.earned > 0 else "deducted"] += abs(p.earned)
                add["entries"] += 1
            elif p.account == "household" and t.source_kind == "correction":
                add["corrected"] += p.earned
            elif p.account == "household" and t.source_kind == "period_close" and p.period > t.period:
                add["carried"] += p.available
            elif p.account in ("redeemed", "expired"):
                add[p.account] += p.available
        h = households[t.household_id]
        month = t.occurred_on.replace(day=1)
        scopes = [(TOWNSHIP, h.tenant_id), (VILLAGE, h.village_id)] + [
            (GRID, n) for n in nodes[h.grid_node_id].ancestor_ids()]
        for kind, scope in scopes:
            for item in {t.item_id, None}:
                if item is None or any(add.values()):
                    for k in MEASURES:
                        months[(month, kind, scope, item)][k] += add[k]
        for k in MEASURES:
            own[(t.household_id, month)][k] += add[k]
    participants: dict = defaultdict(int)
    for (household_id, month), m in own.items():
        if m["entries"] and households[household_id].status == "active":  # of the households there now
            h = households[household_id]
            for kind, scope in [(TOWNSHIP, h.tenant_id), (VILLAGE, h.village_id)] + [
                    (GRID, n) for n in nodes[h.grid_node_id].ancestor_ids()]:
                participants[(month, kind, scope)] += 1
    for (month, kind, scope, item), m in months.items():
        if item is None:
            m["participants"] = participants[(month, kind, scope)]
    return {"months": _nonzero(months), "households": _nonzero(own)}


def stored() -> dict:
    months = {(r.month, r.scope_kind, r.scope_id, None if r.item_id == NO_ID else r.item_id):
              {k: getattr(r, k) for k in MEASURES} | ({"participants": r.participants} if r.item_id == NO_ID else {})
        for r in db.session.execute(select(MonthFact)).scalars()}
    own = {(r.household_id, r.month): {k: getattr(r, k) for k in MEASURES}
           for r in db.session.execute(select(HouseholdMonth)).scalars()}
    return {"months": _nonzero(months), "households": _nonzero(own)}


def _nonzero(rows: dict) -> dict:
    """Rows that say something: a fact row of zeros and a missing row mean the same."""
    return {k: dict(v) for k, v in rows.items() if any(v.values())}


@pytest.fixture
def township(ctx, pw):
    """pw's township with a second village and a third household on its own grid branch."""
    tenant = db.session.execute(select(Tenant).where(Tenant.slug == pw.slug)).scalar_one()
    with tenant_scope(tenant):
        second_village = db.session.execute(select(Village.id).where(Village.id != pw.village)
                                            .order_by(Village.id)).scalars().first()
        node = GridNode(level=1, name="二片", village_id=second_village, path="/")
        db.session.add(node)
        db.session.flush()
        node.path = f"/{node.id}/"
        third = Household(village_id=second_village, grid_node_id=node.id, door_plate="9号", head_name="王五",
                          head_pinyin="wangwu", head_initials="ww")
        db.session.add(third)
        db.session.commit()
        yield tenant, [pw.household, pw.household2, third.id]


def _earn(household, points, day, item=None):
    ledger.earn(household_id=household, points=points, occurred_on=day, source_kind="activity",
                source_id=uuid.uuid4(), item=item, memo="活动")


def test_a_build_counts_each_flow_once_by_the_day_it_happened(township, pw):
    tenant, (h1, h2, h3) = township
    with clock.at(clock.local_moment(TODAY, time(12, 0))):
        item = tenant_get(RuleItem, pw.items["A1"])
        _earn(h1, 5, date(2026, 3, 2), item)
        _earn(h1, -3, date(2026, 3, 9))
        _earn(h2, 4, date(2026, 5, 1), item)
        _earn(h3, 7, date(2026, 5, 2))
        tx = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.household_id == h1)
                                .order_by(LedgerTransaction.id)).scalars().first()
        ledger.correct(tx, new_points=2, reason="更正", request_id=uuid.uuid4())
        ledger.spend(household_id=h3, points=6, period=2026, source_kind="redemption", source_id=uuid.uuid4(),
                     on=date(2026, 6, 1))
        result = facts.build(TODAY)
        db.session.commit()
    assert result["months"] == 3
    assert stored() == recount()
    township_march = db.session.execute(select(MonthFact).where(
        MonthFact.month == date(2026, 3, 1), MonthFact.scope_kind == TOWNSHIP, MonthFact.item_id == NO_ID)).scalar_one()
    # the March award (5), corrected to 2 in June, stays on March: issued 5, corrected -3
    assert (township_march.issued, township_march.deducted, township_march.corrected, township_march.entries,
            township_march.participants) == (5, 3, -3, 2, 1)
    june = db.session.execute(select(MonthFact).where(
        MonthFact.month == date(2026, 6, 1), MonthFact.scope_kind == VILLAGE, MonthFact.item_id == NO_ID)).scalar_one()
    assert (june.redeemed, june.participants, june.scope_id) == (6, 0, tenant_get(Household, h3).village_id)
    assert [m["issued"] for m in facts.household_months(h1, 2026)][2] == 5


def test_a_late_correction_is_counted_in_its_month_by_the_next_build_and_live_before(township, pw, monkeypatch):
    tenant, (h1, h2, _h3) = township
    monkeypatch.setattr(facts, "OVERLAP", timedelta(0))  # else the build rereads the last hour, all of this test
    with clock.at(clock.local_moment(TODAY, time(12, 0))):
        _earn(h1, 5, date(2026, 2, 2))
        _earn(h2, 2, date(2026, 4, 3))
        time_module.sleep(0.005)  # ids carry milliseconds: the build starts in a later one
        facts.build(TODAY)
        db.session.commit()
        tx = db.session.execute(select(LedgerTransaction).where(LedgerTransaction.household_id == h1)).scalar_one()
        ledger.correct(tx, new_points=1, reason="更正", request_id=uuid.uuid4())
        db.session.commit()
        # before the next build, the household's chart already shows it (facts + what came after)
        assert facts.household_months(h1, 2026)[1]["corrected"] == -4
        assert stored() != recount()
        result = facts.build(TODAY + timedelta(days=1))
        db.session.commit()
    assert (result["day_villages"], result["household_months"], result["months"]) == (1, 1, 1), result
    assert stored() == recount()
    assert facts.household_months(h1, 2026)[1]["corrected"] == -4  # once, not twice


def test_a_rerun_and_a_full_rebuild_give_the_same_facts(township, pw):
    tenant, (h1, h2, h3) = township
    with clock.at(clock.local_moment(TODAY, time(12, 0))):
        tenant_get(Household, h3).status = "moved_out"  # its points count; it does not participate
        for n, h in enumerate((h1, h2, h3, h1)):
            _earn(h, n + 1, date(2026, 1 + n, 10))
        assert facts.build(TODAY)["coverage"] > 0
        first = stored()
        again = facts.build(TODAY)  # the same night again: the registers' counts are the night's
        assert stored() == first and again["coverage"] == again["histogram"] == 0
        facts.build(TODAY, full=True)
        db.session.commit()
    assert stored() == first == recount()


class FactsMachine(RuleBasedStateMachine):
    """Random postings, corrections and spending, some dated months back, with incremental builds
    in between: the facts always equal the recount after a build."""

    households: list = []
    items: list = []

    def __init__(self):
        super().__init__()
        self.built = False

    @rule(h=st.integers(0, 2), points=st.integers(-8, 10).filter(bool), back=st.integers(0, 150),
          with_item=st.booleans())
    def earn(self, h, points, back, with_item):
        item = tenant_get(RuleItem, self.items[0]) if with_item else None
        _earn(self.households[h], points, TODAY - timedelta(days=back), item)
        db.session.commit()

    @precondition(lambda self: db.session.execute(select(LedgerTransaction.id).where(
        LedgerTransaction.source_kind == "activity")).first() is not None)
    @rule(data=st.data(), points=st.integers(-6, 6))
    def correct(self, data, points):
        ids = list(db.session.execute(select(LedgerTransaction.id).where(
            LedgerTransaction.source_kind == "activity").order_by(LedgerTransaction.id)).scalars())
        original = tenant_get(LedgerTransaction, data.draw(st.sampled_from(ids)))
        if ledger.effective_points(original) != points:
            ledger.correct(original, new_points=points, reason="更正", request_id=uuid.uuid4())
            db.session.commit()

    @rule(h=st.integers(0, 2), amount=st.integers(1, 5))
    def spend(self, h, amount):
        bal = ledger.balance(self.households[h], 2026)
        if bal is not None and bal.available >= amount:
            ledger.spend(household_id=self.households[h], points=amount, period=2026, source_kind="redemption",
                         source_id=uuid.uuid4(), on=TODAY)
            db.session.commit()

    @rule()
    def build(self):
        facts.build(TODAY)
        db.session.commit()
        self.built = True

    @invariant()
    def facts_equal_the_recount_after_a_build(self):
        if self.built:
            assert stored() == recount()
            self.built = False


def test_facts_equal_a_recount_after_random_postings_corrections_and_builds(township, pw):
    _tenant, households = township
    FactsMachine.households = households
    FactsMachine.items = [pw.items["A1"]]
    with clock.at(clock.local_moment(TODAY, time(12, 0))):
        from hypothesis.stateful import run_state_machine_as_test

        run_state_machine_as_test(FactsMachine, settings=settings(
            max_examples=8, stateful_step_count=12, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
