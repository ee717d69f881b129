"""Villages of a township. The grid, groups and households extend this capability."""
from jifen.tenants.villages import policies  # noqa: F401 - registers who may do each action
