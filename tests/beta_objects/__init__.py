"""Beta-township objects for the URL parameters of newer capabilities, one module per capability.

Each module here defines `objects(found) -> dict` (URL parameter name -> id of a township beta row
it writes with `found["add"]`); `found` holds the beta village, household, store, catalog item, grid
node and rule item already written by tests/test_cross_tenant.py.
"""
from __future__ import annotations

import importlib
import pkgutil


def more_objects(found: dict) -> dict:
    out: dict = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        out |= importlib.import_module(f"{__name__}.{info.name}").objects(found)
    return out
