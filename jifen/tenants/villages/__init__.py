"""Villages of a township. The grid, groups and households extend this capability."""
