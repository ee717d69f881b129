"""The rulebook (积分管理实施细则): versions, categories, items, village adoption, commitment signing."""
from jifen.tenants.rulebook import policies  # noqa: F401 - registers who may do each action
