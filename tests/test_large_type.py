"""Elder-friendly pages (issue 14): large type switched on once is remembered (the phone's session
before sign-in, the account after), in both languages; the read-aloud button and the table cards
are on the villager's passbook, messages and public notice."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from jifen.platform.accounts.models import User
from jifen.platform.db import db
from jifen.platform.tenancy import tenant_scope
from jifen.platform.townships.models import Tenant
from tests.conftest import csrf_token, page_login

LARGE = re.compile(r'<html lang="[^"]+" class="large">')


def _large(client, path: str) -> bool:
    return bool(LARGE.search(client.get(path).get_data(as_text=True)))


def _switch(client, path: str, action: str, value: str, **extra):
    return client.post(action, data={"large_type": value, "next": path, "csrf_token": csrf_token(client, path),
                                     **extra})


def _stored(app, world, username: str) -> bool:
    with app.app_context(), tenant_scope(db.session.get(Tenant, world.a.tenant_id)):
        return db.session.execute(select(User.large_type).where(User.username == username)).scalar_one()


@pytest.mark.parametrize("locale, switch_on, switch_off", [("zh_CN", "大字", "标准字"), ("en", "Large type", "Standard type")])
def test_large_type_is_saved_on_the_account_and_follows_the_villager(app, world, pw, locale, switch_on, switch_off):
    phone = app.test_client()
    page_login(phone, "alpha", "villager")
    phone.post("/t/alpha/lang", data={"locale": locale, "next": "/t/alpha/", "csrf_token": csrf_token(phone, "/t/alpha/")})
    page = phone.get("/t/alpha/").get_data(as_text=True)
    assert not LARGE.search(page) and f'value="on" class="link">{switch_on}</button>' in page
    resp = _switch(phone, "/t/alpha/inbox/", "/t/alpha/type-size", "on")
    assert resp.status_code == 302 and resp.headers["Location"] == "/t/alpha/inbox/"
    page = phone.get("/t/alpha/inbox/").get_data(as_text=True)
    assert LARGE.search(page) and f'value="off" class="link">{switch_off}</button>' in page
    assert _stored(app, world, "villager") is True

    other_phone = app.test_client()  # never switched there: the account's choice applies
    page_login(other_phone, "alpha", "villager")
    assert _large(other_phone, "/t/alpha/")
    _switch(other_phone, "/t/alpha/", "/t/alpha/type-size", "off")
    assert not _large(other_phone, "/t/alpha/") and _stored(app, world, "villager") is False

    neighbour = app.test_client()  # another villager's account is untouched
    page_login(neighbour, "alpha", "villager2")
    assert not _large(neighbour, "/t/alpha/")


def test_large_type_picked_before_sign_in_is_kept_and_stored(app, world, pw):
    phone = app.test_client()
    _switch(phone, "/t/alpha/login", "/type-size", "on")
    assert _large(phone, "/t/alpha/login")  # the sign-in page itself is in large type
    page_login(phone, "alpha", "villager")
    assert _large(phone, "/t/alpha/")
    assert _stored(app, world, "villager") is True
    phone.post("/t/alpha/logout", data={"csrf_token": csrf_token(phone, "/t/alpha/")})
    assert _large(phone, "/t/alpha/login")  # the phone keeps it after signing out


def test_a_bad_type_size_is_refused_and_changes_nothing(app, world, pw):
    phone = app.test_client()
    page_login(phone, "alpha", "villager")
    assert _switch(phone, "/t/alpha/", "/t/alpha/type-size", "huge").status_code == 400
    assert _switch(phone, "/t/alpha/", "/type-size", "").status_code == 400
    assert not _large(phone, "/t/alpha/") and _stored(app, world, "villager") is False
    off_site = _switch(phone, "/t/alpha/", "/t/alpha/type-size", "on", next="//evil.example/")
    assert off_site.headers["Location"] == "/t/alpha/"


@pytest.mark.parametrize("locale, read", [("zh_CN", "朗读"), ("en", "Read aloud")])
def test_passbook_and_messages_have_read_aloud_and_passbook_rows_carry_labels(app, pw, locale, read):
    phone = app.test_client()
    page_login(phone, "alpha", "villager")
    phone.post("/t/alpha/lang", data={"locale": locale, "next": "/t/alpha/", "csrf_token": csrf_token(phone, "/t/alpha/")})
    for path in (f"/t/alpha/ledger/households/{pw.household}/passbook", "/t/alpha/inbox/"):
        page = phone.get(path).get_data(as_text=True)
        assert re.search(rf"<button type=\"button\" class=\"read-aloud no-print\" data-read-aloud [^>]*hidden>{read}</button>",
                         page), path
    assert 'class="table lg-table cards"' in phone.get(f"/t/alpha/ledger/households/{pw.household}/passbook").get_data(
        as_text=True)
