"""County console pages: sign in, list townships, onboard one, suspend and reactivate."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, redirect, render_template, request, send_file, url_for

from jifen.platform import clock
from jifen.platform.accounts.models import Operator
from jifen.platform.accounts.views import sign_in_page, sign_out
from jifen.platform.console import county_links
from jifen.platform.jobs import service as job_service
from jifen.platform.ratelimit import login_limits
from jifen.platform.townships import offboarding, service
from jifen.platform.townships.links import setup_url
from jifen.platform.web import current_actor, public, submit

bp = Blueprint("county", __name__, url_prefix="/county")
COMMON_TIMEZONES = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "UTC"]
bp.add_app_template_global(county_links, "county_links")  # the nav's links that capabilities add


@bp.route("/login", methods=["GET", "POST"])
@public
@login_limits
def login():
    return sign_in_page(Operator, "county/login.html", "county.index")


@bp.post("/logout")
@public
def logout():
    sign_out()
    return redirect(url_for("county.login"))


@bp.route("/")
def index():
    actor = current_actor()
    rows = service.list_townships(actor)
    return render_template("county/index.html", rows=rows, job_alerts=job_service.county_alerts(actor),
                           waiting=offboarding.awaiting_export([t for t, _n in rows]))


@bp.route("/jobs")
def jobs():
    days = request.args.get("days", default=job_service.DAYS, type=int)
    rows = job_service.county_summary(current_actor(), days=days)
    waiting = offboarding.awaiting_export([s.tenant for s in rows])
    return render_template("county/jobs.html", rows=rows, now=clock.now(),
                           held=[s.tenant for s in rows if s.tenant.id in waiting])


@bp.route("/townships/new", methods=["GET", "POST"])
def onboard():
    errors, form = {}, request.form.to_dict()
    if request.method == "POST":
        onboarded, errors = submit(service.onboard, current_actor(), form)
        if not errors:
            tenant, admin, secret = onboarded
            return render_template("county/onboarded.html", tenant=tenant, admin=admin,
                                   link=setup_url(tenant.slug, secret))
    timezones = COMMON_TIMEZONES + sorted(available_timezones() - set(COMMON_TIMEZONES))
    return render_template("county/onboard.html", errors=errors, form=form, timezones=timezones), (
        422 if errors else 200)


@bp.route("/townships/<township_slug>")
def township(township_slug):
    return _township_page(township_slug, {}, {})


def _township_page(slug, errors, form, status=200):
    tenant = service.get_township(current_actor(), slug)
    records = [r for r in offboarding.county_records(current_actor()) if r.tenant_id == tenant.id][:20]
    return render_template("county/township.html", tenant=tenant, errors=errors, form=form, records=records,
                           formats=offboarding.FORMATS, awaiting_export=tenant.id in offboarding.awaiting_export([tenant]),
                           now=clock.now()), status


@bp.post("/townships/<township_slug>/account")
def account_link(township_slug):
    """For one account of the township: a new setup link, or a password reset (which also signs
    the account out everywhere); both text the one-time link to the account's phone, or show it
    when the account has none."""
    form = request.form.to_dict()
    call = service.reset_staff_password if form.get("do") == "reset" else service.new_staff_setup_link
    done, errors = submit(call, current_actor(), township_slug, form.get("username", ""))
    if errors:
        return _township_page(township_slug, errors, form, 422)
    return _sent_or_shown(done, reset=form.get("do") == "reset")


def _sent_or_shown(done, reset=False):
    """The page after issuing a link: where it was texted, or the link itself to hand over."""
    return render_template("county/onboarded.html", tenant=done.tenant, admin=done.user, again=True, reset=reset,
                           sent_to=done.sent_to,
                           link=None if done.sent_to else setup_url(done.tenant.slug, done.secret))


@bp.post("/townships/<township_slug>/suspend")
def suspend(township_slug):
    service.suspend(current_actor(), township_slug, request.form.get("reason"))
    return redirect(url_for("county.township", township_slug=township_slug))


@bp.post("/townships/<township_slug>/reactivate")
def reactivate(township_slug):
    service.reactivate(current_actor(), township_slug)
    return redirect(url_for("county.township", township_slug=township_slug))


@bp.post("/townships/<township_slug>/setup-link")
def new_setup_link(township_slug):
    return _sent_or_shown(service.new_admin_setup_link(current_actor(), township_slug))


@bp.post("/townships/<township_slug>/export")
def export(township_slug):
    """The township's data as a zip (a workbook or CSV per table, the uploaded files); recorded at
    county level. A format other than xlsx or csv: the page again, the message next to the choice."""
    form = request.form.to_dict()
    exported, errors = submit(offboarding.export, current_actor(), township_slug,
                              form.get("format") or offboarding.DEFAULT_FORMAT)
    if errors:
        return _township_page(township_slug, errors, form, 422)
    data, name = exported
    return send_file(data, mimetype="application/zip", as_attachment=True, download_name=name)


@bp.post("/townships/<township_slug>/offboard")
def offboard(township_slug):
    offboarding.offboard(current_actor(), township_slug, request.form.get("reason"))
    return redirect(url_for("county.township", township_slug=township_slug))


@bp.post("/townships/<township_slug>/offboard/cancel")
def cancel_offboarding(township_slug):
    offboarding.cancel_offboarding(current_actor(), township_slug)
    return redirect(url_for("county.township", township_slug=township_slug))


@bp.route("/records")
def records():
    """What the county keeps of its townships' offboarding and exports (outlives the townships)."""
    return render_template("county/records.html", records=offboarding.county_records(current_actor()))
