"""The rulebook (积分管理实施细则): versions, categories, items, village adoption, commitment signing."""
