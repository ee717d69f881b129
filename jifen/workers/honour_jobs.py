"""The nightly star rating job."""
from __future__ import annotations
