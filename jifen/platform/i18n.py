"""Languages: zh_CN by default, en on request; the user's pick sticks (session and account).

Flask-Babel normalises zh_CN to zh_Hans_CN, so the Chinese catalog lives in
translations/zh_Hans_CN/ (a catalog under zh_CN/ would be silently ignored).
"""
from __future__ import annotations

from pathlib import Path

from flask import current_app, g, request, session
from flask_babel import Babel, get_locale

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


def init_app(app) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
