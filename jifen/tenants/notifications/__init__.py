"""Notifications to households: an outbox row written in the same transaction as the event; the
in-app inbox reads it now, the workers deliver it through other channels later."""
