"""The points lifecycle as a state machine: random sequences of applying, judging, notices,
objections, the nightly posting job, corrections and spending, on the real database, with the
ledger's rules checked after every step.

Invariants (after every step):
* every cached balance equals the sum of the household's postings, every transaction's legs sum
  to zero (`ledger.recompute()` finds nothing);
* available points are never negative;
* no source (source_kind, source_id) posted twice;
* an application in state `posted` has exactly one application-sourced transaction; an
  application in any other state has none;
* available points are exactly earned-and-not-spent (`earned_and_not_spent`), so they never
  exceed it: a correction gives back what its entry took, never more;
* correcting an entry to its own amount changes nothing (refused, every balance identical).
"""
from __future__ import annotations

import io
import uuid
from collections import defaultdict
from contextlib import ExitStack
from datetime import timedelta

from PIL import Image
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage

from jifen.platform import clock
from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.db import db
from jifen.platform.errors import Conflict, InputConflict, Invalid
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get, tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.points import applications as apps
from jifen.tenants.points import entries, ledger, notices, posting
from jifen.tenants.points.models import (
    APPLICATION_SOURCE,
    CORRECTION,
    HOUSEHOLD,
    REDEMPTION,
    Application,
    CertificationVote,
    HouseholdBalance,
    LedgerPosting,
    LedgerTransaction,
    Notice,
    Objection,
)
from tests.points_world import ITEMS, setup_points

# what one example writes; emptied before the next example (children first)
POINTS_TABLES = ("notifications", "application_steps", "certification_votes", "objections", "application_photos",
                 "ledger_postings", "ledger_transactions", "household_balances", "applications", "notices",
                 "point_batches", "stored_files")


def _photo() -> FileStorage:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (30, 120, 30)).save(buf, "JPEG")
    buf.seek(0)
    return FileStorage(buf, filename="p.jpg", content_type="image/jpeg")


def _reset() -> None:
    db.session.rollback()
    # a few rows each (TRUNCATE would need every referencing table); the self-reference of
    # corrections is checked at the end of the statement
    for table in POINTS_TABLES:
        db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


EARNING = (APPLICATION_SOURCE, "activity", CORRECTION)  # entries that move earned points, and their corrections


def earned_and_not_spent() -> tuple[dict, dict]:
    """({(household, period): available}, {(household, period): earned and not spent}) from the
    ledger, walking the household legs in the order they were written.

    Earned and not spent = earned points - what spending, orders and year-end closes took out of
    available (+ what they brought in) + what is written off: what a deduction (or a correction
    downwards) could not take because available points were at zero, cancelled first when the
    entry is corrected upwards (a written-off point was never taken, so it is not given back).
    Along the way: a take is written off only when it leaves available points at zero."""
    rows = db.session.execute(
        select(LedgerTransaction.id, LedgerTransaction.reverses_id, LedgerTransaction.source_kind,
               LedgerPosting.household_id, LedgerPosting.period, LedgerPosting.earned, LedgerPosting.available)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(LedgerPosting.account == HOUSEHOLD).order_by(LedgerTransaction.id)).all()
    available, bound, written_off = defaultdict(int), defaultdict(int), defaultdict(int)
    for tx_id, reverses_id, kind, household, period, earned, moved in rows:
        key = (household, period)
        available[key] += moved
        if kind not in EARNING:
            bound[key] += moved
            continue
        entry, before = reverses_id or tx_id, written_off[reverses_id or tx_id]
        if earned < 0:
            assert earned <= moved <= 0, (tx_id, earned, moved)
            written_off[entry] += moved - earned
            assert moved == earned or available[key] == 0, ("written off above zero", tx_id)
        else:
            written_off[entry] -= min(before, earned)
        bound[key] += earned + written_off[entry] - before
    return dict(available), dict(bound)


def _balances() -> list:
    return sorted((str(b.household_id), b.period, b.earned, b.available)
                  for b in db.session.execute(select(HouseholdBalance)).scalars())


def test_random_lifecycles_keep_the_ledger_rules(app, world, monkeypatch):
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

    with app.app_context():
        pw = setup_points(world)
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            def who(username: str) -> Actor:
                return actor_for(db.session.execute(select(User).where(User.username == username)).scalar_one())

            households = {pw.household: "villager", pw.household2: "villager2"}
            usernames = ["villager", "villager2", "gridder", "admin", *pw.panel]
            today = clock.today()
            period = ledger.period_of(today)
            # the simulated calendar: the nightly rule moves the township's clock forward (applications
            # keep the first day as the day they happened, so none is dated in the future)
            calendar = ExitStack()

            class PointsMachine(RuleBasedStateMachine):
                def __init__(self):
                    super().__init__()
                    _reset()
                    self.actors = {u: who(u) for u in usernames}
                    calendar.close()  # every run starts on the real day; the clock moves forward only
                    self.spends = 0

                # --- helpers -------------------------------------------------------------------
                def count(self, model) -> int:
                    return db.session.execute(select(func.count()).select_from(model)).scalar_one()

                def ids_in(self, *states) -> list:
                    return list(db.session.execute(select(Application.id).where(Application.state.in_(states))
                                                   .order_by(Application.created_at, Application.id)).scalars())

                def attempt(self, fn, *args, expect=()):
                    """Call a service; an expected refusal leaves nothing half-written."""
                    try:
                        return fn(*args)
                    except expect:
                        db.session.rollback()
                        return None

                # --- how applications come to be ----------------------------------------------
                @rule(household=st.sampled_from(sorted(households, key=str)),
                      code=st.sampled_from(["A1", "A2", "V1"]), with_photo=st.booleans())
                def self_apply(self, household, code, with_photo):
                    data = {"item_code": code, "occurred_on": today.isoformat(), "description": "做好事"}
                    photos = [_photo()] if with_photo else None
                    made = self.attempt(apps.self_apply, self.actors[households[household]], household, data, photos,
                                        expect=(Invalid, InputConflict))
                    assert (made is None) == (code == "A1" and not with_photo)  # A1 needs a photo
                    if made is not None:
                        assert made.state == "submitted" and made.points == ITEMS[code][1][2]

                @rule(household=st.sampled_from(sorted(households, key=str)), code=st.sampled_from(["D1", "S1", "A2"]),
                      points=st.integers(0, 12))
                def staff_record(self, household, code, points):
                    low, high, _default = ITEMS[code][1]
                    data = {"item_code": code, "occurred_on": today.isoformat(), "description": "网格员记录",
                            "points": points}
                    made = self.attempt(apps.record_conduct, self.actors["gridder"], household, data,
                                        expect=(Invalid, InputConflict))
                    assert (made is None) == (not low <= points <= high)
                    if made is not None:
                        sign = -1 if ITEMS[code][0] == "deduction" else 1
                        assert made.state == "verified" and made.points == sign * points

                # --- judging --------------------------------------------------------------------
                @precondition(lambda self: self.ids_in("submitted"))
                @rule(data=st.data(), accept=st.booleans(), points=st.one_of(st.none(), st.integers(0, 6)))
                def verify_or_reject(self, data, accept, points):
                    app_id = data.draw(st.sampled_from(self.ids_in("submitted")))
                    gridder = self.actors["gridder"]
                    if not accept:
                        assert apps.reject(gridder, app_id, {"reason": "不属实"}).state == "rejected"
                        return
                    app_ = tenant_get(Application, app_id)
                    low, high, _default = ITEMS[app_.item_code][1]
                    changed = points is not None and points != app_.points
                    body = {"points": points, "reason": "核实调整"} if points is not None else {}
                    done = self.attempt(apps.verify, gridder, app_id, body, expect=(Invalid, InputConflict))
                    assert (done is None) == (changed and not low <= points <= high)
                    if done is not None:
                        assert done.state == ("certified" if app_.item_code == "V1" else "verified")

                @precondition(lambda self: self.ids_in("verified"))
                @rule(data=st.data(), member=st.sampled_from(["panel1", "panel2", "panel3"]), approve=st.booleans())
                def vote(self, data, member, approve):
                    app_id = data.draw(st.sampled_from(self.ids_in("verified")))
                    body = {"decision": "approve"} if approve else {"decision": "reject", "reason": "证据不足"}
                    voted_before = db.session.execute(select(func.count()).select_from(CertificationVote).where(
                        CertificationVote.application_id == app_id,
                        CertificationVote.member_id == self.actors[member].id)).scalar_one()
                    done = self.attempt(apps.vote, self.actors[member], app_id, body, expect=(Conflict,))
                    assert (done is None) == bool(voted_before)

                @rule()
                def publish(self):
                    waiting = self.ids_in("certified")
                    notice = self.attempt(notices.publish, Actor.system(), pw.village, expect=(Invalid, InputConflict))
                    assert (notice is None) == (not waiting)
                    if notice is not None:
                        assert notice.item_count == len(waiting)
                        assert set(self.ids_in("on_notice")) >= set(waiting)

                # --- objections ---------------------------------------------------------------
                @precondition(lambda self: self.ids_in("on_notice", "objected"))
                @rule(data=st.data(), objector=st.sampled_from(["villager", "villager2"]))
                def object_to(self, data, objector):
                    app_id = data.draw(st.sampled_from(self.ids_in("on_notice", "objected")))
                    notice = tenant_get(Notice, tenant_get(Application, app_id).notice_id)
                    still_open = notices.is_open(notice)
                    done = self.attempt(notices.object_to, self.actors[objector], app_id, {"reason": "不是这样"},
                                        expect=(Invalid, InputConflict))
                    assert (done is None) == (not still_open)
                    if done is not None:
                        assert tenant_get(Application, app_id).state == "objected"

                @precondition(lambda self: db.session.execute(select(func.count()).select_from(Objection).where(
                    Objection.status == Objection.OPEN)).scalar_one())
                @rule(data=st.data(), member=st.sampled_from(["panel1", "panel2", "panel3"]), uphold=st.booleans())
                def decide(self, data, member, uphold):
                    open_ = list(db.session.execute(select(Objection.id).where(Objection.status == Objection.OPEN)
                                                    .order_by(Objection.created_at, Objection.id)).scalars())
                    objection_id = data.draw(st.sampled_from(open_))
                    notices.decide(self.actors[member], objection_id,
                                   {"decision": "uphold" if uphold else "dismiss", "reason": "已查明"})
                    app_ = tenant_get(Application, tenant_get(Objection, objection_id).application_id)
                    if uphold:
                        assert app_.state == "rejected"
                    else:
                        assert app_.state in ("on_notice", "objected")

                # --- the nightly job ----------------------------------------------------------
                @rule(days=st.integers(0, 7))
                def nightly(self, days):
                    calendar.enter_context(clock.at(clock.now() + timedelta(days=days)))
                    standing = set(db.session.execute(select(Application.id).join(
                        Notice, Notice.id == Application.notice_id).where(
                        Application.state == "on_notice", Notice.closes_on < clock.today())).scalars())
                    result = posting.nightly(Actor.system(), today=clock.today())
                    assert result["posted"] == len(standing)
                    for app_id in standing:
                        assert tenant_get(Application, app_id).state == "posted"
                    assert posting.nightly(Actor.system(), today=clock.today())["posted"] == 0  # idempotent

                # --- the ledger ---------------------------------------------------------------
                def originals(self) -> list:
                    return list(db.session.execute(select(LedgerTransaction.id).where(
                        LedgerTransaction.source_kind.in_((APPLICATION_SOURCE, "activity")))
                        .order_by(LedgerTransaction.id)).scalars())

                @rule(household=st.sampled_from(sorted(households, key=str)),
                      points=st.integers(-10, 10).filter(bool))
                def earn(self, household, points):
                    """Points posted straight to the ledger (as an activity's attendance is), so that
                    deductions meet small balances often."""
                    ledger.earn(household_id=household, points=points, occurred_on=today, source_kind="activity",
                                source_id=uuid.uuid4(), memo="活动")
                    db.session.commit()

                @precondition(lambda self: self.originals())
                @rule(data=st.data(), points=st.integers(-12, 12), same=st.booleans())
                def correct(self, data, points, same):
                    original = tenant_get(LedgerTransaction, data.draw(st.sampled_from(self.originals())))
                    before = ledger.effective_points(original)
                    points = before if same else points
                    balances, entries_before = _balances(), self.count(LedgerTransaction)
                    done = self.attempt(entries.correct_entry, self.actors["admin"], original.id,
                                        {"points": points, "reason": "更正"}, expect=(Invalid, InputConflict))
                    assert (done is None) == (points == before)
                    if done is not None:
                        assert ledger.effective_points(original) == points
                        later = self.attempt(entries.correct_entry, self.actors["admin"], done.id,
                                             {"points": 0, "reason": "更正的更正"}, expect=(Invalid, InputConflict))
                        assert later is None  # a correction is not corrected: its entry is
                    else:  # to its own amount: nothing changes
                        assert _balances() == balances and self.count(LedgerTransaction) == entries_before

                @rule(household=st.sampled_from(sorted(households, key=str)), amount=st.integers(1, 15))
                def spend(self, household, amount):
                    bal = ledger.balance(household, period)
                    available = bal.available if bal else 0
                    db.session.rollback()
                    try:
                        ledger.spend(household_id=household, points=amount, period=period, source_kind=REDEMPTION,
                                     source_id=uuid.uuid4(), memo="兑换", on=today)
                        db.session.commit()
                        refused = False
                    except Invalid as e:
                        db.session.rollback()
                        assert "points" in e.errors
                        refused = True
                    assert refused == (amount > available)
                    after = ledger.balance(household, period)
                    assert (after.available if after else 0) == (available if refused else available - amount)

                # --- the rules that must never break ------------------------------------------
                @invariant()
                def ledger_rules_hold(self):
                    report = ledger.recompute()
                    assert report["differences"] == [] and report["unbalanced"] == []
                    negative = db.session.execute(select(func.count()).select_from(HouseholdBalance).where(
                        HouseholdBalance.available < 0)).scalar_one()
                    assert negative == 0
                    twice = db.session.execute(
                        select(LedgerTransaction.source_kind, LedgerTransaction.source_id)
                        .group_by(LedgerTransaction.source_kind, LedgerTransaction.source_id)
                        .having(func.count() > 1)).all()
                    assert twice == []
                    sourced = dict(db.session.execute(
                        select(LedgerTransaction.source_id, func.count())
                        .where(LedgerTransaction.source_kind == APPLICATION_SOURCE)
                        .group_by(LedgerTransaction.source_id)).all())
                    for app_id, state in db.session.execute(select(Application.id, Application.state)):
                        assert sourced.pop(app_id, 0) == (1 if state == "posted" else 0), (app_id, state)
                    assert sourced == {}  # no application-sourced transaction without its application
                    corrections = db.session.execute(select(func.count()).select_from(LedgerTransaction).where(
                        LedgerTransaction.source_kind == CORRECTION, LedgerTransaction.reverses_id.is_(None)))
                    assert corrections.scalar_one() == 0
                    db.session.rollback()

                @invariant()
                def available_is_earned_and_not_spent(self):
                    available, bound = earned_and_not_spent()
                    assert available == bound
                    db.session.rollback()

                def teardown(self):
                    db.session.rollback()
                    calendar.close()

            run_state_machine_as_test(PointsMachine, settings=settings(
                max_examples=25, stateful_step_count=30, deadline=None, database=None,
                suppress_health_check=list(HealthCheck)))
            _reset()
