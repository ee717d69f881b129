"""Texting a setup link to its owner: when a county operator resets a staff member's password or
issues them a new setup link, the one-time link goes to the phone on their account, the way their
digest does: a `NotificationDelivery` (`setup_link_id`) in the township's outbox, sent by the same
workers with the same retries. It is sent at once, not after the staff quiet hours: the person
asked for it, and the link expires (SETUP_LINK_HOURS).

The secret waits sealed on the link row (`SetupLink.secret_sealed`); the worker opens it only to
send, and a link used, replaced or expired by then is not sent (the delivery is given up). The
deliveries page names the recipient, never the link. An account without a phone gets no text, and
the operator is shown the link to hand over."""
from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from jifen.platform import clock
from jifen.platform.accounts.models import SetupLink, User
from jifen.platform.accounts.service import register_link_sender
from jifen.platform.db import db
from jifen.platform.townships.models import Tenant
from jifen.tenants.households.rules import mask_phone
from jifen.tenants.notifications.models import SMS, NotificationDelivery


def text_link(user: User, link: SetupLink) -> str | None:
    """Queue the link's text to the user's phone; where it goes (masked), or None without a phone."""
    if not user.phone:
        return None
    now = clock.now()
    db.session.add(NotificationDelivery(setup_link_id=link.id, channel=SMS, next_attempt_at=now, created_at=now))
    return mask_phone(user.phone)


register_link_sender(text_link)


def link_text(user: User, link: SetupLink, tenant: Tenant, locale: str) -> str:
    """What the staff member reads (the channel adds the link), in their language."""
    with force_locale(locale):
        until = link.expires_at.astimezone(clock.zone(tenant)).strftime("%Y-%m-%d %H:%M")
        return _("%(township)s: set the password of your account %(username)s with this one-time link "
                 "(until %(until)s):", township=tenant.name, username=user.username, until=until)
