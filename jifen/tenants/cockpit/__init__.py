"""The cockpit: what a township leader reports upward and must act on, read from nightly facts."""
from jifen.tenants.cockpit import county_policies, policies  # noqa: F401 - register who may do each action
