"""Notifications to households: an outbox row written in the same transaction as the event; the
in-app inbox reads it now, the workers deliver it through other channels later."""
from jifen.tenants.notifications import policies  # noqa: F401 - registers who may do each action
