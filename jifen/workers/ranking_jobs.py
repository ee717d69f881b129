"""The nightly ranking job."""
from __future__ import annotations
