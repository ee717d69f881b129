"""The nightly ranking: ranks per village, grid node (every level) and township, ties, movement,
rerun, retention — on a small hand-built township (SQLite, and PostgreSQL with its env)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from jifen.platform import clock
from jifen.platform.db import db, new_id
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.models import Household
from jifen.tenants.points import ledger
from jifen.tenants.rankings import service
from jifen.tenants.rankings.models import RankingEntry, RankingSnapshot
from jifen.tenants.villages.models import GridNode
from jifen.workers.ranking_jobs import NIGHTLY, _nightly

DAY1 = date(2026, 3, 10)
DAY2 = date(2026, 3, 11)


@dataclass
class Township:
    """Ids of the hand-built township (alpha): name -> id for nodes and households."""

    tenant_id: object
    villages: dict  # "A" | "B" | "C" -> village id
    nodes: dict = field(default_factory=dict)
    hh: dict = field(default_factory=dict)


def _node(name, level, parent=None, village=None) -> GridNode:
    node = GridNode(id=new_id(), level=level, name=name, village_id=village, parent_id=parent.id if parent else None,
                    path="")
    node.path = f"{parent.path if parent else '/'}{node.id}/"
    db.session.add(node)
    db.session.flush()
    return node


def earn(household_id, points: int, on: date = DAY1):
    ledger.earn(household_id=household_id, points=points, occurred_on=on, source_kind="application",
                source_id=new_id(), memo="test")


def build(world) -> Township:
    """Villages A (官田村), B (礼坑村), C (梅园村) of alpha.

    A: large LA > medium MA > small SA > micro UA1 (张三伟 h0, hA2), UA2 (hA3, hA6); MA > SA2 > UA3
       (hA4, and hA5 moved out)
    B: LB > MB > SB > UB1 (hB1)
    spanning: LX (no village) > MXB (B) > SXB > UXB (hB2, hB3); LX > MXC (C) > SXC > UXC (hC1)
    earned in 2026: h0 10, hA2 10, hA3 30, hA4 5 (+1000 in 2025), hA5 100 (moved out), hA6 none,
    hB1 30, hB2 20, hB3 20, hC1 50.
    """
    a, b, c = world.a.villages
    t = Township(world.a.tenant_id, {"A": a, "B": b, "C": c})
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        n = t.nodes
        for key, node_id in zip(("LA", "MA", "SA", "UA1"), world.a.grid, strict=True):
            n[key] = db.session.get(GridNode, (tenant.id, node_id))
        n["UA2"] = _node("UA2", 4, n["SA"], a)
        n["SA2"] = _node("SA2", 3, n["MA"], a)
        n["UA3"] = _node("UA3", 4, n["SA2"], a)
        n["LB"] = _node("LB", 1, None, b)
        n["MB"] = _node("MB", 2, n["LB"], b)
        n["SB"] = _node("SB", 3, n["MB"], b)
        n["UB1"] = _node("UB1", 4, n["SB"], b)
        n["LX"] = _node("LX", 1)
        n["MXB"] = _node("MXB", 2, n["LX"], b)
        n["SXB"] = _node("SXB", 3, n["MXB"], b)
        n["UXB"] = _node("UXB", 4, n["SXB"], b)
        n["MXC"] = _node("MXC", 2, n["LX"], c)
        n["SXC"] = _node("SXC", 3, n["MXC"], c)
        n["UXC"] = _node("UXC", 4, n["SXC"], c)
        t.hh["h0"] = world.a.household
        for key, village, node, name, status in (
                ("hA2", a, "UA1", "王小明", "active"), ("hA3", a, "UA2", "李建国", "active"),
                ("hA4", a, "UA3", "赵六", "active"), ("hA5", a, "UA3", "钱七", "moved_out"),
                ("hA6", a, "UA2", "孙八", "active"), ("hB1", b, "UB1", "周九", "active"),
                ("hB2", b, "UXB", "吴十", "active"), ("hB3", b, "UXB", "郑十一", "active"),
                ("hC1", c, "UXC", "冯十二", "active")):
            h = Household(village_id=village, grid_node_id=n[node].id, door_plate=f"{key}号", head_name=name,
                          status=status)
            db.session.add(h)
            db.session.flush()
            t.hh[key] = h.id
        for key, points in (("h0", 10), ("hA2", 10), ("hA3", 30), ("hA4", 5), ("hA5", 100), ("hB1", 30),
                            ("hB2", 20), ("hB3", 20), ("hC1", 50)):
            earn(t.hh[key], points)
        earn(t.hh["hA4"], 1000, date(2025, 6, 1))
        db.session.commit()
    return t


@pytest.fixture
def town(ctx, world):
    t = build(world)
    with tenant_scope(db.session.get(Tenant, t.tenant_id)):
        yield t


def entries(day: date) -> dict:
    return {e.household_id: e for e in db.session.execute(
        select(RankingEntry).where(RankingEntry.taken_on == day)).scalars()}


def ranks(rows: dict, t: Township, scope: str) -> dict:
    """household key -> rank in `scope` (households not ranked there left out)."""
    names = {v: k for k, v in t.hh.items()}
    return {names[h]: getattr(e, f"rank_{scope}") for h, e in rows.items() if getattr(e, f"rank_{scope}") is not None}


def in_scope(rows: dict, t: Township, column: str, value) -> dict:
    names = {v: k for k, v in t.hh.items()}
    return {names[h]: e for h, e in rows.items() if getattr(e, column) == value}


def test_ranks_ties_and_scopes(town):
    t = town
    result = service.take_snapshot(DAY1)
    db.session.commit()
    assert result["households"] == 9 and result["previous_on"] is None
    rows = entries(DAY1)
    assert "hA5" not in ranks(rows, t, "township")  # moved out: not ranked
    # the township: 50, 30 30, 20 20, 10 10, 5, 0 (hA6 has no balance row; hA4's 1000 were in 2025)
    assert ranks(rows, t, "township") == {"hC1": 1, "hA3": 2, "hB1": 2, "hB2": 4, "hB3": 4, "h0": 6, "hA2": 6,
                                          "hA4": 8, "hA6": 9}
    assert {k: e.earned for k, e in in_scope(rows, t, "village_id", t.villages["A"]).items()} == {
        "h0": 10, "hA2": 10, "hA3": 30, "hA4": 5, "hA6": 0}

    def scope(column, key, rank_col):
        return {k: getattr(e, rank_col) for k, e in in_scope(rows, t, column, key).items()}

    v = t.villages
    assert scope("village_id", v["A"], "rank_village") == {"hA3": 1, "h0": 2, "hA2": 2, "hA4": 4, "hA6": 5}
    assert scope("village_id", v["B"], "rank_village") == {"hB1": 1, "hB2": 2, "hB3": 2}
    assert scope("village_id", v["C"], "rank_village") == {"hC1": 1}
    n = {k: node.id for k, node in t.nodes.items()}
    assert scope("grid1", n["LA"], "rank_grid1") == {"hA3": 1, "h0": 2, "hA2": 2, "hA4": 4, "hA6": 5}
    assert scope("grid1", n["LB"], "rank_grid1") == {"hB1": 1}
    # the large grid spanning villages B and C ranks across both
    assert scope("grid1", n["LX"], "rank_grid1") == {"hC1": 1, "hB2": 2, "hB3": 2}
    assert scope("grid2", n["MA"], "rank_grid2") == {"hA3": 1, "h0": 2, "hA2": 2, "hA4": 4, "hA6": 5}
    assert scope("grid2", n["MXB"], "rank_grid2") == {"hB2": 1, "hB3": 1}
    assert scope("grid3", n["SA"], "rank_grid3") == {"hA3": 1, "h0": 2, "hA2": 2, "hA6": 4}
    assert scope("grid3", n["SA2"], "rank_grid3") == {"hA4": 1}
    assert scope("grid4", n["UA1"], "rank_grid4") == {"h0": 1, "hA2": 1}
    assert scope("grid4", n["UA2"], "rank_grid4") == {"hA3": 1, "hA6": 2}
    # each household's branch is recorded level by level
    h0 = rows[t.hh["h0"]]
    assert (h0.grid1, h0.grid2, h0.grid3, h0.grid4) == (n["LA"], n["MA"], n["SA"], n["UA1"])
    # no previous snapshot: no movement, nobody "new"
    first = service.household_ranks(Actor.system(), t.hh["hA3"])
    assert [(r.previous_rank, r.movement, r.is_new) for r in first.ranks] == [(None, None, False)] * 6
    snap = db.session.execute(select(RankingSnapshot)).scalar_one()
    assert (snap.taken_on, snap.period, snap.households, snap.previous_on) == (DAY1, 2026, 9, None)


def test_pages_split_ties_in_name_order_and_a_household_knows_its_page(town):
    """Every page size gives the same order, page after page (ties by the head's pinyin), though a
    page reads only the ranks it shows; a household's page is where its row is."""
    t = town
    service.take_snapshot(DAY1)
    db.session.commit()
    names = {v: k for k, v in t.hh.items()}
    village_a = ["hA3", "hA2", "h0", "hA4", "hA6"]  # 30; 10 王小明, 10 张三伟 (wang < zhang); 5; 0
    spanning = ["hC1", "hB2", "hB3"]  # LX: 50; 20 吴十, 20 郑十一 (wu < zheng)
    for fn, arg, expected in ((service.village_ranking, t.villages["A"], village_a),
                              (service.grid_ranking, t.nodes["LX"].id, spanning)):
        for per_page in range(1, 7):
            shown = []
            for page in range(1, len(expected) // per_page + 3):  # past the last page too: empty
                result = fn(Actor.system(), arg, per_page=per_page, page=page)
                assert result.page.total == len(expected)
                shown += [names[r.household_id] for r in result.page.items]
            assert shown == expected, (fn.__name__, per_page)
    target, snap = service.village_target(Actor.system(), t.villages["A"]), service.pick_snapshot()
    assert [service._page_of(target, snap, t.hh[k], 2) for k in village_a] == [1, 1, 2, 2, 3]


def test_movement_since_the_last_snapshot(town):
    t = town
    service.take_snapshot(DAY1)
    earn(t.hh["hA4"], 30, DAY2)  # 5 -> 35: from 4th to 1st in village A
    new = Household(village_id=t.villages["A"], grid_node_id=t.nodes["UA3"].id, door_plate="新1号", head_name="新户")
    db.session.add(new)
    db.session.flush()
    t.hh["new"] = new.id
    db.session.commit()
    result = service.take_snapshot(DAY2)
    db.session.commit()
    assert result["previous_on"] == DAY1.isoformat() and result["households"] == 10
    got = {k: moves(t, k)["village"] for k in ("hA4", "hA3", "h0", "hA2", "hA6", "new")}
    assert got == {"hA4": (1, 4, 3, False), "hA3": (2, 1, -1, False), "h0": (3, 2, -1, False),
                   "hA2": (3, 2, -1, False), "hA6": (5, 5, 0, False), "new": (5, None, None, True)}
    assert moves(t, "hA4")["grid3"] == (1, 1, 0, False) and moves(t, "hA4")["township"] == (2, 8, 6, False)
    # the village page shows the same arrows, read with the rows on show
    page = service.village_ranking(Actor.system(), t.villages["A"])
    names = {v: k for k, v in t.hh.items()}
    assert [(names[r.household_id], r.rank, r.movement, r.is_new) for r in page.page.items] == [
        ("hA4", 1, 3, False), ("hA3", 2, -1, False), ("hA2", 3, -1, False), ("h0", 3, -1, False),
        ("hA6", 5, 0, False), ("new", 5, None, True)]
    snap = db.session.execute(select(RankingSnapshot).where(RankingSnapshot.taken_on == DAY2)).scalar_one()
    assert snap.previous_on == DAY1


def test_a_household_that_moved_grid_is_new_in_its_new_scopes_only(town):
    t = town
    service.take_snapshot(DAY1)
    hh = db.session.get(Household, (t.tenant_id, t.hh["hA6"]))
    hh.grid_node_id = t.nodes["UA3"].id  # from UA2 (under SA) to UA3 (under SA2), same MA, same village
    db.session.commit()
    service.take_snapshot(DAY2)
    m = moves(t, "hA6")
    assert m["village"][1] == 5 and m["grid2"][1] == 5 and m["township"][1] == 9  # same village, large, medium
    assert m["grid3"][1:] == (None, None, True) and m["grid4"][1:] == (None, None, True)  # new there


def test_a_household_that_moved_village_is_new_there_but_not_in_the_township(town):
    t = town
    service.take_snapshot(DAY1)
    hh = db.session.get(Household, (t.tenant_id, t.hh["hB1"]))
    hh.village_id, hh.grid_node_id = t.villages["C"], t.nodes["UXC"].id  # B (LB) -> C (LX)
    db.session.commit()
    service.take_snapshot(DAY2)
    m = moves(t, "hB1")
    assert m["village"] == (2, None, None, True) and m["grid1"] == (2, None, None, True)  # after hC1 (50)
    assert m["township"] == (2, 2, 0, False)  # found in its old village's rows
    page = service.township_ranking(Actor.system())
    row = next(r for r in page.page.items if r.household_id == t.hh["hB1"])
    assert (row.previous_rank, row.movement, row.is_new) == (2, 0, False)


def moves(t: Township, key: str) -> dict:
    """scope -> (rank, previous rank, movement, new) of a household in the latest snapshot."""
    found = service.household_ranks(Actor.system(), t.hh[key])
    return {r.scope: (r.rank, r.previous_rank, r.movement, r.is_new) for r in found.ranks}


def _job(tenant_id, day: date, force=True):
    from jifen.platform.jobs.runner import run_daily

    return run_daily(NIGHTLY, str(tenant_id), day.isoformat(), _nightly, force=force)


def test_job_run_twice_gives_the_same_snapshot(town, app):
    t = town
    service.take_snapshot(DAY1)
    earn(t.hh["hB2"], 15, DAY2)
    db.session.commit()
    first = _job(t.tenant_id, DAY2)
    snap1 = [(e.household_id, e.village_id, e.grid1, e.grid2, e.grid3, e.grid4, e.earned,
              *[getattr(e, f"rank_{s}") for s in service.SCOPES]) for e in entries(DAY2).values()]
    again = _job(t.tenant_id, DAY2, force=False)  # a redelivered task: skipped
    assert again["skipped"] == "already done"
    second = _job(t.tenant_id, DAY2)  # run by hand with --force: replaced, not duplicated
    snap2 = [(e.household_id, e.village_id, e.grid1, e.grid2, e.grid3, e.grid4, e.earned,
              *[getattr(e, f"rank_{s}") for s in service.SCOPES]) for e in entries(DAY2).values()]
    assert first == second and sorted(snap1, key=str) == sorted(snap2, key=str)
    assert db.session.execute(select(db.func.count()).select_from(RankingEntry)).scalar_one() == 18
    assert len(db.session.execute(select(RankingSnapshot)).scalars().all()) == 2
    assert moves(t, "hB2")["village"] == (1, 2, 1, False)


def test_retention_keeps_recent_days_month_ends_and_period_ends(ctx, world):
    with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        days = [date(2025, 12, 30), date(2025, 12, 31)] + [date(2026, 1, 1) + timedelta(days=i) for i in range(70)]
        for day in days:
            service.take_snapshot(day)
        db.session.commit()
        kept = sorted(db.session.execute(select(RankingSnapshot.taken_on)).scalars())
        last = days[-1]  # 2026-03-11
        assert kept == [date(2025, 12, 31), date(2026, 1, 31), date(2026, 2, 28)] + \
            [last - timedelta(days=i) for i in range(6, -1, -1)]
        # entries went with their snapshots
        left = set(db.session.execute(select(RankingEntry.taken_on).distinct()).scalars())
        assert left == set(kept)
        # each kept snapshot measures movement against the one before it still kept, of its period
        chain = dict(db.session.execute(select(RankingSnapshot.taken_on, RankingSnapshot.previous_on)).all())
        assert chain[date(2025, 12, 31)] is None and chain[date(2026, 1, 31)] is None
        assert chain[date(2026, 2, 28)] == date(2026, 1, 31) and chain[last - timedelta(days=6)] == date(2026, 2, 28)
        assert chain[last] == last - timedelta(days=1)
        # the period selector finds 2025's last snapshot after the period ended
        assert service.pick_snapshot(period=2025).taken_on == date(2025, 12, 31)
        assert service.pick_snapshot(day=date(2026, 2, 15)).taken_on == date(2026, 1, 31)


def test_retention_policy_alone():
    keep = service.Retention(daily_days=2).keep
    days = [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3)]
    assert keep(days, {d: 2026 for d in days}, date(2026, 2, 3)) == {date(2026, 1, 31), date(2026, 2, 2),
                                                                      date(2026, 2, 3)}


def test_an_empty_township_ranks_nobody(ctx, world):
    with tenant_scope(db.session.get(Tenant, world.b.tenant_id)):
        db.session.execute(db.update(Household).values(status="dissolved"))
        assert service.take_snapshot(DAY1)["households"] == 0
        db.session.commit()
    with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):  # the other township is untouched
        assert db.session.execute(select(RankingSnapshot)).scalars().all() == []


def test_demo_loader_takes_the_years_month_ends_and_tonight_once(town):
    from jifen.tenants.rankings import demo

    today = clock.today()
    line = demo.load_demo(None, {})
    earlier = demo.earlier_day(today)
    taken = sorted(db.session.execute(select(RankingSnapshot.taken_on)).scalars())
    expected = set(demo.month_ends(today)) | {d for d in (earlier, today) if d is not None}
    assert taken == sorted(expected) and str(today) in line
    assert demo.load_demo(None, {}) == line  # again: nothing added, nothing changed
    assert sorted(db.session.execute(select(RankingSnapshot.taken_on)).scalars()) == taken


def test_earlier_demo_day():
    from jifen.tenants.rankings.demo import earlier_day

    assert earlier_day(date(2026, 11, 28)) == date(2026, 10, 31)
    assert earlier_day(date(2026, 1, 20)) == date(2026, 1, 14)
    assert earlier_day(date(2026, 1, 3)) is None
