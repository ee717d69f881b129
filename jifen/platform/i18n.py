"""Languages: zh_CN by default, en on request; the user's pick sticks (session and account).

Flask-Babel normalises zh_CN to zh_Hans_CN, so the Chinese catalog lives in
translations/zh_Hans_CN/ (a catalog under zh_CN/ would be silently ignored).
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app, g, request, session
from flask_babel import Babel, get_locale, get_translations

babel = Babel()
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    picked = session.get("lang") if request else None
    if picked in languages:
        return picked
    actor = g.get("actor")
    if actor is not None and actor.locale in languages:
        return actor.locale
    tenant = g.get("tenant")
    if tenant is not None and tenant.default_locale in languages:
        return tenant.default_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    tenant = g.get("tenant")
    return tenant.timezone if tenant is not None else current_app.config["BABEL_DEFAULT_TIMEZONE"]


def _request_translations():
    """The request's catalog, looked up once: a page has dozens of `_()` and Flask-Babel would
    resolve locale, domain and catalog again for each."""
    translations = g.get("_translations")
    if translations is None:
        translations = g._translations = get_translations()
    return translations


def init_app(app) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.install_gettext_callables(
        lambda message: _request_translations().ugettext(message),
        lambda singular, plural, n: _request_translations().ungettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
