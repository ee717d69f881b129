"""Points stores (积分超市), the reward catalog and stock movements."""
from jifen.tenants.store import policies  # noqa: F401 - registers who may do each action
