"""The message catalogs: complete, in step with the sources, compiled, and actually used.

Chinese (zh_CN) is the default language. Flask-Babel normalises zh_CN to zh_Hans_CN, so the
catalog lives in translations/zh_Hans_CN/. After changing any _() string, run `make i18n`
(extract, update, compile) and translate the new entries in the zh_Hans_CN catalog.
"""
from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("zh_Hans_CN", "en")
# keep in step with the i18n-extract target in the Makefile
EXTRACT_KEYWORDS = ("_l", "lazy_gettext")
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
FIX = "run `make i18n` and translate the new entries in translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def _po(locale: str):
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _read(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def _placeholders(*texts: str) -> set[str]:
    return {p for t in texts for p in PLACEHOLDER.findall(t or "")}


def test_chinese_catalog_lives_where_flask_babel_looks():
    assert _po("zh_Hans_CN").is_file()
    assert not (TRANSLATIONS / "zh_CN").exists(), "Flask-Babel ignores translations/zh_CN/; use zh_Hans_CN/"


def test_every_message_has_a_chinese_translation_with_the_same_placeholders():
    template, zh = _read(POT), _read(_po("zh_Hans_CN"))
    assert zh.num_plurals == 1, "Chinese has one plural form"
    problems = []
    for tmsg in template:
        if not tmsg.id:
            continue
        msg = zh.get(tmsg.id, tmsg.context)  # pgettext: the same words in another sense
        if msg is None:
            problems.append(f"missing: {tmsg.id!r}")
            continue
        if msg.fuzzy:
            problems.append(f"fuzzy: {tmsg.id!r}")
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        wanted = _placeholders(*ids)
        for s in strings:
            if not s or not s.strip():
                problems.append(f"untranslated: {tmsg.id!r}")
            elif _placeholders(s) != wanted:
                problems.append(f"placeholders differ: {tmsg.id!r} -> {s!r} "
                                f"(want {sorted(wanted)}, got {sorted(_placeholders(s))})")
    for msg, errors in zh.check():  # babel's own checks: format types, plural forms
        problems.extend(f"{msg.id!r}: {e}" for e in errors)
    assert not problems, f"{FIX}:\n" + "\n".join(problems)


def test_pot_is_up_to_date_with_the_sources(tmp_path):
    fresh = tmp_path / "messages.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg")]
    for k in EXTRACT_KEYWORDS:
        argv += ["-k", k]
    argv += ["--no-location", "--sort-output", "-o", str(fresh), str(ROOT)]
    CommandLineInterface().run(argv)
    extracted, committed = _ids(_read(fresh)), _ids(_read(POT))
    new, gone = sorted(map(str, extracted - committed)), sorted(map(str, committed - extracted))
    assert extracted == committed, (
        f"translations/messages.pot is out of date; {FIX}.\n"
        f"new in the sources: {new}\nno longer in the sources: {gone}")


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_follow_the_pot(locale):
    assert _ids(_read(_po(locale))) == _ids(_read(POT)), f"the {locale} catalog is out of date; {FIX}"


@pytest.mark.parametrize("locale", LOCALES)
def test_committed_mo_is_compiled_from_the_po(locale):
    buf = io.BytesIO()
    write_mo(buf, _read(_po(locale)))
    buf.seek(0)
    expected = gettext.GNUTranslations(buf)._catalog
    mo = _po(locale).with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing; run `make i18n-compile`"
    with mo.open("rb") as f:
        committed = gettext.GNUTranslations(f)._catalog
    expected.pop("", None), committed.pop("", None)  # the header carries dates and tool versions
    assert committed == expected, f"{mo.relative_to(ROOT)} is stale; run `make i18n-compile`"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _without_language_switch(html: str) -> str:
    """The switch names each language in itself ("中文"), whatever the page's language."""
    return re.sub(r'<form[^>]*class="lang".*?</form>', "", html, flags=re.S)


@pytest.fixture
def i18n_app(tmp_path):
    from jifen import create_app

    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "x.db"),
                       "RATELIMIT_ENABLED": False, "SECRET_KEY": "test-i18n"})


def test_pages_are_chinese_by_default_and_english_on_request(i18n_app):
    client = i18n_app.test_client()
    page = client.get("/county/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "县级运营方登录" in html and "登录" in html and "用户名" in html
    assert "County operator sign-in" not in html and "Username" not in html

    switched = client.post("/lang", data={"locale": "en", "next": "/county/login", "csrf_token": _csrf(html)})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/county/login")

    for _ in range(2):  # the pick sticks across requests
        html = client.get("/county/login").get_data(as_text=True)
        assert 'lang="en"' in html
        assert "County operator sign-in" in html and "Sign in" in html and "Username" in html
        assert not CJK.findall(_without_language_switch(html)), "Chinese text left on an English page"

    back = client.post("/lang", data={"locale": "zh_CN", "next": "/county/login", "csrf_token": _csrf(html)})
    assert back.status_code == 302
    assert "县级运营方登录" in client.get("/county/login").get_data(as_text=True)


def test_browser_language_does_not_override_the_chinese_default(i18n_app):
    html = i18n_app.test_client().get("/county/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(
        as_text=True)
    assert 'lang="zh-CN"' in html and "县级运营方登录" in html
    assert "County operator sign-in" not in html


def test_lazy_labels_and_plurals_translate(i18n_app):
    from flask_babel import force_locale, ngettext

    from jifen.platform.roles.registry import ROLES

    with i18n_app.test_request_context("/"):
        with force_locale("zh_CN"):
            assert str(ROLES["grid_worker"].label) == "网格员"
            assert ngettext("%(num)d account", "%(num)d accounts", 3) == "3 个账号"
        with force_locale("en"):
            assert str(ROLES["grid_worker"].label) == "Grid worker"
            assert ngettext("%(num)d account", "%(num)d accounts", 1) == "1 account"
            assert ngettext("%(num)d account", "%(num)d accounts", 3) == "3 accounts"


def test_error_pages_speak_the_readers_language(i18n_app):
    """A wrong address or method gets the error page in Chinese by default (not werkzeug's English),
    and in English once the reader picked it; the API's error message likewise."""
    client = i18n_app.test_client()
    for path, method in (("/no-such-page", "get"), ("/county/no-such-page", "get"), ("/county/login", "put")):
        resp = getattr(client, method)(path)
        assert resp.status_code in (404, 405)
        html = _without_language_switch(resp.get_data(as_text=True))
        assert 'lang="zh-CN"' in html and "请求编号" in html
        assert ("您要找的页面不存在" if resp.status_code == 404 else "不接受") in html
        assert "requested URL" not in html and "not allowed" not in html
    body = client.get("/api/v1/no-such-thing").get_json()
    assert body["code"] == 404 and body["message"] == "您要找的页面不存在。"

    html = client.get("/county/login").get_data(as_text=True)
    client.post("/lang", data={"locale": "en", "next": "/county/login", "csrf_token": _csrf(html)})
    html = _without_language_switch(client.get("/no-such-page").get_data(as_text=True))
    assert "Not found" in html and "The page you asked for does not exist." in html
    assert not CJK.findall(html), "Chinese text left on an English error page"
