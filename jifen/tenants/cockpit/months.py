"""The cockpit's calendar: months are named by their first day, and "the month's change" of the
nightly coverage compares the latest night with the latest one at least `CHANGE_DAYS` before it.
One place for the township dashboard, the county cockpit and the facts build."""
from __future__ import annotations

from datetime import date, timedelta

CHANGE_DAYS = 28


def next_month(month: date) -> date:
    """The first day of the month after `month`'s."""
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def month_end(month: date) -> date:
    return next_month(month) - timedelta(days=1)
