"""The request pipeline every route goes through, once:

1. a request id (from X-Request-ID or new) for logs and the audit log;
2. the tenant from the URL (`tenant_slug`), 404 if unknown, a notice if suspended;
3. who is calling: the session cookie (pages) or a bearer token (API), via Flask-Login;
4. the realm guard: tenant routes need a user of *that* tenant (anyone else gets 404, like a
   missing object), county routes need an operator; views marked `@public` are open;
5. CSRF on every page form (the API takes bearer tokens only, so it has no cookies to forge).
"""
from __future__ import annotations

import re
import uuid

from flask import current_app, g, redirect, render_template, request, request_started, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import event
from sqlalchemy.orm import Session

from jifen.platform import form_resume, headers, unit_of_work
from jifen.platform.accounts import credentials
from jifen.platform.accounts import service as accounts
from jifen.platform.db import db
from jifen.platform.errors import (
    InputConflict,
    Invalid,
    NotFound,
    ServiceError,
    TenantSuspended,
    Unauthenticated,
    service_error_body,
)
from jifen.platform.ratelimit import retry_after
from jifen.platform.request_info import current_actor, is_api_request  # noqa: F401  (current_actor re-exported)
from jifen.platform.roles.registry import ROLES
from jifen.platform.tenancy import set_current_tenant, url_objects_exist
from jifen.platform.townships.lookup import tenant_by_slug

login_manager = LoginManager()
csrf = CSRFProtect()
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def public(view):
    """Mark a view (function or MethodView class) as open to anyone."""
    view.jifen_public = True
    return view


class Principal:
    """What Flask-Login sees as the current user: the actor a valid credential stands for."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, actor):
        self.actor = actor

    def get_id(self):
        return str(self.actor.id)

    @property
    def is_operator(self) -> bool:
        return self.actor.kind == "operator"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


@login_manager.request_loader
def _load_principal(req):
    token = _bearer() if is_api_request() else session.get("auth")
    if not token:
        return None
    found = accounts.resolve(token, api=is_api_request())
    if found is None:
        parsed = credentials.parse(token)
        tenant = g.get("tenant")
        # a credential from elsewhere (another tenant, or an operator on a tenant route) is a
        # principal of another realm: tenant routes answer it with 404, not a login prompt
        if parsed and tenant is not None and (parsed[0] == "operator" or parsed[1] != tenant.id):
            g.foreign_principal = True
        return None
    return Principal(found[0])


def _is_public() -> bool:
    view = current_app.view_functions.get(request.endpoint)
    return bool(getattr(view, "jifen_public", False) or getattr(getattr(view, "view_class", None), "jifen_public", False))


READ_METHODS = ("GET", "HEAD", "OPTIONS")


def _read_only_requests_autocommit() -> None:
    """A GET reads: its first query opens the connection in autocommit, which saves the BEGIN and
    ROLLBACK round trips (two of the four a typical page costs); requests that never query (static
    files, /healthz) take no connection at all. A GET that tries to write is refused."""
    if request.method in READ_METHODS:
        db.session.info["read_only"] = True


@event.listens_for(Session, "do_orm_execute")
def _autocommit_reads(state) -> None:
    session = state.session
    if session.info.get("read_only") and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@event.listens_for(Session, "before_flush")
def _no_writes(session, flush_context, instances) -> None:
    if session.info.get("read_only") and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a GET request tried to write; writes belong in POST/PUT/PATCH/DELETE")


def _end_request(exc) -> None:
    db.session.info.pop("read_only", None)
    db.session.info.pop("kept_rows", None)


def _resolve_tenant(endpoint, values) -> None:
    _read_only_requests_autocommit()  # url value preprocessors run before before_request
    if not values or "tenant_slug" not in values:
        return
    slug = values.pop("tenant_slug")
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise NotFound(_("Not found."))
    set_current_tenant(tenant)
    g.tenant_slug = slug


def _assign_request_id(sender, **extra) -> None:
    """First thing in a request (before the URL's tenant is looked up), so that every log line of
    the request carries it (see logs.py): the caller's X-Request-ID (nginx's) if well formed, else new."""
    rid = request.headers.get("X-Request-ID", "")
    g.request_id = rid if REQUEST_ID_RE.match(rid) else uuid.uuid4().hex


def _before_request():
    _read_only_requests_autocommit()
    if request.endpoint is None:
        return None
    tenant = g.get("tenant")
    user = current_user
    principal = user if getattr(user, "is_authenticated", False) else None
    if principal is not None:
        g.actor = principal.actor  # also gives the notice below its language
    if tenant is not None and not tenant.is_active:
        raise TenantSuspended(_("This township's service is suspended. Its data is kept; "
                                "contact the county operator."))
    denied = None if _is_public() else _realm_guard(tenant, principal)
    if denied is not None:
        return denied
    if tenant is not None and not url_objects_exist(request.view_args):
        raise NotFound(_("Not found."))
    if not is_api_request() and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    _refuse_nul_characters()
    return None


def _nul_field(value, name: str = "") -> str | None:
    """The name of the first field whose text holds a NUL character (None if none does)."""
    if isinstance(value, str):
        return name or "body" if "\x00" in value else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((f"{name}.{i}" if name else str(i), v) for i, v in enumerate(value))
        return next((f for k, v in items if (f := _nul_field(v, k))), None)
    else:
        return None
    return next((f for k, v in items if (f := _nul_field(v, f"{name}.{k}" if name else str(k)))), None)


def _refuse_nul_characters() -> None:
    """No text anywhere may carry a NUL character: PostgreSQL cannot store one, and no person
    types one. Refused once here, for every form, query string and JSON body, naming the field."""
    field = _nul_field(request.args.to_dict()) or _nul_field(request.form.to_dict(flat=False))
    if field is None and request.is_json:
        field = _nul_field(request.get_json(silent=True))
    if field is not None:
        raise Invalid.field(field.split(".")[0] if not is_api_request() else field,
                            _("This text holds a character that is not allowed (NUL)."))


def _realm_guard(tenant, principal):
    """None if the caller may reach this route; else a redirect to sign in, or raise 404/401."""
    if tenant is not None:
        if principal is not None and not principal.is_operator:
            return None
        if principal is not None or g.get("foreign_principal"):
            raise NotFound(_("Not found."))
        return _unauthenticated("township.login")
    if request.path.startswith(("/county", "/api/v1/county")):
        if principal is not None and principal.is_operator:
            return None
        if principal is not None:
            raise NotFound(_("Not found."))
        return _unauthenticated("county.login")
    return None


def _unauthenticated(login_endpoint: str):
    if is_api_request():
        if _bearer():
            raise Unauthenticated(_("The token is invalid or has expired: sign in again for a new one."))
        raise Unauthenticated(_("Sign in: send 'Authorization: Bearer <token>'."))
    args = {"next": request.full_path.rstrip("?")}
    if g.get("tenant_slug"):
        args["tenant_slug"] = g.tenant_slug
    fields = form_resume.posted_fields() if login_endpoint == "township.login" else None
    if fields is not None:  # a form sent after the session expired: sign in, then it is sent again
        resume = {"fields": fields, "files": form_resume.had_files(), "next": args["next"]}
        return render_template("township/login.html", errors={}, username="", resume=resume), 401
    return redirect(url_for(login_endpoint, **args))


def _after_request(response):
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return headers.secure(response)


def submit(service_call, *args, **kwargs):
    """Run a service call for a page form: (result, {}), committed with the request (see
    `unit_of_work`), or, when the input is invalid or conflicts with the stored data, roll back and return (None, {field: [messages]})
    for the template to show next to each field. Other service errors go on to the error pages."""
    try:
        return service_call(*args, **kwargs), {}
    except (Invalid, InputConflict) as e:
        db.session.rollback()
        return None, e.errors


def render_error(status: int, message: str = ""):
    db.session.rollback()
    if is_api_request():
        return {"code": status, "status": "error", "message": message}, status
    return render_template("error.html", status=status, message=message), status


def _service_error(err: ServiceError):
    if not g.get("keep_writes"):
        db.session.rollback()
    headers = {"Retry-After": str(err.retry_after)} if getattr(err, "retry_after", None) else {}
    if is_api_request():
        return service_error_body(err), err.status, headers
    if isinstance(err, TenantSuspended):
        return render_template("suspended.html", message=err.message), err.status
    return render_template("error.html", status=err.status, message=err.message), err.status, headers


def _csrf_error(err: CSRFError):
    db.session.rollback()
    return render_template("error.html", status=400,
                           message=_("The form expired or was not sent from this site. "
                                     "Go back, reload the page and try again.")), 400


def _rate_limited(err):
    db.session.rollback()
    message = _("Too many attempts. Wait a minute and try again.")
    wait = {"Retry-After": str(retry_after())}
    if is_api_request():
        return {"code": 429, "status": "rate_limited", "message": message}, 429, wait
    return render_template("error.html", status=429, message=message), 429, wait


def upload_form(render):
    """Mark a page view whose form takes a file: when its request is over MAX_CONTENT_LENGTH (413),
    `render(message)` shows the form again with the message next to the file field, instead of the
    generic error page."""

    def mark(view):
        view.jifen_too_large = render
        return view

    return mark


def _too_large(err):
    """A request body over MAX_CONTENT_LENGTH (a 50 MB photo or spreadsheet): say the limit."""
    db.session.rollback()
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _("The upload is too large: at most %(mb)d MB.", mb=limit // (1024 * 1024))
    if is_api_request():
        return {"code": 413, "status": "too_large", "message": message}, 413
    render = getattr(current_app.view_functions.get(request.endpoint), "jifen_too_large", None)
    if render is not None and g.get("actor") is not None:
        try:
            return render(message), 413
        except ServiceError:
            db.session.rollback()
    return render_template("error.html", status=413, message=message), 413


def _internal_error(err):
    db.session.rollback()
    # no log line here: Flask has just logged the exception ("Exception on … [GET]", with its
    # traceback), and the request id is on that line like on every other (logs.py)
    if is_api_request():
        message = _("Something went wrong on our side (request %(id)s).", id=g.get("request_id", ""))
        return {"code": 500, "status": "error", "message": message}, 500
    # the page shows the request id under every error (error.html)
    return render_template("error.html", status=500, message=_("Something went wrong on our side.")), 500


def init_app(app) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in _before_request for pages only
    csrf.init_app(app)
    login_manager.init_app(app)
    request_started.connect(_assign_request_id, app)
    app.url_value_preprocessor(_resolve_tenant)
    app.before_request(_before_request)
    app.teardown_request(_end_request)
    app.after_request(_after_request)
    app.after_request(unit_of_work.finish_request)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(429, _rate_limited)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(500, _internal_error)
    app.jinja_env.globals["ROLES"] = ROLES
    headers.init_app(app)
