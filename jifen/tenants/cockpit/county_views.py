"""County cockpit pages: the township comparison and the 大屏 (a full-screen display for the county
hall that refreshes itself). Thin: parse the filters, call `county.county_cockpit`, render.

Both live under /county, so the realm guard lets only a county operator in; the service reads only
their own county's townships."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import format_decimal, format_percent
from flask_babel import lazy_gettext as _l

from jifen.platform import clock
from jifen.platform.console import register_county_link
from jifen.platform.db import db
from jifen.platform.input import Month, check
from jifen.platform.townships.models import County
from jifen.platform.web import current_actor
from jifen.tenants.cockpit import county
from jifen.tenants.dividends.pools import yuan

bp = Blueprint("county_cockpit", __name__, url_prefix="/county/cockpit")
register_county_link(_l("Township figures"), "county_cockpit.index", order=10)
REFRESH_SECONDS = 60


def _filters() -> tuple[dict, dict]:
    """The month and the ranking from the query string; a bad month is named next to its field
    (and this month is shown), an unknown ranking falls back to the default."""
    errors: dict = {}
    month = check(Month(), request.args.get("month"), "month", errors)
    sort = request.args.get("sort") or county.DEFAULT_SORT
    return {"month": month, "sort": sort if sort in county.SORT_KEYS else county.DEFAULT_SORT}, errors


def _percent(value) -> str:
    return "—" if value is None else format_percent(value, "#,##0.0%")


def _number(value) -> str:
    return "—" if value is None else format_decimal(value)


def _signed(value, unit: str = "") -> str:
    if value is None:
        return ""
    if value == 0:
        return "±0"
    return ("+" if value > 0 else "−") + format_decimal(abs(value)) + unit


@bp.context_processor
def _helpers():
    return {"percent": _percent, "number": _number, "signed": _signed, "yuan": yuan, "RATES": county.RATES}


def _county_name() -> str:
    found = db.session.get(County, current_actor().county_id)
    return found.name if found else ""


@bp.get("/")
def index():
    filters, errors = _filters()
    cockpit = county.county_cockpit(current_actor(), filters["month"], filters["sort"])
    return render_template("cockpit/county.html", cockpit=cockpit, errors=errors, county_name=_county_name(),
                           month_value=request.args.get("month") if errors else cockpit.month.strftime("%Y-%m")), (
        422 if errors else 200)


@bp.get("/screen")
def screen():
    """The 大屏: 1920×1080, dark, large running totals and a bar per township; reloads every minute
    (a meta refresh: no script, nothing the page's CSP has to allow)."""
    filters, _errors = _filters()
    cockpit = county.county_cockpit(current_actor(), filters["month"])
    participation = county.bars(cockpit, "participation", _percent)
    issued = county.bars(cockpit, "issued_ytd", _number)
    return render_template("cockpit/county_screen.html", cockpit=cockpit, county_name=_county_name(),
                           participation=participation, issued=issued, refresh=REFRESH_SECONDS,
                           now=clock.local_now())
