"""Notification delivery and preferences: pages, the household-home panel, the digest banner and
the `jifen delivery deliver` command (the delivery task by hand, for the embedded default)."""
from __future__ import annotations

import click
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from jifen.platform.console import register_tile
from jifen.platform.db import db
from jifen.platform.errors import ServiceError
from jifen.platform.roles.authz import may
from jifen.platform.web import current_actor, submit
from jifen.tenants.notifications import delivery, digest, preferences
from jifen.tenants.notifications.models import CHANNELS, LANGUAGES, NotificationDelivery
from jifen.tenants.points.home_panels import register_home_panel

bp = Blueprint("delivery", __name__, url_prefix="/t/<tenant_slug>/notifications")
bp.cli.short_help = "Notification delivery."
register_tile("delivery.deliveries", _l("Message delivery"), "delivery.view", order=92)

FILTERS = {"problems": delivery.PROBLEM_STATES, "waiting": (NotificationDelivery.PENDING, NotificationDelivery.SENDING),
           "sent": (NotificationDelivery.SENT,)}


# --- the household's preferences -------------------------------------------------------------------

def _panel(actor, household):
    """The small card on the household's home page: how messages reach the household."""
    if actor is None or not preferences.may_manage(actor, household):
        return None
    return {"prefs": preferences.get_preferences(actor, household.id),
            "labels": preferences.CHANNEL_LABELS}


register_home_panel("notification_prefs", "notifications/_prefs_panel.html", _panel, order=90)


def _form_of(p: preferences.Prefs) -> dict:
    return {"channel": p.channel, "phone": (p.phone or "") if p.reveal else "",
            "wechat_openid": p.wechat_openid or "", "language": p.language or "",
            "quiet_start": p.quiet_start.strftime("%H:%M") if p.quiet_start else "",
            "quiet_end": p.quiet_end.strftime("%H:%M") if p.quiet_end else ""}


@bp.route("/households/<uuid:household_id>/preferences", methods=["GET", "POST"])
def household_preferences(household_id):
    actor = current_actor()
    prefs = preferences.get_preferences(actor, household_id)
    errors, form, saved = {}, _form_of(prefs), request.args.get("saved") == "1"
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in preferences.FIELDS}
        data = dict(form)
        if request.form.get("use_head_phone"):
            data["phone"] = ""
        elif not prefs.reveal and not form["phone"].strip():
            data.pop("phone")  # a masked phone is not shown, so an empty field keeps it
        _p, errors = submit(preferences.update_preferences, actor, household_id, data)
        if not errors:
            return redirect(url_for("delivery.household_preferences", household_id=household_id, saved=1))
    return render_template("notifications/preferences.html", prefs=prefs, form=form, errors=errors, saved=saved,
                           channels=CHANNELS, channel_labels=preferences.CHANNEL_LABELS, languages=LANGUAGES,
                           language_labels=preferences.LANGUAGE_LABELS), 422 if errors else 200


# --- the township admin's delivery page -----------------------------------------------------------

@bp.get("/deliveries")
def deliveries():
    actor = current_actor()
    shown = request.args.get("show") if request.args.get("show") in FILTERS else "problems"
    rows = delivery.list_deliveries(actor, FILTERS[shown])
    return render_template("notifications/deliveries.html", rows=rows, counts=delivery.state_counts(actor),
                           shown=shown, filters=FILTERS, state_labels=delivery.STATE_LABELS,
                           channel_names=delivery.CHANNEL_NAMES, retried=request.args.get("retried") == "1",
                           may_retry=may(actor, "delivery.retry"))


@bp.post("/deliveries/<uuid:delivery_id>/retry")
def retry(delivery_id):
    submit(delivery.retry, current_actor(), delivery_id)
    return redirect(url_for("delivery.deliveries", show=request.form.get("show") or "problems", retried=1))


# --- the staff digest banner on the console home ---------------------------------------------------

def _digest_banner():
    actor = current_actor()
    if actor is None or actor.kind != "user":
        return None
    try:
        found = digest.today_for(actor)
    except ServiceError:
        return None
    return found[1] if found else None


@bp.app_context_processor
def _banner_helper():
    return {"staff_digest_lines": _digest_banner}


# --- command line ----------------------------------------------------------------------------------

@bp.cli.command("deliver")
@click.option("--tenant", "slug", default=None, help="One township (default: every township with work)")
def deliver_command(slug):
    """Plan and send due notifications now (what the beat's delivery task does every minute)."""
    from jifen.platform.townships.models import Tenant

    tenant_id = None
    if slug:
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if tenant is None:
            raise click.ClickException(f"no township with slug {slug!r}")
        tenant_id = tenant.id
    task = current_app.extensions["celery"].tasks["jifen.deliver_notifications"]
    result = task.apply(kwargs={"tenant_id": str(tenant_id) if tenant_id else None}).get()
    click.echo(" ".join(f"{k}={v}" for k, v in result.items()))

