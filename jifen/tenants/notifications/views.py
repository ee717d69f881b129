"""The in-app inbox of a villager's household."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l

from jifen.platform.console import register_tile
from jifen.platform.web import current_actor
from jifen.tenants.notifications import service

bp = Blueprint("inbox", __name__, url_prefix="/t/<tenant_slug>/inbox")
register_tile("inbox.index", _l("Messages"), "inbox.view", order=6)


def link_of(n) -> str | None:
    """Where a notification points: its application page, or a path inside the tenant."""
    if not n.link:
        return None
    if n.link.startswith("applications/"):
        try:
            return url_for("points_review.application", application_id=n.link.split("/", 1)[1])
        except Exception:  # noqa: BLE001 - the endpoint belongs to another module
            return f"/t/{g.tenant_slug}/points/{n.link}"
    return f"/t/{g.tenant_slug}/{n.link}"


@bp.get("/")
def index():
    actor = current_actor()
    items = service.inbox(actor)
    return render_template("inbox/index.html", items=items, text_of=service.text_of, link_of=link_of,
                           unread=service.unread_count(actor))


@bp.post("/read")
def read():
    service.mark_read(current_actor())
    return redirect(url_for("inbox.index"))
