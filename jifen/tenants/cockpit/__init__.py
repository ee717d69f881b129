"""The cockpit: what a township leader reports upward and must act on, read from nightly facts."""
from jifen.tenants.cockpit import policies  # noqa: F401 - registers who may do each action
