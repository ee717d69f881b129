"""The villager's own home: the first screen a villager sees is their household, not staff tiles.

Balance, stars, rank and its trend (the household panels), what to do next (apply, the store, the
village's notice, messages) and this village's rules, each with "apply for this". Every link goes
straight to its landing page (no redirect: one round trip less on a weak network). Staff, and a
villager who also holds a staff role, keep the tiles."""
from __future__ import annotations

from flask import render_template, url_for
from werkzeug.routing import BuildError

from jifen.platform import page_cache
from jifen.platform.console import register_home
from jifen.platform.roles.authz import villager_only
from jifen.tenants.notifications.service import unread_count
from jifen.tenants.points import applications, entries
from jifen.tenants.points.home_panels import panels_for
from jifen.tenants.points.ledger_views import pending_of
from jifen.tenants.points.notice_views import application_url
from jifen.tenants.points.workflow import STATE_LABELS, item_title


def _link(endpoint: str, **args) -> str | None:
    """A page of another capability, when it is installed."""
    try:
        return url_for(endpoint, **args)
    except BuildError:
        return None


def villager_home(actor):
    """The home of an actor whose only role is villager, for their first own household; else None.
    Its body is kept per reader's grants (here: the household) until the township's data changes
    (platform/page_cache.py): it is read far more often than anything on it changes."""
    if not villager_only(actor):
        return None
    own = applications.applicant_households(actor, "inbox.view")
    if not own:
        return None
    hh = own[0]
    body = page_cache.fragment("villager-home", actor, lambda: _body(actor, hh))
    return render_template("points/villager_home.html", hh=hh, body=body)


def _body(actor, hh) -> str:
    earned, available = entries.balances(actor, hh.id)
    rules = applications.items_for(hh.village_id, household=True)
    return render_template("points/_villager_home.html", hh=hh, earned=earned, available=available,
                           period=entries.current_period(), rules=rules, application_url=application_url,
                           pending=pending_of(hh.id), panels=panels_for(actor, hh),
                           store=_link("orders.shop"), my_card=_link("orders.my_card", household_id=hh.id),
                           inbox=_link("inbox.index"), unread=unread_count(actor),
                           STATE_LABELS=STATE_LABELS, item_title=item_title)


register_home(villager_home)
