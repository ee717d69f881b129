"""Notification delivery and the nightly staff digest."""
from __future__ import annotations
