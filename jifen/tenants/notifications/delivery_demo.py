"""Demo data: notification preferences and deliveries for Longwo.

Three households of 官田村 choose an external channel (text message; WeChat with quiet hours;
text message in English), then the delivery worker runs once with the logging channel, so the admin's
delivery page has sent messages and the log shows them. Loading twice adds nothing: a household
that has preferences keeps them, and a sent delivery is never sent again."""
from __future__ import annotations

from sqlalchemy import select

from jifen.platform.db import db
from jifen.tenants.households.models import ACTIVE, Household
from jifen.tenants.notifications import delivery, preferences
from jifen.tenants.notifications.channels.log import LoggingChannel
from jifen.tenants.notifications.models import SMS, WECHAT

VILLAGE = "官田村"
# (preferences, what the summary calls it)
CHOICES = [
    ({"channel": SMS}, "SMS"),
    ({"channel": WECHAT, "wechat_openid": "oDemoLongwoWeChat0002", "quiet_start": "21:00", "quiet_end": "07:00"},
     "WeChat"),
    ({"channel": SMS, "language": "en"}, "SMS in English"),
]


def load_demo(admin_actor, villages: dict) -> str | None:
    village = villages.get(VILLAGE)
    if village is None:
        return None
    households = list(db.session.execute(select(Household).where(
        Household.village_id == village.id, Household.status == ACTIVE).order_by(Household.door_plate,
                                                                                  Household.id)).scalars())
    set_up = 0
    chosen = iter(households)
    for data, _label in CHOICES:
        for household in chosen:  # the next household that can take this channel
            if preferences.preference_of(household.id) is not None:
                break  # loaded before: keep what is there
            if data["channel"] == SMS and not preferences.head_phone(household.id):
                continue
            preferences.update_preferences(admin_actor, household.id, data)
            set_up += 1
            break
    log = LoggingChannel()
    stats = delivery.deliver_tenant(channels={SMS: log, WECHAT: log})
    if not set_up and not stats.get("sent"):
        return None
    return (f"Notifications: {set_up} households chose SMS, WeChat or English messages; "
            f"{stats.get('sent', 0)} messages sent through the logging channel, "
            f"{stats.get('planned', 0)} outbox messages looked at.")
