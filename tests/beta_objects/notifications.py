"""Township beta's notification delivery (the admin's retry URL names one)."""
from __future__ import annotations


def objects(found: dict) -> dict:
    from jifen.tenants.notifications.models import Notification, NotificationDelivery

    add = found["add"]
    notification = add(Notification(household_id=found["household_id"], kind="verified", params={},
                                    dedupe_key="beta-delivery-test"))
    delivery = add(NotificationDelivery(notification_id=notification.id, household_id=found["household_id"],
                                        channel="sms", state="dead", attempts=5, last_error="HTTP 500"))
    return {"delivery_id": delivery.id}
