"""Households and their members (residents), tags, splits and merges, and the roster import."""
