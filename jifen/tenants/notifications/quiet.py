"""Quiet hours: when a text must wait. A household sets its own (its notification preference); staff
and county operators share the deployment's STAFF_QUIET_HOURS (default 21:00-07:00), so a job that
fails at 03:00 shows in the banners at once and reaches their phones in the morning. Always in the
township's time."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app


def quiet_until(now: datetime, tz: str, start: time | None, end: time | None) -> datetime | None:
    """If `now` falls in the quiet hours start–end (tenant-local, may wrap midnight), the UTC moment
    they end; else None."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= t < end, local.date()
    else:  # e.g. 21:00-07:00
        inside = t >= start or t < end
        day = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(timezone.utc)


def staff_quiet_until(now: datetime, tenant) -> datetime | None:
    """The end of the staff quiet hours in `tenant`'s time, when `now` falls inside them."""
    hours = current_app.config.get("STAFF_QUIET")
    return quiet_until(now, tenant.timezone, *hours) if hours else None
