"""The audit log: written in the same transaction as the change, hash-chained per township."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from jifen.platform.accounts.models import User
from jifen.platform.accounts.service import actor_for
from jifen.platform.audit.models import AuditEntry, AuditHead
from jifen.platform.audit.service import verify_chain
from jifen.platform.db import db
from jifen.platform.errors import InputConflict
from jifen.platform.staff import service as staff
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import api_token, bearer, make_world


def _entries():
    return db.session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()


def tenant_key(tenant_id):
    return tenant_id.hex if db.engine.dialect.name == "sqlite" else tenant_id


@contextmanager
def guard_lifted():
    """What the database's owner can do and the application cannot: lift the append-only
    triggers for a moment (PostgreSQL: disable them; SQLite: drop them and put them back), then
    commit the tampering done meanwhile."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        yield conn
        conn.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    else:
        triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                     "AND tbl_name = 'audit_entries'")).all()
        assert triggers
        for name, _sql in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        yield conn
        for _name, sql in triggers:
            conn.execute(text(sql))
    db.session.commit()


def test_each_change_records_who_what_before_and_after(ctx):
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        admin = actor_for(db.session.get(User, (tenant.id, world.a.user_id())))
        staff.set_roles(admin, world.a.user_id("panel_member"),
                        [{"role": "panel_member", "scope_ids": [world.a.villages[0]]}])
        db.session.commit()
        last = _entries()[-1]
        assert last.action == "staff.set_roles" and last.actor_name == admin.name
        assert last.actor_kind == "user" and last.actor_id == admin.id
        assert last.before["roles"][0]["scope_ids"] == [str(world.a.villages[1])]
        assert last.after["roles"][0]["scope_ids"] == [str(world.a.villages[0])]
        assert [e.seq for e in _entries()] == list(range(1, len(_entries()) + 1))
        assert verify_chain().ok


def test_a_refused_change_writes_no_audit_entry(ctx):
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        before = len(_entries())
        admin = actor_for(db.session.get(User, (tenant.id, world.a.user_id())))
        try:
            staff.invite(admin, {"username": "ok-name", "display_name": "x",
                                 "roles": [{"role": "village_admin", "scope_ids": [world.b.villages[0]]}]})
        except InputConflict as e:  # another township's village names nothing here
            assert "roles" in e.errors
        db.session.rollback()
        assert len(_entries()) == before


def test_request_id_is_recorded(app, world):
    client = app.test_client()
    headers = bearer(api_token(client, "alpha", "admin")) | {"X-Request-ID": "req-12345"}
    resp = client.post("/api/v1/t/alpha/villages/", json={"name": "新村", "code": "xc"}, headers=headers)
    assert resp.status_code == 201 and resp.headers["X-Request-ID"] == "req-12345"
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        assert _entries()[-1].request_id == "req-12345"


def test_tampering_is_found_by_the_cli_and_the_api(app, world):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "alpha:" in ok.output and "BROKEN" not in ok.output
    with app.app_context():
        with guard_lifted() as conn:
            conn.execute(text("UPDATE audit_entries SET actor_name = 'someone else' WHERE seq = 2 AND tenant_id = :t"),
                         {"t": tenant_key(world.a.tenant_id)})
        db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert "alpha:" in bad.output and "BROKEN at seq 2" in bad.output
    assert "beta:" in bad.output and bad.output.count("BROKEN") == 1
    client = app.test_client()
    report = client.post("/api/v1/t/alpha/audit/verify", headers=bearer(api_token(client, "alpha", "admin"))).get_json()
    assert report["ok"] is False and report["first_bad_seq"] == 2


def test_deleting_an_entry_breaks_the_chain(ctx):
    world = make_world()
    tenant = db.session.get(Tenant, world.b.tenant_id)
    with tenant_scope(tenant):
        n = len(_entries())
        with guard_lifted() as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE seq = :s AND tenant_id = :t"),
                         {"s": n - 1, "t": tenant_key(tenant.id)})
        report = verify_chain()
        assert not report.ok and report.first_bad_seq == n - 1


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET actor_name = 'someone else' WHERE tenant_id = :t AND seq = 2",
    "DELETE FROM audit_entries WHERE tenant_id = :t AND seq = 2",
    "DELETE FROM audit_entries WHERE tenant_id = :t",
])
def test_the_database_refuses_to_change_or_delete_audit_entries(ctx, statement):
    """Append-only in the database itself, not only in the code: any UPDATE or DELETE of an entry
    is refused (on PostgreSQL and SQLite alike) and the chain is unchanged."""
    world = make_world()
    tenant = db.session.get(Tenant, world.a.tenant_id)
    with tenant_scope(tenant):
        before = [(e.seq, e.actor_name, e.entry_hash) for e in _entries()]
        db.session.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement), {"t": tenant_key(tenant.id)})
        db.session.rollback()
        assert [(e.seq, e.actor_name, e.entry_hash) for e in _entries()] == before
        assert verify_chain().ok


def test_cutting_the_newest_entries_and_moving_the_head_back_is_found_by_the_nightly_anchor(app, world):
    """The nightly chain check anchors the verified head in its job record and the log; deleting
    the newest entries and moving the head back leaves a chain that verifies by itself, but not
    against the anchor, and a later check does not anchor the shortened chain."""
    from jifen.workers.jobs import audit_chain_check

    alpha = str(world.a.tenant_id)
    with app.app_context():
        first = audit_chain_check.apply(kwargs={"tenant_id": alpha, "local_date": "2026-12-01"}).get()
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            entries = _entries()
            head = entries[-1]
            assert first["ok"] and first["anchor"] == {"seq": head.seq, "hash": head.entry_hash}
    client = app.test_client()  # the chain goes on growing past the anchor: still fine
    client.post("/api/v1/t/alpha/villages/", json={"name": "新村", "code": "xc"},
                headers=bearer(api_token(client, "alpha", "admin")))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify", "--tenant", "alpha"]).exit_code == 0
    with app.app_context():
        tenant = db.session.get(Tenant, world.a.tenant_id)
        with tenant_scope(tenant):
            keep = entries[-4]  # cut the anchored head and the two entries before it, and all after
            with guard_lifted() as conn:
                conn.execute(text("DELETE FROM audit_entries WHERE tenant_id = :t AND seq > :s"),
                             {"t": tenant_key(tenant.id), "s": keep.seq})
            head_row = db.session.get(AuditHead, tenant.id)  # and the head moved back to `keep`
            head_row.seq, head_row.entry_hash = keep.seq, keep.entry_hash
            db.session.commit()
            report = verify_chain()
            assert not report.ok and report.first_bad_seq == keep.seq + 1
            assert f"anchored entry {head.seq}" in report.problem
    bad = runner.invoke(args=["audit", "verify", "--tenant", "alpha"])
    assert bad.exit_code == 1 and f"BROKEN at seq {keep.seq + 1}" in bad.output
    with app.app_context():
        later = audit_chain_check.apply(kwargs={"tenant_id": alpha, "local_date": "2026-12-02"}).get()
        assert later["ok"] is False and "anchor" not in later
    assert runner.invoke(args=["audit", "verify", "--tenant", "alpha"]).exit_code == 1


def test_chains_are_per_township(ctx):
    world = make_world()
    for tid in (world.a.tenant_id, world.b.tenant_id):
        with tenant_scope(db.session.get(Tenant, tid)):
            seqs = [e.seq for e in _entries()]
            assert seqs[0] == 1 and seqs == sorted(seqs)
            assert _entries()[0].prev_hash == "0" * 64
    total = db.session.execute(select(func.count()).select_from(AuditEntry).execution_options(all_tenants=True)).scalar()
    assert total > 10


def test_audit_page_lists_entries_for_admins_only(app, world):
    from tests.conftest import page_login

    client = app.test_client()
    page_login(client, "alpha", "admin")
    html = client.get("/t/alpha/audit/?verify=1").get_data(as_text=True)
    assert 'data-action="staff.invite"' in html and 'data-action="township.onboard"' in html
    assert "工作人员 · 已邀请" in html and "乡镇 · 已开通" in html and "账号 · 已登录" in html
    assert ">staff.invite<" not in html and ">users<" not in html  # no raw keys or table names as text
    other = app.test_client()
    page_login(other, "alpha", "vadmin")
    assert other.get("/t/alpha/audit/").status_code == 403
    api = app.test_client()
    entries = api.get("/api/v1/t/alpha/audit/", headers=bearer(api_token(api, "alpha", "admin"))).get_json()
    invite = next(e for e in entries if e["action"] == "staff.invite")
    assert invite["action_label"] == "工作人员 · 已邀请" and invite["object_label"] == "账号"


def _recorded_actions() -> set[str]:
    """Every audit action the code records: literal keys passed to the audit writers (or in the
    (actor, action, object, details) tuples given to `record_many`), and the composed ones expanded."""
    import ast
    from pathlib import Path

    import jifen
    from jifen.tenants.points.workflow import STEPS
    from jifen.tenants.store.service import USER_KINDS

    key = re.compile(r"[a-z_]+\.[a-z_]+")
    writers = {"record", "_county_record", "_set_status"}
    found = set()
    for path in Path(jifen.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            args = []
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in writers:
                args = node.args
            elif isinstance(node, ast.Tuple) and len(node.elts) == 4 and isinstance(node.elts[0], ast.Name):
                args = node.elts[1:2]
            found |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                      and key.fullmatch(a.value)}
    composed = ({f"application.{step}" for step in STEPS} | {"order.cancel", "order.expire", "honour.confirm",
                "honour.decline"} | {f"stock.{kind}" for kind in USER_KINDS}
                | {f"{kind}.{step}" for kind in ("rulebook_version", "village_rulebook") for step in ("adopt", "retire")})
    return found | composed


def test_every_recorded_action_has_words_in_both_languages(app):
    from flask_babel import force_locale

    from jifen.platform.audit.labels import OBJECTS, action_label, object_label, unlabelled

    actions = _recorded_actions()
    assert len(actions) > 100 and {"account.login", "order.place", "staff.invite"} <= actions
    with app.test_request_context():
        assert unlabelled(actions) == []
        with force_locale("zh_CN"):
            assert action_label("account.login") == "账号 · 已登录"
            assert object_label("store_orders") == "兑换订单"
            assert all(re.search(r"[\u4e00-\u9fff]", action_label(a)) for a in actions)
            assert all(re.search(r"[\u4e00-\u9fff]", object_label(t)) for t in OBJECTS if t != "none")
        with force_locale("en"):
            assert action_label("account.login") == "Account · signed in"
            assert object_label("store_orders") == "Store order"
