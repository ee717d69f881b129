"""Dividends: pools, settlement runs computed in chunks (inline here, on SQLite or PostgreSQL),
eligibility and vetoes, the state machine, scope, the API, the pages, the public notice and the
payment sheet. The rule itself is tested in test_dividends_allocation.py; a killed worker in
test_dividends_services.py."""
from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select, update

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db, new_id
from jifen.platform.errors import Conflict, Forbidden, InputConflict, Invalid, NotFound
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.dividends import allocation, pools, settlement
from jifen.tenants.dividends.models import DividendChunk, DividendPayout, DividendRun
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.points import ledger
from jifen.tenants.rulebook.models import RuleItem
from jifen.tenants.villages.models import GridNode
from tests.conftest import api_token, bearer, csrf_token, page_login

PAGES = "/t/alpha/dividends"
API = "/api/v1/t/alpha/dividends"
# points of the extra households in 官田村 (door plates 3号…): one with none, one moved out
EXTRA = [("王五", 35), ("赵六", 0), ("孙七", 12), ("周八", 12), ("吴九", 61), ("郑十", 7)]


@dataclass
class DividendWorld:
    period: int
    village: uuid.UUID  # 官田村
    village2: uuid.UUID  # 礼坑村
    households: dict = field(default_factory=dict)  # head name -> id, 官田村 (active)
    moved_out: uuid.UUID | None = None
    vetoed: uuid.UUID | None = None  # 郑十: a D1 deduction this year
    likeng: list = field(default_factory=list)  # households of 礼坑村


def simulated(actor, pool_id) -> DividendRun:
    """`settlement.simulate` in its own unit of work, as a request runs it: committed, so the job
    outbox sends the run's job (inline here), and the run read back as the job left it."""
    run = settlement.simulate(actor, pool_id)
    db.session.commit()
    db.session.refresh(run)
    return run


def who(username):
    return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())


def _household(village, node, plate, name, id_number=None, status="active"):
    h = Household(village_id=village, grid_node_id=node, door_plate=plate, head_name=name, status=status)
    db.session.add(h)
    db.session.flush()
    db.session.add(Resident(household_id=h.id, name=name, name_pinyin="x", name_initials="x", relation="head",
                            id_number=id_number))
    return h.id


def _earn(household_id, points, day, item=None):
    ledger.earn(household_id=household_id, points=points, occurred_on=day, source_kind="application",
                source_id=new_id(), item=item)


def setup_dividends(world, pw) -> DividendWorld:
    """Inside alpha's scope: points of this year for pw's two households and six more in 官田村
    (real ledger postings), one moved-out household with points, a D1 deduction for 郑十, and three
    households in 礼坑村."""
    today = clock.today()
    period, day = today.year, date(today.year, 1, 15)
    dw = DividendWorld(period, world.a.villages[0], world.a.villages[1])
    dw.households = {"张三伟": pw.household, "李四": pw.household2}
    _earn(pw.household, 20, day)
    _earn(pw.household2, 9, day)
    for n, (name, points) in enumerate(EXTRA, start=3):
        hid = _household(dw.village, world.a.grid[-1], f"{n}号", name, id_number=f"44162219900101{n:04d}")
        dw.households[name] = hid
        if points:
            _earn(hid, points, day)
    dw.moved_out = _household(dw.village, world.a.grid[-1], "99号", "钱多多", status="moved_out")
    _earn(dw.moved_out, 50, day)
    d1 = db.session.execute(select(RuleItem).where(RuleItem.code == "D1")).scalar_one()
    dw.vetoed = dw.households["郑十"]
    _earn(dw.vetoed, -5, day, item=d1)  # 郑十: 7 - 5 = 2 earned, and a D1 deduction
    node = GridNode(level=1, name="礼坑大网格", path="", village_id=dw.village2)
    db.session.add(node)
    db.session.flush()
    node.path = f"/{node.id}/"
    for n, points in enumerate((5, 15, 40), start=1):
        hid = _household(dw.village2, node.id, f"礼{n}号", f"礼坑户{n}")
        dw.likeng.append(hid)
        _earn(hid, points, day)
    _earn(pw.household, 100, date(today.year - 1, 6, 1))  # last year's points do not count
    db.session.commit()
    return dw


@pytest.fixture
def dw(app, world, pw):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            return setup_dividends(world, pw)


@pytest.fixture
def scope(app, world):
    with app.app_context():
        with tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            yield
            db.session.rollback()


def pool_data(dw, **over) -> dict:
    data = {"title": "官田村积分分红", "village_id": str(dw.village), "amount": "20000.00",
            "source": "collective_income", "period": dw.period, "base_percent": 30, "min_points": 0,
            "veto_codes": []}
    return data | over


def payouts_of(run_id) -> dict:
    return dict(db.session.execute(select(DividendPayout.household_id, DividendPayout.amount_fen)
                                   .where(DividendPayout.run_id == run_id)).all())


def expected(dw, amount_fen, base, eligible: dict) -> dict:
    return allocation.allocate(amount_fen, base, list(eligible.items()))


def guantian_earned(dw) -> dict:
    """Earned points this year of 官田村's active households (from the ledger's cached balances)."""
    return {hid: ledger.balance(hid, dw.period).earned if ledger.balance(hid, dw.period) else 0
            for hid in dw.households.values()}


# --- the settlement ----------------------------------------------------------------------------------

def test_simulation_splits_the_pool_exactly_as_the_rule_says(app, world, dw, scope):
    app.config["DIVIDEND_CHUNK_SIZE"] = 3  # 8 households: chunks of 3, 3, 2
    admin = who("admin")
    pool = pools.create_pool(admin, pool_data(dw, amount="20000.01"))
    assert pool.amount_fen == 2_000_001
    run = simulated(admin, pool.id)
    assert run.state == "simulated" and run.chunks_total == 3
    earned = guantian_earned(dw)
    assert earned[dw.vetoed] == 2 and dw.moved_out not in earned
    paid = payouts_of(run.id)
    assert paid == expected(dw, 2_000_001, 30, earned)
    assert sum(paid.values()) == 2_000_001 == run.total_fen
    assert set(paid) == set(dw.households.values())  # not the moved-out household, not 礼坑村
    assert run.min_fen == min(paid.values()) and run.max_fen == max(paid.values())
    f = settlement.formula(run)
    for hid, fen in paid.items():
        assert abs(fen - f.exact_share(earned[hid])) < 1
    assert db.session.execute(select(func.count()).select_from(DividendChunk)
                              .where(DividendChunk.run_id == run.id, DividendChunk.state == "done")).scalar() == 3
    bonus = db.session.execute(select(func.count()).where(DividendPayout.run_id == run.id,
                                                          DividendPayout.bonus.is_(True))).scalar()
    assert bonus == run.leftover_fen
    dist = settlement.distribution(run)
    assert sum(n for _a, _b, n in dist) == 8 and dist[0][0] == run.min_fen and dist[-1][1] == run.max_fen


def test_eligibility_minimum_points_veto_and_a_corrected_deduction(app, world, dw, scope):
    admin = who("admin")
    pool = pools.create_pool(admin, pool_data(dw, min_points=10, veto_codes=["D1"]))
    run = simulated(admin, pool.id)
    earned = {h: e for h, e in guantian_earned(dw).items() if e >= 10}
    assert dw.vetoed not in earned
    assert payouts_of(run.id) == expected(dw, 2_000_000, 30, earned)
    # min 0 with the veto: 郑十 (2 points, a D1 deduction) stays out, 赵六 (0 points) is in
    pools.update_pool(admin, pool.id, {"min_points": 0})
    run = simulated(admin, pool.id)
    assert dw.vetoed not in payouts_of(run.id) and dw.households["赵六"] in payouts_of(run.id)
    # the deduction is corrected to nothing: 郑十 is eligible again
    deduction = db.session.execute(select(ledger.LedgerTransaction).where(
        ledger.LedgerTransaction.household_id == dw.vetoed, ledger.LedgerTransaction.item_code == "D1")).scalar_one()
    ledger.correct(deduction, new_points=0, reason="记录有误", request_id=new_id())
    db.session.commit()
    run = simulated(admin, pool.id)
    assert dw.vetoed in payouts_of(run.id)
    assert payouts_of(run.id) == expected(dw, 2_000_000, 30, guantian_earned(dw))


def test_township_pool_nobody_with_points_one_household_and_a_tiny_pool(app, world, dw, scope):
    admin = who("admin")
    township = pools.create_pool(admin, pool_data(dw, village_id="", title="全镇分红", amount="1000", base_percent=0))
    run = simulated(admin, township.id)
    paid = payouts_of(run.id)
    assert set(paid) == set(dw.households.values()) | set(dw.likeng)  # every village of the township
    assert sum(paid.values()) == 100_000
    assert settlement.payout_villages(run)[dw.village2][0] == 3
    # a minimum nobody reaches except one household: it gets everything
    one = pools.create_pool(admin, pool_data(dw, min_points=61, amount="0.05"))
    run = simulated(admin, one.id)
    assert payouts_of(run.id) == {dw.households["吴九"]: 5}
    # a pool smaller than the number of households: 3 fen among 8, by largest remainder
    tiny = pools.create_pool(admin, pool_data(dw, amount="0.03"))
    run = simulated(admin, tiny.id)
    paid = payouts_of(run.id)
    assert sorted(paid.values()) == [0] * 5 + [1] * 3 and run.leftover_fen == 3
    assert paid == expected(dw, 3, 30, guantian_earned(dw))
    # nobody earned points last-but-one year... the 2 000-year pool: no balances at all -> equal split
    empty_year = pools.create_pool(admin, pool_data(dw, period=dw.period - 2, amount="80.01", base_percent=0))
    run = simulated(admin, empty_year.id)
    assert run.equal_weights and sorted(payouts_of(run.id).values()) == [1000] * 7 + [1001]
    # one group holding the cut-off across chunks of 3: 5 of the 8 get the extra fen, the lowest ids,
    # whichever chunk writes them
    app.config["DIVIDEND_CHUNK_SIZE"] = 3
    pools.update_pool(admin, empty_year.id, {"amount": "80.05"})
    run = simulated(admin, empty_year.id)
    paid = payouts_of(run.id)
    assert paid == expected(dw, 8005, 0, dict.fromkeys(dw.households.values(), 0))
    assert [paid[h] for h in sorted(paid, key=lambda h: h.bytes)] == [1001] * 5 + [1000] * 3
    assert (run.leftover_fen, run.bonus_earned) == (5, 0) and run.chunks_total == 3
    # nobody reaches the minimum: a clear error naming the field, and no run
    nobody = pools.create_pool(admin, pool_data(dw, min_points=1000))
    with pytest.raises(InputConflict) as e:
        simulated(admin, nobody.id)
    assert list(e.value.errors) == ["min_points"]
    db.session.rollback()
    assert settlement.runs_of(nobody.id) == []


def test_rerun_gives_identical_amounts_replaces_the_preview_and_fails_if_points_change(app, world, dw, scope):
    admin = who("admin")
    app.config["DIVIDEND_CHUNK_SIZE"] = 2
    pool = pools.create_pool(admin, pool_data(dw, amount="12345.67", base_percent=45))
    first = simulated(admin, pool.id)
    first_paid = payouts_of(first.id)
    app.config["DIVIDEND_CHUNK_SIZE"] = 5  # other chunks, same amounts
    second = simulated(admin, pool.id)
    assert payouts_of(second.id) == first_paid
    db.session.refresh(first)
    assert first.state == "superseded" and payouts_of(first.id) == {}  # the old preview is gone
    assert settlement.current_run(pool.id).id == second.id and second.number == 2
    # points change between the plan and a chunk: the run fails rather than pay wrong amounts
    _crash(second.id, keep_chunks=0)
    _earn(dw.households["赵六"], 3, date(dw.period, 2, 1))
    db.session.commit()
    settlement.work(second.id)
    db.session.refresh(second)
    assert second.state == "failed" and second.error
    third = simulated(admin, pool.id)
    assert third.state == "simulated"
    assert payouts_of(third.id) == expected(dw, 1_234_567, 45, guantian_earned(dw))


def _crash(run_id, keep_chunks: int) -> set:
    """Put a finished run back where a worker killed after `keep_chunks` chunks leaves it: later
    chunks pending (claimed, their transaction lost, longer ago than a chunk's lease: the worker is
    gone), the done chunks' final amounts written, the last check not made. Returns the ids of the
    payout rows of the chunks that stay done."""
    db.session.execute(delete(DividendPayout).where(DividendPayout.run_id == run_id,
                                                    DividendPayout.chunk_seq >= keep_chunks))
    db.session.execute(update(DividendChunk).where(DividendChunk.run_id == run_id, DividendChunk.seq >= keep_chunks)
                       .values(state="pending", floor_fen=None, done_at=None,
                               claimed_at=clock.now() - settlement.CHUNK_LEASE - timedelta(minutes=1)))
    db.session.execute(update(DividendRun).where(DividendRun.id == run_id).values(
        state="computing", total_fen=None, min_fen=None, max_fen=None, leftover_fen=None, computed_at=None))
    db.session.commit()
    return set(db.session.execute(select(DividendPayout.id).where(DividendPayout.run_id == run_id)).scalars())


def test_a_run_left_half_done_is_resumed_to_the_same_amounts(app, client, world, dw):
    def start():
        app.config["DIVIDEND_CHUNK_SIZE"] = 2
        pool = pools.create_pool(who("admin"), pool_data(dw, amount="999.99"))
        run = simulated(who("admin"), pool.id)
        return pool.id, run.id, payouts_of(run.id), _crash(run.id, keep_chunks=2)

    from tests.points_world import in_alpha
    pool_id, run_id, clean, kept = in_alpha(app, world, start)
    page_login(client, "alpha", "admin")
    resp = client.get(f"{PAGES}/{pool_id}")
    assert resp.status_code == 200 and resp.headers.get("Refresh")  # the progress page refreshes itself
    html = resp.get_data(as_text=True)
    assert 'id="progress"' in html and 'aria-valuenow="2"' in html and 'aria-valuemax="4"' in html
    resp = client.post(f"{PAGES}/runs/{run_id}/resume", data={"csrf_token": csrf_token(client, f"{PAGES}/{pool_id}")})
    assert resp.status_code == 303

    def check():
        run = db.session.get(DividendRun, (world.a.tenant_id, run_id))
        assert run.state == "simulated"
        assert payouts_of(run_id) == clean
        assert kept <= set(db.session.execute(select(DividendPayout.id)
                                              .where(DividendPayout.run_id == run_id)).scalars())  # not redone
        assert settlement.work(run_id) == {"run": str(run_id), "chunks": 0, "finished": False,
                                           "state": "simulated"}  # again: nothing to do
    in_alpha(app, world, check)
    assert "Refresh" not in client.get(f"{PAGES}/{pool_id}").headers


def test_the_daily_sweeper_finishes_a_stalled_run_and_twice_changes_nothing(app, world, dw):
    from flask import current_app

    from jifen.workers.dividend_jobs import RESUME
    from tests.points_world import in_alpha

    def start():
        pool = pools.create_pool(who("admin"), pool_data(dw))
        run = simulated(who("admin"), pool.id)
        paid = payouts_of(run.id)
        _crash(run.id, keep_chunks=0)
        return run.id, paid

    run_id, clean = in_alpha(app, world, start)
    with app.app_context():
        task = current_app.extensions["celery"].tasks[RESUME]
        day = date.today().isoformat()
        first = task.apply(kwargs={"tenant_id": str(world.a.tenant_id), "local_date": day}).get()
        again = task.apply(kwargs={"tenant_id": str(world.a.tenant_id), "local_date": day, "force": True}).get()
    assert first == {"computing": 1, "finished": 1, "rows": 1} and again == {"computing": 0, "finished": 0, "rows": 0}
    assert in_alpha(app, world, lambda: payouts_of(run_id)) == clean


# --- the state machine ------------------------------------------------------------------------------

def test_approve_publish_pay_once_and_frozen_after_approval(app, world, dw, scope):
    admin = who("admin")
    pool = pools.create_pool(admin, pool_data(dw))
    run = simulated(admin, pool.id)
    with pytest.raises(Conflict):
        settlement.publish(admin, run.id)  # not approved yet
    with pytest.raises(Conflict):
        settlement.mark_paid(admin, run.id, {"payment_reference": "X1"})
    pools.update_pool(admin, pool.id, {"amount": "20000.02"})
    db.session.commit()  # the test owns its unit of work: services never commit
    with pytest.raises(Conflict) as e:
        settlement.approve(admin, run.id)  # the pool changed after the simulation
    assert "state" in e.value.errors
    db.session.rollback()
    pools.update_pool(admin, pool.id, {"amount": "20000.00"})  # back as simulated: approvable again
    frozen = payouts_of(run.id)
    settlement.approve(admin, run.id)
    db.session.commit()
    assert run.state == "approved" and run.approved_by_name
    second = DividendRun(pool_id=pool.id, number=9, state="approved", period=dw.period, amount_fen=1,
                         base_percent=0, min_points=0, veto_codes=[])
    db.session.add(second)
    with pytest.raises(Exception, match="(?i)unique"):
        db.session.flush()  # a second approved run of the pool: the database refuses it
    db.session.rollback()
    for attempt in (lambda: simulated(admin, pool.id), lambda: pools.update_pool(admin, pool.id, {"amount": "1"}),
                    lambda: pools.delete_pool(admin, pool.id), lambda: settlement.approve(admin, run.id)):
        with pytest.raises(Conflict):
            attempt()
        db.session.rollback()
    settlement.publish(admin, run.id)
    db.session.commit()
    assert run.state == "published" and len(run.notice_token) >= 20
    assert (run.notice_closes_on - run.notice_opens_on).days == 4  # the township's notice_days (5)
    with pytest.raises(Invalid) as e:
        settlement.mark_paid(admin, run.id, {"payment_reference": "  "})
    assert list(e.value.errors) == ["payment_reference"]
    db.session.rollback()
    settlement.mark_paid(admin, run.id, {"payment_reference": "农商银行批次 20261201-01"})
    db.session.commit()
    with pytest.raises(Conflict):
        settlement.mark_paid(admin, run.id, {"payment_reference": "again"})
    db.session.rollback()
    db.session.refresh(run)
    assert run.state == "paid" and run.payment_reference == "农商银行批次 20261201-01"
    assert payouts_of(run.id) == frozen
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.object_id == str(run.id))
                                 .order_by(AuditEntry.seq)).scalars().all()
    assert actions == ["dividend_run.simulate", "dividend_run.approve", "dividend_run.publish", "dividend_run.pay"]


# --- who may do what ------------------------------------------------------------------------------------

def test_village_admin_manages_only_their_village_and_never_approves(app, world, dw, scope):
    vadmin, admin, panel = who("vadmin"), who("admin"), who("panel")  # vadmin: 官田村; panel: 礼坑村
    own = pools.create_pool(vadmin, pool_data(dw))
    db.session.commit()  # the test owns its unit of work: services never commit
    for village in ("", str(dw.village2)):
        with pytest.raises(InputConflict) as e:
            pools.create_pool(vadmin, pool_data(dw, village_id=village))
        assert list(e.value.errors) == ["village_id"]
        db.session.rollback()
    township = pools.create_pool(admin, pool_data(dw, village_id=""))
    likeng = pools.create_pool(admin, pool_data(dw, village_id=str(dw.village2)))
    db.session.commit()
    for pool in (township, likeng):
        for attempt in (lambda p=pool: pools.get_pool(vadmin, p.id), lambda p=pool: simulated(vadmin, p.id),
                        lambda p=pool: pools.update_pool(vadmin, p.id, {"amount": "1"}),
                        lambda p=pool: pools.delete_pool(vadmin, p.id)):
            with pytest.raises(NotFound):
                attempt()
            db.session.rollback()
    assert [p.id for p in pools.list_pools(vadmin)] == [own.id]
    run = simulated(vadmin, own.id)
    with pytest.raises(Forbidden):
        settlement.approve(vadmin, run.id)
    db.session.rollback()
    # the panel member of 礼坑村 sees 礼坑村's pool, may not change it
    assert pools.get_pool(panel, likeng.id).id == likeng.id
    with pytest.raises(NotFound):
        pools.get_pool(panel, own.id)
    with pytest.raises(Forbidden):
        pools.update_pool(panel, likeng.id, {"amount": "1"})
    db.session.rollback()
    for role in ("villager", "keeper", "gridder", "cadre"):
        with pytest.raises(Forbidden):
            pools.list_pools(who(role))


def test_pool_fields_are_checked_and_named(app, world, dw, scope):
    admin = who("admin")
    cases = {"amount": ["", "abc", "0", "-5", "1.234", "100000000.01", None],
             "base_percent": ["", "101", "-1", "3.5", "x"], "period": ["1999", "x", ""],
             "source": ["salary", ""], "min_points": ["-1", "x"], "title": ["", "x" * 201], "village_id": ["not-an-id"]}
    conflicts = {"period": [str(dw.period + 1)], "veto_codes": [["A1"], ["NOPE"]],  # a year not begun, no such item
                 "village_id": [str(uuid.uuid4())]}  # no such village
    for refusal, named in ((Invalid, cases), (InputConflict, conflicts)):
        for name, values in named.items():
            for value in values:
                with pytest.raises(refusal) as e:
                    pools.create_pool(admin, pool_data(dw) | {name: value})
                assert list(e.value.errors) == [name], (name, value, e.value.errors)
                db.session.rollback()
    pool = pools.create_pool(admin, pool_data(dw, amount="¥20,000.5", veto_codes="D1，D1"))
    assert pool.amount_fen == 2_000_050 and pool.veto_codes == ["D1"]
    assert pools.amount_to_fen(Decimal("0.01")) == 1 and pools.yuan(2_000_050) == "20,000.50"


# --- API --------------------------------------------------------------------------------------------------

def _random_bodies_never_500(client, headers, routes):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
                        st.sampled_from(["20000.00", "¥1,000", "1e9", "D1", "", str(uuid.uuid4())]))
    keys = st.sampled_from(["title", "village_id", "amount", "source", "period", "min_points", "veto_codes",
                            "base_percent", "note", "payment_reference", "amount_fen"])
    bodies = st.dictionaries(keys, scalars | st.lists(scalars, max_size=3), max_size=8)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=bodies)
    def check(route, body):
        method, url = route
        resp = getattr(client, method)(url, json=body, headers=headers)
        assert resp.status_code < 500, (url, body, resp.get_data(as_text=True)[:300])

    check()


def test_api_flow_pay_twice_is_409_and_the_sheet_sums_to_the_pool(app, client, world, dw):
    admin = bearer(api_token(client, "alpha", "admin"))
    nobody = client.post(f"{API}/pools/", json=pool_data(dw, min_points=999), headers=admin).get_json()
    resp = client.post(f"{API}/pools/{nobody['id']}/simulate", headers=admin)
    assert resp.status_code == 409 and list(resp.get_json()["errors"]["json"]) == ["min_points"]
    resp = client.post(f"{API}/pools/", json={"title": "x", "amount": "lots", "period": 1990, "source": "salary",
                                              "base_percent": 130, "village_id": str(dw.village)}, headers=admin)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]["json"]) == {"amount", "period", "source", "base_percent"}
    resp = client.post(f"{API}/pools/", json={"title": "x"}, headers=admin)
    assert resp.status_code == 422 and {"amount", "period", "base_percent"} <= set(resp.get_json()["errors"]["json"])
    _random_bodies_never_500(client, admin, [("post", f"{API}/pools/"), ("patch", f"{API}/pools/{nobody['id']}"),
                                             ("post", f"{API}/runs/{uuid.uuid4()}/pay")])
    body = pool_data(dw, amount="20000.00", veto_codes=["D1"], min_points=1)
    resp = client.post(f"{API}/pools/", json=body, headers=admin | {"Idempotency-Key": "pool-1"})
    assert resp.status_code == 201, resp.get_json()
    pool = resp.get_json()
    assert pool["amount_fen"] == 2_000_000 and pool["run"] is None
    again = client.post(f"{API}/pools/", json=body, headers=admin | {"Idempotency-Key": "pool-1"})
    assert again.get_json()["id"] == pool["id"]  # a resent request makes one pool
    resp = client.post(f"{API}/pools/{pool['id']}/simulate", headers=admin)
    assert resp.status_code == 202
    run = resp.get_json()  # accepted: the answer is the run as committed; its job runs after the commit
    assert run["state"] == "computing" and run["chunks_done"] == 0
    detail = client.get(f"{API}/runs/{run['id']}", headers=admin).get_json()  # inline here: done by now
    run = detail
    assert run["state"] == "simulated" and run["chunks_done"] == run["chunks_total"] and run["total_fen"] == 2_000_000
    assert sum(b["households"] for b in detail["distribution"]) == run["households"] == 6
    page = client.get(f"{API}/runs/{run['id']}/payouts?per_page=4&page=2", headers=admin).get_json()
    assert page["total"] == 6 and page["pages"] == 2 and len(page["items"]) == 2
    vadmin = bearer(api_token(client, "alpha", "vadmin"))
    assert client.post(f"{API}/runs/{run['id']}/approve", headers=vadmin).status_code == 403
    assert client.post(f"{API}/runs/{run['id']}/pay", json={"payment_reference": "x"}, headers=admin).status_code == 409
    assert client.post(f"{API}/runs/{run['id']}/approve", headers=admin).status_code == 200
    assert client.patch(f"{API}/pools/{pool['id']}", json={"amount": "1"}, headers=admin).status_code == 409
    assert client.post(f"{API}/runs/{run['id']}/publish", headers=admin).get_json()["state"] == "published"
    assert client.get(f"{API}/runs/{run['id']}/sheet", headers=vadmin).status_code == 403
    assert client.post(f"{API}/runs/{run['id']}/pay", json={"payment_reference": "x"}, headers=vadmin).status_code == 403
    sheet = client.get(f"{API}/runs/{run['id']}/sheet", headers=admin)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("application/vnd.openxml")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    body_rows = rows[2:-1]
    assert len(body_rows) == 6 and [r[0] for r in body_rows] == list(range(1, 7))
    assert sum(round(Decimal(str(r[5])) * 100) for r in body_rows) == 2_000_000
    assert round(Decimal(str(rows[-1][5])) * 100) == 2_000_000
    assert "441622199001010005" in {r[2] for r in body_rows}  # the admin may see ID numbers: whole
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):  # ... and it is recorded
        read = db.session.execute(select(AuditEntry).where(AuditEntry.action == "identity.read")).scalar_one()
        whole = sum(1 for r in body_rows if r[2] and "*" not in r[2])  # the rows whose head has an ID number
        assert (read.object_id, read.after["purpose"], read.after["id_numbers"]) == (
            run["id"], "dividend_payment_sheet", whole)
    paid = client.post(f"{API}/runs/{run['id']}/pay", json={"payment_reference": "BATCH-7"}, headers=admin)
    assert paid.status_code == 200 and paid.get_json()["state"] == "paid"
    twice = client.post(f"{API}/runs/{run['id']}/pay", json={"payment_reference": "BATCH-8"}, headers=admin)
    assert twice.status_code == 409 and "state" in twice.get_json()["errors"]["json"]
    assert client.get(f"{API}/pools/{pool['id']}", headers=admin).get_json()["run"]["payment_reference"] == "BATCH-7"
    resp = client.post(f"{API}/pools/{pool['id']}/simulate", headers=admin)
    assert resp.status_code == 409


def test_api_declares_pool_rules_and_answers_409_for_a_year_not_begun_or_an_unknown_code(app, client, world, dw):
    from jifen.platform.input import FIRST_YEAR
    from jifen.tenants.dividends.models import DividendPool

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    pool = schemas["Pool"]["properties"]
    assert pool["title"]["maxLength"] == pools.MAX_TITLE and pool["note"]["maxLength"] == pools.MAX_NOTE
    assert pool["amount"]["pattern"] == pools.AMOUNT_PATTERN and pool["period"]["minimum"] == FIRST_YEAR
    assert pool["base_percent"]["maximum"] == pools.MAX_BASE_PERCENT
    assert pool["veto_codes"]["maxItems"] == pools.MAX_VETO_CODES
    assert schemas["Pay"]["properties"]["payment_reference"]["maxLength"] == settlement.MAX_REFERENCE
    admin = bearer(api_token(client, "alpha", "admin"))
    for name, wrong in (("title", "x" * (pools.MAX_TITLE + 1)), ("amount", "0.00"), ("period", FIRST_YEAR - 1),
                        ("base_percent", pools.MAX_BASE_PERCENT + 1)):
        resp = client.post(f"{API}/pools/", json=pool_data(dw) | {name: wrong}, headers=admin)
        assert resp.status_code == 422 and list(resp.get_json()["errors"]["json"]) == [name], (name, resp.get_json())

    def written():
        with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
            return [db.session.execute(select(func.count()).select_from(m)).scalar_one()
                    for m in (DividendPool, AuditEntry)]

    before = written()
    for name, value in (("period", dw.period + 1), ("veto_codes", ["NOPE"]), ("village_id", str(uuid.uuid4()))):
        resp = client.post(f"{API}/pools/", json=pool_data(dw) | {name: value}, headers=admin)
        assert resp.status_code == 409 and list(resp.get_json()["errors"]["json"]) == [name], (name, resp.get_json())
        assert written() == before


# --- pages and the public notice -----------------------------------------------------------------------

def test_pages_create_simulate_approve_publish_and_the_public_notice_masks_names(app, client, world, dw):
    page_login(client, "alpha", "admin")
    assert 'id="new-pool"' in client.get(f"{PAGES}/").get_data(as_text=True)
    token = csrf_token(client, f"{PAGES}/new")
    form = {"csrf_token": token, "title": "", "village_id": str(dw.village), "amount": "两万", "source": "donation",
            "period": str(dw.period), "base_percent": "30", "min_points": "0", "once": "k1"}
    resp = client.post(f"{PAGES}/new", data=form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="e-title"' in html and 'id="e-amount"' in html
    form |= {"title": "官田村分红", "amount": "20000", "veto_codes": ["D1"], "once": "k2"}
    resp = client.post(f"{PAGES}/new", data=form)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert client.post(f"{PAGES}/new", data=form).headers["Location"] == location  # a double tap: one pool
    pool_id = location.rstrip("/").split("/")[-1]
    html = client.get(location).get_data(as_text=True)
    assert 'id="simulate"' in html and "20,000.00" in html
    token = csrf_token(client, location)
    assert client.post(f"{PAGES}/{pool_id}/simulate", data={"csrf_token": token}).status_code == 303
    html = client.get(location).get_data(as_text=True)
    assert 'id="totals"' in html and 'id="distribution"' in html and html.count('class="dv-row"') == 7
    assert "张三伟" in html and 'id="approve"' in html  # staff see whole names
    leftover = html.split('id="leftover">')[1].split("</span>")[0]  # says 元 and 分钱, not a bare "256 分"
    assert re.search(r"余下的 \d+\.\d\d 元（\d+ 分钱）", leftover) and "0.01 元" in leftover, leftover
    run_id = html.split('/runs/')[1].split('/')[0]
    assert client.post(f"{PAGES}/runs/{run_id}/approve", data={"csrf_token": token}).status_code == 303
    assert client.post(f"{PAGES}/runs/{run_id}/publish", data={"csrf_token": token}).status_code == 303
    html = client.get(location).get_data(as_text=True)
    public_url = html.split('id="public-link"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "/dividends/public/" in public_url
    resp = client.post(f"{PAGES}/runs/{run_id}/pay", data={"csrf_token": token, "payment_reference": ""})
    assert resp.status_code == 422 and 'data-field="payment_reference"' in resp.get_data(as_text=True)
    sheet = client.get(f"{PAGES}/runs/{run_id}/sheet.xlsx")
    assert sheet.status_code == 200 and load_workbook(io.BytesIO(sheet.data)).active.max_row == 2 + 7 + 1

    anonymous = app.test_client()  # anyone with the link, signed in or not
    html = anonymous.get(public_url).get_data(as_text=True)
    assert "张*伟" in html and "张三伟" not in html and "李*" in html and "20,000.00" in html
    printed = anonymous.get(public_url + "/print").get_data(as_text=True)
    assert "张*伟" in printed and "张三伟" not in printed and "@page" in printed and "dv-sign" in printed
    assert anonymous.get(public_url[:-4] + "abcd").status_code == 404
    assert client.post(f"{PAGES}/runs/{run_id}/pay", data={"csrf_token": token,
                                                          "payment_reference": "B-1"}).status_code == 303
    assert 'id="paid"' in client.get(location).get_data(as_text=True)
    assert client.post(f"{PAGES}/runs/{run_id}/pay", data={"csrf_token": token,
                                                          "payment_reference": "B-2"}).status_code == 409
    assert anonymous.get(public_url).status_code == 200  # the notice stays readable after payment


def test_pages_of_other_roles(app, client, world, dw):
    from tests.points_world import in_alpha

    def make():
        township = pools.create_pool(who("admin"), pool_data(dw, village_id="", title="全镇分红"))
        simulated(who("admin"), township.id)
        return township.id
    township_id = in_alpha(app, world, make)
    page_login(client, "alpha", "vadmin")
    assert client.get(f"{PAGES}/{township_id}").status_code == 404
    html = client.get(f"{PAGES}/new").get_data(as_text=True)
    assert f'value="{dw.village}"' in html and f'value="{dw.village2}"' not in html  # own village only
    villager = app.test_client()
    page_login(villager, "alpha", "villager")
    assert villager.get(f"{PAGES}/").status_code == 403
    admin = app.test_client()
    page_login(admin, "alpha", "admin")
    html = admin.get(f"{PAGES}/{township_id}").get_data(as_text=True)
    assert 'name="village_id"' in html  # township pools filter the list by village
    html = admin.get(f"{PAGES}/{township_id}?village_id={dw.village2}").get_data(as_text=True)
    assert html.count('class="dv-row"') == 3


def test_demo_loads_a_paid_village_dividend_and_a_simulated_township_pool_once(app, world, dw, scope):
    from jifen.tenants.dividends import demo
    from jifen.tenants.dividends.models import DividendPool
    from jifen.tenants.villages.models import Village

    villages = {v.name: v for v in db.session.execute(select(Village)).scalars()}
    line = demo.load_demo(who("admin"), villages)
    assert "官田村" in line and "paid" in line
    again = demo.load_demo(who("admin"), villages)
    assert again == line  # nothing added the second time
    found = {p.title: settlement.current_run(p.id) for p in db.session.execute(select(DividendPool)).scalars()}
    assert len(found) == 2
    village_run, township_run = (found[t] for t in sorted(found, key=lambda t: "镇级" in t))
    assert village_run.state == "paid" and village_run.total_fen == 2_000_000 and village_run.households == 7
    assert township_run.state == "simulated" and township_run.total_fen == 5_000_000
    assert db.session.execute(select(func.count()).select_from(DividendRun)).scalar() == 2
