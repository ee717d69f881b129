"""The township domain, one subpackage per capability. Depends on `jifen.platform` only."""
