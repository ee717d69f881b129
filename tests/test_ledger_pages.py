"""The household's points pages: home, passbook with corrections, the civility file, settings, inbox."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from jifen.platform.db import db
from jifen.platform.roles.authz import Actor
from jifen.platform.tenancy import tenant_get
from jifen.tenants.notifications.service import notify
from jifen.tenants.points import posting
from jifen.tenants.points.applications import settings
from jifen.tenants.points.models import LedgerTransaction
from tests.conftest import CSRF_RE, page_login
from tests.test_notices_pages import form_token, in_alpha, on_notice


def posted(app, world, pw):
    """One posted entry (+5) for household 1; returns its transaction id."""
    _app_id, _nid, _token, closes_on = on_notice(app, world, pw)
    with in_alpha(app, world):
        posting.nightly(Actor.system(), today=closes_on + timedelta(days=1))
        return db.session.execute(select(LedgerTransaction.id)).scalar_one()


def test_home_shows_balances_and_me_redirects(client, app, world, pw):
    posted(app, world, pw)
    assert page_login(client, "alpha", "villager").status_code == 302
    me = client.get("/t/alpha/ledger/me")
    assert me.status_code == 302 and me.headers["Location"].endswith(f"/ledger/households/{pw.household}")
    html = client.get(f"/t/alpha/ledger/households/{pw.household}").get_data(as_text=True)
    assert '<div class="lg-balance" id="earned"><span class="lg-num">5</span>' in html
    assert "lg-apply" in html and f"/ledger/households/{pw.household}/passbook" in html
    assert client.get(f"/t/alpha/ledger/households/{pw.household2}").status_code == 404  # not theirs
    # the staff household page shows the balances with a link to the passbook
    staff = app.test_client()
    page_login(staff, "alpha", world.a.username())
    detail = staff.get(f"/t/alpha/households/{pw.household}").get_data(as_text=True)
    assert 'id="points"' in detail and f"/ledger/households/{pw.household}/passbook" in detail


def test_passbook_shows_entry_and_correction(client, app, world, pw):
    tx_id = posted(app, world, pw)
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    book = client.get(f"/t/alpha/ledger/households/{pw.household}/passbook").get_data(as_text=True)
    assert f'id="t-{tx_id}" data-points="5"' in book and "测试项S1" in book
    url = f"/t/alpha/ledger/entries/{tx_id}/correct"
    assert url in book
    csrf = form_token(client, url)
    bad = client.post(url, data={"points": "2", "reason": "", "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="e-reason"' in bad.get_data(as_text=True)
    ok = client.post(url, data={"points": "2", "reason": "只有半天", "csrf_token": csrf})
    assert ok.status_code == 302
    book = client.get(f"/t/alpha/ledger/households/{pw.household}/passbook").get_data(as_text=True)
    assert 'class="lg-entry lg-correction"' in book and 'data-points="-3"' in book and "只有半天" in book
    assert '<strong id="earned">2</strong>' in book
    with in_alpha(app, world):
        assert tenant_get(LedgerTransaction, tx_id).points == 5  # the original stays


def test_correction_by_non_admin_is_403(client, app, world, pw):
    tx_id = posted(app, world, pw)
    assert page_login(client, "alpha", "villager").status_code == 302
    book = client.get(f"/t/alpha/ledger/households/{pw.household}/passbook").get_data(as_text=True)
    assert "lg-correct" not in book
    url = f"/t/alpha/ledger/entries/{tx_id}/correct"
    assert client.get(url).status_code == 403
    csrf = CSRF_RE.search(book).group(1)
    assert client.post(url, data={"points": "0", "reason": "x", "csrf_token": csrf}).status_code == 403
    with in_alpha(app, world):
        assert len(db.session.execute(select(LedgerTransaction)).all()) == 1


def test_civility_file_lists_entries_and_signatures_heading(client, app, world, pw):
    posted(app, world, pw)
    assert page_login(client, "alpha", "villager").status_code == 302
    html = client.get(f"/t/alpha/ledger/households/{pw.household}/file").get_data(as_text=True)
    assert "张三伟" in html and "测试项S1" in html and "lg-signatures" in html


def test_settings_validation_names_the_field(client, app, world, pw):
    assert page_login(client, "alpha", world.a.username()).status_code == 302
    csrf = form_token(client, "/t/alpha/ledger/settings")
    bad = client.post("/t/alpha/ledger/settings", data={"quorum": "12", "notice_days": "7", "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="e-quorum"' in bad.get_data(as_text=True)
    ok = client.post("/t/alpha/ledger/settings", data={"quorum": "3", "notice_days": "7", "csrf_token": csrf})
    assert ok.status_code == 302
    with in_alpha(app, world):
        assert (settings().quorum, settings().notice_days) == (3, 7)
    villager = app.test_client()
    page_login(villager, "alpha", "villager")
    assert villager.get("/t/alpha/ledger/settings").status_code == 403


def test_inbox_shows_own_household_only_and_marks_read(client, app, world, pw):
    with in_alpha(app, world):
        notify(pw.household, "corrected", "t1", item="打扫卫生", points=3, reason="核对")
        notify(pw.household2, "corrected", "t2", item="邻居的事", points=1, reason="核对")
        db.session.commit()
    assert page_login(client, "alpha", "villager").status_code == 302
    html = client.get("/t/alpha/inbox/").get_data(as_text=True)
    assert "打扫卫生" in html and "邻居的事" not in html and "ib-unread" in html
    csrf = CSRF_RE.search(html).group(1)
    assert client.post("/t/alpha/inbox/read", data={"csrf_token": csrf}).status_code == 302
    assert "ib-unread" not in client.get("/t/alpha/inbox/").get_data(as_text=True)
