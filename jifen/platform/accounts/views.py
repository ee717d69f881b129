"""Sign-in pages for both realms, the setup link page, the language and type-size switches and
own-account pages."""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from jifen.platform import form_resume
from jifen.platform.accounts import service as accounts
from jifen.platform.accounts.models import User
from jifen.platform.console import own_home, register_tile, tiles_for
from jifen.platform.ratelimit import login_limits
from jifen.platform.web import current_actor, public, submit

bp = Blueprint("township", __name__, url_prefix="/t/<tenant_slug>")
lang_bp = Blueprint("lang", __name__)
register_tile("township.account", _l("My account"), "account.view", order=95)


def _safe_next(default: str) -> str:
    """Where to go after signing in or switching language: `next` if it is a path on this site,
    else `default`. Judged as a browser will read it once sent: browsers drop tabs and newlines
    inside a URL and read a backslash as a slash, so `/<tab>/evil.example` and `/\\evil.example` both
    mean `//evil.example`, another site. So any control or format character or backslash is refused
    outright, and what is left must be a path with no scheme and no host."""
    nxt = request.values.get("next", "")
    if "\\" in nxt or any(unicodedata.category(c)[0] == "C" for c in nxt):
        return default
    parts = urlsplit(nxt)
    if parts.scheme or parts.netloc or not nxt.startswith("/") or nxt.startswith("//"):
        return default
    return nxt


def sign_in_page(model, template: str, home: str):
    """GET shows the form; POST checks the password, starts a new session, goes on (and sends again
    a form whose session had expired, see `form_resume`)."""
    errors, username = {}, request.form.get("username", "")
    carried = form_resume.carried_fields() if request.method == "POST" else []
    if request.method == "POST":
        account = accounts.authenticate(model, username, request.form.get("password", ""))
        if account is None:
            errors["password"] = [_("Wrong username or password.")]
        else:
            lang = session.get("lang")
            if lang:  # a language picked on the sign-in page is this person's choice: keep it
                account.locale = lang
            if session.get("large_type") is not None:  # so is the type size
                account.large_type = session["large_type"]
            token = accounts.start_session(account)
            _fresh_session()  # nothing from before sign-in survives but the language and type size
            session["auth"] = token
            session.permanent = True
            nxt = _safe_next(url_for(home))
            action = form_resume.target(nxt) if carried and nxt == request.values.get("next") else None
            if action is not None:
                return render_template("township/resume_form.html", action=action, fields=carried)
            return redirect(nxt)
    resume = {"fields": carried, "files": False, "next": request.values.get("next", "")} if carried else None
    return render_template(template, errors=errors, username=username, resume=resume), (422 if errors else 200)


def sign_out():
    token = session.get("auth")
    if token:
        accounts.end_session(token)
    _fresh_session()


KEPT = ("lang", "large_type")  # the phone's own choices, kept through sign-in and sign-out


def _fresh_session() -> None:
    kept = {key: session[key] for key in KEPT if key in session}
    session.clear()
    session.update(kept)


@bp.route("/login", methods=["GET", "POST"])
@public
@login_limits
def login():
    return sign_in_page(User, "township/login.html", "township.home")


@bp.post("/logout")
@public
def logout():
    sign_out()
    response = redirect(url_for("township.login"))
    # what a phone kept for this person (the offline capture app's IndexedDB, its service worker
    # and cached shell) goes with the session: the next person on this phone sees none of it
    response.headers["Clear-Site-Data"] = '"storage"'
    return response


@bp.route("/setup/<secret>", methods=["GET", "POST"])
@public
def setup(secret):
    link, user = accounts.find_setup_link(secret)
    errors = {}
    if request.method == "POST":
        _user, errors = submit(accounts.complete_setup, secret, request.form.get("password", ""),
                               request.form.get("confirm", ""))
        if not errors:
            return redirect(url_for("township.login", done=1))
    return render_template("township/setup.html", user=user, errors=errors), (422 if errors else 200)


@bp.route("/")
def home():
    """A villager's own home where a capability gives one; staff keep their tiles."""
    actor = current_actor()
    return own_home(actor) or render_template("township/home.html", tiles=tiles_for(actor))


ACCOUNT_FORMS = {  # the account page's three forms, by their hidden `form` field
    "password": lambda actor, f: accounts.change_password(actor, f.get("current", ""), f.get("password", ""),
                                                          f.get("confirm", "")),
    "token": lambda actor, f: accounts.create_token(actor, f.get("name", ""))[1],
    "revoke": lambda actor, f: accounts.revoke_token(actor, f.get("token_id")),
}


@bp.route("/account", methods=["GET", "POST"])
def account():
    actor, errors, new_token = current_actor(), {}, None
    if request.method == "POST":
        which = request.form.get("form")
        if which not in ACCOUNT_FORMS:
            abort(400)
        result, errors = submit(ACCOUNT_FORMS[which], actor, request.form)
        new_token = result if which == "token" else None
    return render_template("township/account.html", errors=errors, new_token=new_token,
                           tokens=accounts.list_tokens(actor)), (422 if errors else 200)


@lang_bp.post("/lang")
@public
def set_language():
    """Any page's language switch: remember in the session and, when signed in, on the account."""
    locale = request.form.get("locale", "")
    if locale not in current_app.config["LANGUAGES"]:
        abort(400)
    session["lang"] = locale
    actor = current_actor()  # township users are resolved only on township routes: see below
    if actor is not None and actor.kind == "operator":
        actor.account.locale = actor.locale = locale
    return redirect(_safe_next("/"))


def _large_type_choice() -> bool:
    choice = request.form.get("large_type", "")
    if choice not in ("on", "off"):
        abort(400)
    return choice == "on"


@lang_bp.post("/type-size")
@public
def set_type_size():
    """Any page's large-type switch: remembered in the session (the phone) and, when signed in, on
    the account (every phone the person signs in on)."""
    on = _large_type_choice()
    session["large_type"] = on
    actor = current_actor()
    if actor is not None and actor.kind == "operator":
        accounts.set_large_type(actor, on)
    return redirect(_safe_next("/"))


@bp.post("/type-size")
def set_type_size_signed_in():
    on = _large_type_choice()
    accounts.set_large_type(current_actor(), on)
    session["large_type"] = on
    return redirect(_safe_next(url_for("township.home")))


@bp.post("/lang")
def set_language_signed_in():
    locale = request.form.get("locale", "")
    accounts.set_locale(current_actor(), locale)
    session["lang"] = locale
    return redirect(_safe_next(url_for("township.home")))
