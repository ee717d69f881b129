"""The grid worker's offline capture app (issue 14): an installable page under /t/<slug>/field/.

How it authenticates (docs/decisions.md, "Issue 14: offline capture"): these are page endpoints,
signed in with the page session cookie like every page; the phone's script sends the CSRF token
(`X-CSRFToken`, fetched fresh with the data) and an `Idempotency-Key` per captured record, and the
endpoints answer JSON. The records go through the same services as the pages, and a replayed key
answers the stored answer (`idempotency.answer_once`), so a queue sent twice makes one record.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from jifen.platform import idempotency
from jifen.platform.console import register_tile
from jifen.platform.errors import NotFound, ServiceError
from jifen.platform.roles.authz import authorize
from jifen.platform.web import current_actor, public
from jifen.tenants.points import applications, field
from jifen.tenants.points.workflow import STATE_LABELS

bp = Blueprint("points_field", __name__, url_prefix="/t/<tenant_slug>/field")
register_tile("points_field.app", _l("Offline capture"), "field.capture", order=39)

WORKER = Path(__file__).resolve().parents[2] / "static" / "field-sw.js"


@bp.get("/")
def app():
    """The app shell: the service worker keeps it, the script fills it from the phone's store."""
    actor = current_actor()
    authorize(actor, "field.capture")
    return render_template("points/field.html", user_id=actor.id)


@bp.get("/manifest.webmanifest")
@public
def manifest():
    """What makes the page installable: its name, its start page and the township path as scope."""
    start = url_for("points_field.app")
    body = {"name": _("Jifen offline capture"), "short_name": _("Capture"), "start_url": start, "scope": start,
            "display": "standalone", "background_color": "#ffffff", "theme_color": "#b3261e",
            "lang": "en" if str(get_locale()) == "en" else "zh-CN",
            "icons": [{"src": url_for("static", filename="field-icon.svg"), "sizes": "any", "type": "image/svg+xml"},
                      *({"src": url_for("static", filename=f"field-icon-{n}.png"), "sizes": f"{n}x{n}",
                         "type": "image/png"} for n in (192, 512))]}  # the PNG sizes Chromium's install asks for
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.get("/sw.js")
@public
def service_worker():
    """The service worker, served from the app's own path so that its scope is the township's
    field app and nothing else. It holds no one's data: open to anyone, never kept stale."""
    response = current_app.response_class(WORKER.read_bytes(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/data")
def data():
    """What the phone keeps: the grid's households, the rules in force, and a fresh CSRF token."""
    actor = current_actor()
    return jsonify(field.field_data(actor) | {"user_id": str(actor.id), "csrf_token": generate_csrf()})


def _json(body: dict, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _answer(work):
    """One captured record: 201 with the application, or the refusal naming each field (JSON)."""
    actor = current_actor()
    authorize(actor, "field.capture")
    if not request.headers.get(idempotency.HEADER, "").strip():
        return _json({"message": _("Send an Idempotency-Key header."),
                      "errors": {idempotency.HEADER: [_("Required.")]}}, 400)

    def once():
        form = request.form.to_dict()
        photos = [f for f in request.files.getlist("photos") if f and f.filename]
        try:
            app = work(actor, form.get("household_id"), form, photos)
        except NotFound:
            return _json({"message": _("This household is not in your grid."),
                          "errors": {"household_id": [_("This household is not in your grid.")]}}, 404)
        except ServiceError as err:
            return _json({"message": err.message, "errors": err.errors}, err.status)
        return _json({"id": str(app.id), "state": app.state, "state_label": str(STATE_LABELS.get(app.state, "")),
                      "url": url_for("points_review.detail", application_id=app.id)}, 201)

    return idempotency.answer_once(once)


@bp.post("/records")
def records():
    """A staff record captured on the phone (award or deduction; it starts verified)."""
    return _answer(applications.record_conduct)


@bp.post("/proxy")
def proxy():
    """A proxy application captured on the phone (for a household without a phone)."""
    return _answer(applications.proxy_apply)
