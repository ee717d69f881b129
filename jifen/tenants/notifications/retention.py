"""Notifications are kept `NOTIFICATION_RETENTION_DAYS` (365 by default): older ones that are
finished with (seen in the inbox only, or their external delivery sent or given up) are deleted by
the nightly `jifen.purge_notifications`, their delivery rows first. A message still waiting to be
delivered is never deleted."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from jifen.platform import clock
from jifen.platform.db import db
from jifen.platform.retention import register_retention
from jifen.tenants.notifications.models import Notification, NotificationDelivery

FINISHED_DELIVERIES = (NotificationDelivery.SENT, NotificationDelivery.DEAD)


def days() -> int:
    return current_app.config["NOTIFICATION_RETENTION_DAYS"]


def purge() -> int:
    """Delete the current township's notifications past the retention; returns how many."""
    cutoff = clock.now() - timedelta(days=days())
    old = select(Notification.id).where(Notification.created_at < cutoff, Notification.delivery != Notification.PENDING)
    open_delivery = select(NotificationDelivery.notification_id).where(
        NotificationDelivery.notification_id.is_not(None), NotificationDelivery.state.not_in(FINISHED_DELIVERIES))
    doomed = db.session.execute(old.where(Notification.id.not_in(open_delivery))).scalars().all()
    removed = 0
    for start in range(0, len(doomed), 500):
        chunk = doomed[start:start + 500]
        db.session.execute(delete(NotificationDelivery).where(NotificationDelivery.notification_id.in_(chunk))
                           .execution_options(synchronize_session=False))
        removed += db.session.execute(delete(Notification).where(Notification.id.in_(chunk))
                                      .execution_options(synchronize_session=False)).rowcount
    return removed


register_retention("notifications", _l("Notifications to households"), lambda: _(
    "Kept %(days)d days, then deleted nightly (a message not yet delivered is kept until it is).", days=days()))
