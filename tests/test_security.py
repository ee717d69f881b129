"""Issue 11 security items: where sign-in sends you next, the shared sign-in lock-out, the 401
for a bad token, response headers (CSP, no-store) and the password blocklist."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import PASSWORD, api_token, bearer, csrf_token

# `next` values that a browser would follow to another site once sent (a tab or newline inside a
# URL is dropped, a backslash read as a slash), or that cannot be sent as a header at all
OFF_SITE = ["/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example/", "//evil.example/",
            "/\\evil.example/", "\\\\evil.example/", "\\/evil.example/", "https://evil.example/",
            "http:evil.example", " //evil.example/", "\t//evil.example/", "/\x0b/evil.example/",
            "/\u200b/evil.example/", "javascript:alert(1)", "evil.example"]
ENTRY_POINTS = {  # (path of the form, path it posts to, where it goes when `next` is refused)
    "township sign-in": ("/t/alpha/login", "/t/alpha/login", "/t/alpha/"),
    "county sign-in": ("/county/login", "/county/login", "/county/"),
    "language switch": ("/t/alpha/login", "/lang", "/"),
}


def _post_with_next(client, entry: str, nxt: str):
    form_path, post_path, _home = ENTRY_POINTS[entry]
    data = {"csrf_token": csrf_token(client, form_path)}
    if entry == "language switch":
        data["locale"] = "en"
    else:
        data |= {"username": "op" if entry == "county sign-in" else "admin", "password": PASSWORD}
    # sent encoded in the query string, as a link would carry it (`next=%2F%09%2Fevil.example%2F`)
    return client.post(f"{post_path}?next={quote(nxt, safe='')}", data=data)


@pytest.fixture
def unthrottled(make_app, clean, world):
    """An app whose sign-in limits leave room for many sign-ins in a row."""
    return make_app(LOGIN_LIMIT_PER_ACCOUNT="1000 per minute", LOGIN_LIMIT_PER_IP="1000 per minute")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_next_never_leads_off_the_site(unthrottled, entry):
    for nxt in OFF_SITE:
        resp = _post_with_next(unthrottled.test_client(), entry, nxt)
        assert resp.status_code == 302, nxt
        location = resp.headers["Location"]
        assert location == ENTRY_POINTS[entry][2], (nxt, location)
        assert not urlsplit(location.replace("\\", "/")).netloc


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_next_on_this_site_is_followed(unthrottled, entry):
    nxt = "/t/alpha/villages/?q=%E5%AE%98%2F%2Fx"
    resp = _post_with_next(unthrottled.test_client(), entry, nxt)
    assert resp.status_code == 302 and resp.headers["Location"] == nxt


# --- sign-in lock-out ----------------------------------------------------------------------------

def _page(client, slug, username, password):
    path = f"/t/{slug}/login" if slug else "/county/login"
    return client.post(path, data={"username": username, "password": password,
                                   "csrf_token": csrf_token(client, path)})


def _api(client, slug, username, password):
    path = f"/api/v1/t/{slug}/auth/token" if slug else "/api/v1/county/auth/token"
    return client.post(path, json={"username": username, "password": password})


@pytest.mark.parametrize("slug,username", [("alpha", "admin"), (None, "op")], ids=["township", "county"])
@pytest.mark.parametrize("guess_by,then_by", [(_api, _page), (_page, _api)], ids=["api-then-page", "page-then-api"])
def test_wrong_passwords_lock_the_account_on_every_sign_in_door(app, world, slug, username, guess_by, then_by):
    """Five wrong guesses through one door lock the account on the other door too, from anywhere,
    and the 429 says when to come back."""
    for i in range(5):
        assert guess_by(app.test_client(), slug, username, f"wrong-{i}").status_code in (401, 422)
    resp = then_by(app.test_client(), slug, username, PASSWORD)
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 62  # the minute window, rounded up


@pytest.mark.services  # needs Redis: runs in the services pass, with the other Redis tests
def test_the_shared_lock_out_holds_with_redis_storage(make_app, clean, world):
    """Production keeps the counters in Redis: the page and the API still share them."""
    from tests.conftest import REDIS_URL, require

    require("Redis", bool(REDIS_URL), "(set JIFEN_TEST_REDIS_URL)")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    api_app, page_app = (make_app(REDIS_URL=REDIS_URL, RATELIMIT_STORAGE_URI=REDIS_URL) for _ in range(2))
    for i in range(5):
        assert _api(api_app.test_client(), "alpha", "admin", f"wrong-{i}").status_code == 401
    resp = _page(page_app.test_client(), "alpha", "admin", PASSWORD)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    redis.Redis.from_url(REDIS_URL).flushdb()


def test_the_address_limit_is_shared_by_page_and_api(make_app, clean, world):
    app = make_app(LOGIN_LIMIT_PER_IP="3 per minute")
    client = app.test_client()
    assert _api(client, "alpha", "a1", "x").status_code == 401
    assert _page(client, "alpha", "a2", "x").status_code == 422
    assert _api(client, None, "a3", "x").status_code == 401
    resp = _page(client, "alpha", "admin", PASSWORD)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("body", ['"AAA"', "[1, 2]", "3", "null"])
def test_a_token_request_whose_json_is_not_an_object_is_a_422_not_a_500(app, world, body):
    for path in ("/api/v1/t/alpha/auth/token", "/api/v1/county/auth/token"):
        resp = app.test_client().post(path, data=body, content_type="application/json")
        assert resp.status_code == 422, (path, body, resp.status_code)


# --- 401 for a token that is not valid -----------------------------------------------------------

def test_a_401_says_whether_the_token_was_missing_or_not_valid(app, world):
    """(The township's language is Chinese: 请先登录 = sign in first; 无效或已过期 = invalid or expired.)"""
    client = app.test_client()
    missing = client.get("/api/v1/t/alpha/me")
    assert missing.status_code == 401 and "请先登录" in missing.get_json()["message"]
    token = api_token(client, "alpha", "admin")
    client.delete(f"/api/v1/t/alpha/tokens/{_token_id(client, token)}", headers=bearer(token))
    for header in ({"Authorization": "Bearer not-a-token"}, bearer(token[:-4] + "AAAA"), bearer(token)):
        resp = client.get("/api/v1/t/alpha/me", headers=header)
        assert resp.status_code == 401
        message = resp.get_json()["message"]
        assert "无效或已过期" in message and "请先登录" not in message


def _token_id(client, token):
    return next(t["id"] for t in client.get("/api/v1/t/alpha/tokens", headers=bearer(token)).get_json())


# --- the password blocklist ----------------------------------------------------------------------

def _change_password(client, slug, new):
    return client.post(f"/t/{slug}/account", data={
        "form": "password", "current": PASSWORD, "password": new, "confirm": new,
        "csrf_token": csrf_token(client, f"/t/{slug}/account")})


@pytest.mark.parametrize("slug,new,refused", [
    ("alpha", "starwars2024", True),  # in the common-password list (its stem: trailing digits dropped)
    ("alpha", "Manchester", True),  # (compared in lower case)
    ("alpha", "Longwo-River-7", True),  # the township's name in pinyin (龙窝镇)
    ("alpha", "龙窝-Quiet-River", True),  # its name
    ("alpha", "Alpha-Quiet-River", True),  # its slug
    ("beta", "Longwo-River-7", False),  # another township's name is no weakness here
    ("beta", "Jiuhe-River-77", True),  # but its own (九和镇) is
    ("alpha", "Quiet-Harbour-2031", False),
])
def test_new_passwords_are_checked_against_common_passwords_and_the_townships_own_name(
        app, world, slug, new, refused):
    from tests.conftest import page_login

    client = app.test_client()
    assert page_login(client, slug, "admin").status_code == 302
    resp = _change_password(client, slug, new)
    assert resp.status_code == (422 if refused else 200)
    assert ('id="e-password"' in resp.get_data(as_text=True)) is refused


# --- response headers ----------------------------------------------------------------------------

def _nonce(resp) -> str:
    import re

    policy = resp.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    return re.search(r"'nonce-([^']+)'", policy).group(1)


def test_pages_carry_a_csp_their_inline_blocks_satisfy_and_private_answers_are_not_stored(app, world):
    import re

    from tests.conftest import page_login

    client = app.test_client()
    login = client.get("/t/alpha/login")
    assert "Cache-Control" not in login.headers or "no-store" not in login.headers["Cache-Control"]
    assert page_login(client, "alpha", "admin").status_code == 302
    for path in ("/t/alpha/", "/t/alpha/account", "/t/alpha/activities/new", "/t/alpha/no-such-page"):
        resp = client.get(path)
        nonce = _nonce(resp)
        assert resp.headers["Cache-Control"] == "no-store", path
        html = resp.get_data(as_text=True)
        blocks = re.findall(r"<(script|style)\b([^>]*)>", html)
        assert all(f'nonce="{nonce}"' in attrs or "src=" in attrs for _tag, attrs in blocks), (path, blocks)
        assert not re.search(r"\son[a-z]+=|javascript:", html), path
    assert "no-store" not in client.get("/static/jifen.css").headers.get("Cache-Control", "")
    docs = client.get("/api/v1/docs")
    assert f'<script nonce="{_nonce(docs)}">' in docs.get_data(as_text=True)
    api = client.get("/api/v1/t/alpha/me", headers=bearer(api_token(client, "alpha", "admin")))
    assert api.headers["Cache-Control"] == "no-store"
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_no_template_needs_inline_script_outside_a_nonce():
    """Every template, including the pages no test above opens (print views, dividends, store). A
    JSON data block (the charts' `<script type="application/json" data-chart>`) is never run."""
    import re
    from pathlib import Path

    import jifen

    bad = []
    for path in Path(jifen.__file__).parent.joinpath("templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for tag, attrs in re.findall(r"<(script|style)\b([^>]*)>", text):
            if "src=" not in attrs and "csp_nonce()" not in attrs and 'type="application/json"' not in attrs:
                bad.append(f"{path.name}: <{tag}> without the nonce")
        bad += [f"{path.name}: {m}" for m in re.findall(r"\son[a-z]+=|javascript:", text)]
    assert not bad
