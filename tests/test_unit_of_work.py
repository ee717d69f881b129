"""One owner of the transaction (issue 11, item 2).

For every idempotent operation of the app (collected from the URL map, so a new one without a
case here fails the sweep): a process that dies between the work and the response leaves exactly
one record after a retry with the same key, and the retry's answer is the stored first answer.
And no module commits but the owners and the documented chunk runners (`unit_of_work`)."""
from __future__ import annotations

import ast
import pathlib
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from jifen.platform import clock, unit_of_work
from jifen.platform.audit.models import AuditEntry
from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from jifen.tenants.activities.models import Activity, ActivitySignup, Attendance
from jifen.tenants.dividends.models import DividendPool, DividendRun
from jifen.tenants.funds.models import FundRecord
from jifen.tenants.honours.models import HonourShortlist, HonourTitle, RecommendationList
from jifen.tenants.points import notices, posting
from jifen.tenants.points.models import Application, ApplicationPhoto, Batch, LedgerTransaction, Notice, Objection
from jifen.tenants.points.period_close import PeriodClose
from jifen.tenants.store.models import Order
from tests.conftest import api_token, bearer
from tests.points_world import jpeg

A = "/api/v1/t/alpha"


def idempotent_operations(app) -> set[tuple[str, str]]:
    """(method, rule) of every view marked by `@idempotent`, from the app itself."""
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        cls = getattr(view, "view_class", None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            fn = getattr(cls, method.lower(), None) if cls is not None else view
            if getattr(fn, "jifen_idempotent", False):
                found.add((method, rule.rule.removeprefix("/api/v1/t/<tenant_slug>")))
    return found


class Env:
    """The test's own unit of work outside requests: `run(fn)` runs fn in alpha and commits."""

    def __init__(self, app, world, request):
        self.app, self.world, self.request = app, world, request
        self.client = app.test_client()
        self._tokens = {}

    def run(self, fn):
        with self.app.app_context(), tenant_scope(db.session.get(Tenant, self.world.a.tenant_id)):
            result = fn()
            db.session.commit()
            return result

    def count(self, model, *where) -> int:
        return self.run(lambda: db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())

    def headers(self, username: str) -> dict:
        if username not in self._tokens:
            self._tokens[username] = bearer(api_token(self.client, "alpha", username))
        return self._tokens[username]

    def api(self, username: str, path: str, json=None) -> dict:
        resp = self.client.post(A + path, json=json, headers=self.headers(username))
        assert resp.status_code < 300, (path, resp.get_json())
        return resp.get_json()

    @property
    def pw(self):
        return self.request.getfixturevalue("pw")  # restored up front by `_env` (no restore mid-test)


# the store-orders world adds its own second household to the bare world (points_world would clash)
WORLD_ONLY = {("POST", "/orders/")}


def _env(app, world, request, operation) -> Env:
    """The points world is restored before the test does anything (a restore later would wipe the
    test's own rows and sessions), except for the cases that build on the bare world."""
    if operation not in WORLD_ONLY:
        request.getfixturevalue("pw")
    return Env(app, world, request)


@dataclass
class Op:
    user: str
    path: str
    body: Callable[[], dict]  # test-client keyword arguments, fresh for every send
    records: Callable[[], tuple]  # what one successful request creates, counted in the database
    expected: tuple  # how much one successful request changes `records()`


def _json(body: dict) -> Callable[[], dict]:
    return lambda: {"json": body}


def _certified(env, household=None):
    from tests.test_notices_pages import certified

    return env.run(lambda: certified(env.pw, household))


def _on_notice(env):
    app_id = _certified(env)
    closes_on = env.run(lambda: notices.publish(Actor.system(), env.pw.village).closes_on)
    return app_id, closes_on


def _activity(env) -> str:
    pw = env.pw
    return env.api("admin", "/activities/", {"village_id": str(pw.village), "item_code": "S1", "title": "集中整治",
                                              "place": "村委会", "held_on": env.run(clock.today).isoformat()})["id"]


def _dividends(env):
    from tests.test_dividends import pool_data, setup_dividends

    dw = env.run(lambda: setup_dividends(env.world, env.pw))
    return dw, pool_data(dw)


def case_applications(env):
    pw, day = env.pw, env.run(clock.today).isoformat()
    return Op("villager", "/points/applications",
              lambda: {"data": {"item_id": str(pw.items["A1"]), "occurred_on": day, "description": "清理河道垃圾",
                                "photos": (jpeg(), "p.jpg")}, "content_type": "multipart/form-data"},
              lambda: (env.count(Application), env.count(ApplicationPhoto)), (1, 1))


def case_proxy(env):
    pw, day = env.pw, env.run(clock.today).isoformat()
    return Op("gridder", "/points/applications/proxy",
              lambda: {"data": {"household_id": str(pw.household), "item_id": str(pw.items["V1"]), "occurred_on": day,
                                "description": "代为申报"}, "content_type": "multipart/form-data"},
              lambda: (env.count(Application),), (1,))


def case_records(env):
    pw, day = env.pw, env.run(clock.today).isoformat()
    return Op("gridder", "/points/records", _json({"household_id": str(pw.household), "item_id": str(pw.items["S1"]),
                                                   "occurred_on": day, "description": "巡逻", "points": 6}),
              lambda: (env.count(Application),), (1,))


def case_batches(env):
    pw, day = env.pw, env.run(clock.today).isoformat()
    return Op("gridder", "/points/batches", _json({
        "item_id": str(pw.items["S1"]), "occurred_on": day, "title": "三月卫生检查",
        "rows": [{"household_id": str(pw.household), "points": 5}, {"household_id": str(pw.household2), "points": 3}]}),
        lambda: (env.count(Batch), env.count(Application)), (1, 2))


def case_publish(env):
    _certified(env)
    return Op("admin", "/notices/publish", _json({"village_id": str(env.pw.village)}),
              lambda: (env.count(Notice),), (1,))


def case_objections(env):
    app_id, _closes = _on_notice(env)
    return Op("villager2", "/notices/objections", _json({"application_id": str(app_id), "reason": "没看到"}),
              lambda: (env.count(Objection),), (1,))


def case_corrections(env):
    _app_id, closes_on = _on_notice(env)
    tx = env.run(lambda: (posting.nightly(Actor.system(), today=closes_on + timedelta(days=1)),
                          db.session.execute(select(LedgerTransaction.id)).scalar_one())[1])
    household = env.pw.household

    def records():
        from jifen.tenants.points import ledger

        balance = env.run(lambda: ledger.balance(household, ledger.period_of(clock.today())))
        return (env.count(LedgerTransaction), balance.earned, balance.available)
    # +5 corrected to +1: one correcting entry, earned and available 4 lower, once
    return Op("admin", f"/ledger/entries/{tx}/corrections", _json({"points": 1, "reason": "只算一次"}), records,
              (1, -4, -4))


def case_activities(env):
    pw = env.pw
    return Op("admin", "/activities/", _json({"village_id": str(pw.village), "item_code": "S1", "title": "集中整治",
                                             "place": "村委会", "held_on": env.run(clock.today).isoformat()}),
              lambda: (env.count(Activity),), (1,))


def case_signups(env):
    activity = _activity(env)
    return Op("villager", f"/activities/{activity}/signups", _json({"household_id": str(env.pw.household)}),
              lambda: (env.count(ActivitySignup),), (1,))


def case_attendance(env):
    activity = _activity(env)
    return Op("admin", f"/activities/{activity}/attendance", _json({"household_ids": [str(env.pw.household)]}),
              lambda: (env.count(Attendance), env.count(Application)), (1, 1))


def case_checkin(env):
    activity = _activity(env)
    code = env.run(lambda: db.session.execute(select(Activity.checkin_code)
                                              .where(Activity.id == uuid.UUID(activity))).scalar_one())
    return Op("villager", f"/activities/{activity}/checkin", _json({"code": code}),
              lambda: (env.count(Attendance), env.count(Application)), (1, 1))


def case_orders(env):
    from tests.store_orders_world import setup_shop

    with env.app.app_context():
        shop = setup_shop(env.world)
    household = shop.household

    def records():
        from jifen.tenants.points import ledger

        balance = env.run(lambda: ledger.balance(household, ledger.period_of(clock.today())))
        return (env.count(Order), balance.earned, balance.available)
    # one toothpaste (10 points) reserved once: earned stays, available 10 lower
    return Op("villager", "/orders/", _json({"lines": [{"catalog_item_id": str(shop.toothpaste), "quantity": 1}]}),
              records, (1, 0, -10))


def case_titles(env):
    env.pw  # noqa: B018 - the panel and villages the honours need
    return Op("admin", "/honours/titles", _json({"name_zh": "最美家庭", "quota": 2}),
              lambda: (env.count(HonourTitle),), (1,))


def case_shortlists(env):
    title = env.api("admin", "/honours/titles", {"name_zh": "最美家庭", "quota": 2})["id"]
    return Op("admin", f"/honours/titles/{title}/shortlists", _json({"village_id": str(env.pw.village)}),
              lambda: (env.count(HonourShortlist),), (1,))


def case_lists(env):
    env.pw  # noqa: B018
    return Op("admin", "/honours/lists", _json({"name_zh": "村班子后备人选"}),
              lambda: (env.count(RecommendationList),), (1,))


def case_pools(env):
    _dw, body = _dividends(env)
    return Op("admin", "/dividends/pools/", _json(body), lambda: (env.count(DividendPool),), (1,))


def case_simulate(env):
    _dw, body = _dividends(env)
    pool = env.api("admin", "/dividends/pools/", body)["id"]
    return Op("admin", f"/dividends/pools/{pool}/simulate", lambda: {},
              lambda: (env.count(DividendRun),), (1,))


def case_pay(env):
    _dw, body = _dividends(env)
    pool = env.api("admin", "/dividends/pools/", body)["id"]
    run = env.api("admin", f"/dividends/pools/{pool}/simulate")["id"]
    env.api("admin", f"/dividends/runs/{run}/approve")
    env.api("admin", f"/dividends/runs/{run}/publish")
    return Op("admin", f"/dividends/runs/{run}/pay", _json({"payment_reference": "BATCH-7"}),
              lambda: (env.count(AuditEntry, AuditEntry.action == "dividend_run.pay"),), (1,))


def case_period_close(env):
    env.pw  # noqa: B018
    year = env.run(clock.today).year - 1
    return Op("admin", "/periods/close", _json({"period": year}), lambda: (env.count(PeriodClose),), (1,))


def case_fund_records(env):
    day = env.run(clock.today).isoformat()
    return Op("admin", "/funds/records", _json({"kind": "donation", "amount": "500.00", "received_on": day}),
              lambda: (env.count(FundRecord),), (1,))


def case_fund_reversals(env):
    day = env.run(clock.today).isoformat()
    record = env.api("admin", "/funds/records", {"kind": "budget", "amount": "800.00", "received_on": day})["id"]
    return Op("admin", f"/funds/records/{record}/reverse", _json({"reason": "重复登记"}),
              lambda: (env.count(FundRecord), env.count(AuditEntry, AuditEntry.action == "funds.reverse")), (1, 1))


CASES = {
    ("POST", "/points/applications"): case_applications,
    ("POST", "/points/applications/proxy"): case_proxy,
    ("POST", "/points/records"): case_records,
    ("POST", "/points/batches"): case_batches,
    ("POST", "/notices/publish"): case_publish,
    ("POST", "/notices/objections"): case_objections,
    ("POST", "/ledger/entries/<uuid:transaction_id>/corrections"): case_corrections,
    ("POST", "/activities/"): case_activities,
    ("POST", "/activities/<uuid:activity_id>/signups"): case_signups,
    ("POST", "/activities/<uuid:activity_id>/attendance"): case_attendance,
    ("POST", "/activities/<uuid:activity_id>/checkin"): case_checkin,
    ("POST", "/orders/"): case_orders,
    ("POST", "/honours/titles"): case_titles,
    ("POST", "/honours/titles/<uuid:honour_title_id>/shortlists"): case_shortlists,
    ("POST", "/honours/lists"): case_lists,
    ("POST", "/dividends/pools/"): case_pools,
    ("POST", "/dividends/pools/<uuid:dividend_pool_id>/simulate"): case_simulate,
    ("POST", "/dividends/runs/<uuid:dividend_run_id>/pay"): case_pay,
    ("POST", "/periods/close"): case_period_close,
    ("POST", "/funds/records"): case_fund_records,
    ("POST", "/funds/records/<uuid:fund_record_id>/reverse"): case_fund_reversals,
}


def test_every_idempotent_operation_has_a_case(app):
    assert idempotent_operations(app) == set(CASES)


class Crash(Exception):
    """The process dies here."""


class fail_once:
    """Make the next commit of any session die: `before_commit` (nothing is written) or
    `after_commit` (written, but the answer never reaches the client)."""

    def __init__(self, when: str):
        self.when, self.fired = when, 0

    def _die(self, session):
        if not self.fired:
            self.fired += 1
            raise Crash(self.when)

    def __enter__(self):
        event.listen(Session, self.when, self._die)
        return self

    def __exit__(self, *exc):
        event.remove(Session, self.when, self._die)


def _send(env, op: Op, key: str):
    return env.client.post(A + op.path, headers=env.headers(op.user) | {"Idempotency-Key": key}, **op.body())


def _send_and_die(env, op: Op, key: str, when: str) -> None:
    with fail_once(when) as hook:
        try:
            resp = _send(env, op, key)
        except Crash:
            resp = None
    assert hook.fired, "the request never committed"
    assert resp is None or resp.status_code >= 500, resp.get_json()


def _sweep():
    for when in ("before_commit", "after_commit"):
        for operation in sorted(CASES):
            yield pytest.param(when, operation, id=f"{when}-{operation[0]} {operation[1]}")


@pytest.mark.parametrize(("when", "operation"), list(_sweep()))
def test_a_crash_between_the_work_and_the_answer_leaves_one_record(app, world, request, operation, when):
    """before_commit: the process dies after the work was flushed, before the commit; the retry
    does the work once. after_commit: the work committed but the answer was lost; the retry gets
    the stored answer. Either way one record, and every later retry gets the same bytes."""
    env = _env(app, world, request, operation)
    op = CASES[operation](env)
    env.headers(op.user)  # signed in before anything dies
    before = op.records()
    _send_and_die(env, op, "k-1", when)
    if when == "before_commit":
        assert op.records() == before, "a crash before the commit left something behind"
    retry = _send(env, op, "k-1")
    assert 200 <= retry.status_code < 300, retry.get_json()
    after = op.records()
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == op.expected
    again = _send(env, op, "k-1")
    assert (again.status_code, again.get_data()) == (retry.status_code, retry.get_data())
    assert op.records() == after


@pytest.mark.parametrize("operation", [("POST", "/points/records"), ("POST", "/orders/"),
                                       ("POST", "/ledger/entries/<uuid:transaction_id>/corrections")],
                         ids=lambda o: o[1])
def test_a_lost_answer_is_replayed_byte_for_byte(app, world, request, operation):
    """The answer is committed but dropped on the way: the retry gets exactly the first bytes."""
    env = _env(app, world, request, operation)
    op = CASES[operation](env)
    first = _send(env, op, "k-1")
    assert 200 <= first.status_code < 300, first.get_json()
    counted = op.records()
    replay = _send(env, op, "k-1")
    assert (replay.status_code, replay.get_data()) == (first.status_code, first.get_data())
    assert op.records() == counted


def test_concurrent_duplicates_wait_for_the_first_and_replay_its_answer(app, world, pw, request):
    """Four clients send the same key and body at once: the key's unique index makes the others
    wait until the first commits, then they replay its answer (no 409, no second record)."""
    env = Env(app, world, request)
    op = case_records(env)
    headers = env.headers(op.user) | {"Idempotency-Key": "same"}
    before = op.records()
    start, answers = threading.Barrier(4), []

    def send():
        client = app.test_client()
        start.wait(timeout=30)
        resp = client.post(A + op.path, headers=headers, **op.body())
        answers.append((resp.status_code, resp.get_data()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4 and len(set(answers)) == 1 and answers[0][0] == 201, answers
    assert tuple(a - b for a, b in zip(op.records(), before, strict=True)) == op.expected


# --- who commits ----------------------------------------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _commits() -> set[str]:
    """'path:function' of every `<x>.session.commit()` call in the jifen package."""
    found = set()
    for path in sorted((ROOT / "jifen").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()

        def walk(node, stack, rel=rel):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    walk(child, [*stack, child.name], rel)
                    continue
                func = getattr(child, "func", None)
                if (isinstance(child, ast.Call) and isinstance(func, ast.Attribute) and func.attr == "commit"
                        and isinstance(func.value, ast.Attribute) and func.value.attr == "session"):
                    found.add(f"{rel}:{'.'.join(stack)}")
                walk(child, stack, rel)
        walk(ast.parse(path.read_text()), [])
    return found


def test_only_the_owners_and_the_documented_chunk_runners_commit():
    commits = _commits()
    stray = {c for c in commits if c.split(":")[0] not in unit_of_work.OWNERS and c not in unit_of_work.CHUNK_RUNNERS}
    assert not stray, f"services and views flush; the request, the CLI or the job runner commits: {sorted(stray)}"
    assert set(unit_of_work.CHUNK_RUNNERS) <= commits, "a listed chunk runner no longer commits: drop it from the list"


def test_a_page_form_commits_once_with_the_request(app, world, pw, request):
    """The page pipeline owns the commit too: a form's work is there after the redirect, and a
    form refused with field errors leaves nothing (not even its one-time key)."""
    from tests.conftest import csrf_token, page_login

    env = Env(app, world, request)
    client = app.test_client()
    page_login(client, "alpha", "gridder")
    form = f"/t/alpha/points/households/{pw.household}/record"
    token = csrf_token(client, form)
    day = env.run(clock.today).isoformat()
    data = {"csrf_token": token, "item_code": "S1", "occurred_on": day, "description": "巡逻", "points": "99",
            "once": "form-1"}
    assert client.post(form, data=data).status_code == 422
    assert env.count(Application) == 0
    assert client.post(form, data=data | {"points": "6"}).status_code in (302, 303)
    assert client.post(form, data=data | {"points": "6"}).status_code in (302, 303)  # a double tap
    assert env.count(Application) == 1



def test_api_idempotency_and_web_import_no_circle():
    """`api`, `idempotency` and `web` ask the same questions (who calls, through which door) of
    `request_info` instead of importing each other in a circle (lazy imports count too)."""
    names = ("api", "idempotency", "web")
    edges = {}
    for name in names:
        tree = ast.parse((ROOT / "jifen" / "platform" / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "jifen.platform":
                    found |= {a.name for a in node.names}
                elif node.module.startswith("jifen.platform."):
                    found.add(node.module.split(".")[2])
        edges[name] = found & set(names)

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, (*seen, n))) for n in edges.get(start, ()))
    assert not [n for n in names if reaches(n, n)], edges
