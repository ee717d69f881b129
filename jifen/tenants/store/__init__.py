"""Points stores (积分超市), the reward catalog and stock movements."""
