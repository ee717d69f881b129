"""Households and their members (residents), tags, splits and merges, and the roster import."""
from jifen.tenants.households import policies  # noqa: F401 - registers who may do each action
