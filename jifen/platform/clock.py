"""The platform's clock: the one place Jifen reads the time.

* `now()` is the moment, aware UTC; every stamp (column defaults included) comes from it.
* `today()` / `local_now()` are the township's own calendar: villages live by their day, not UTC's
  (a notice opened at 07:00 in Longwo is dated that day, though UTC still says yesterday).
* `with at(moment):` sets the clock for a block: the demo writes a year of history as it
  happened, a daily job run for another date (`jifen run-job --date`, a late catch-up) runs as of
  that date. Inside the block the clock starts at `moment` and runs on at real speed, so stamps
  made in the block keep their order. It lives in a context variable: it holds for the current
  thread (and the Celery tasks run inline from it) and does not cross into threads started there,
  which read the real time.

Underneath, the real time is `datetime.now(timezone.utc)`, so freezegun still moves it in tests.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"  # a township created without a zone (and work outside any township)

# (the moment the block asked for, the real time when it started), or None: the real time
_set: ContextVar[tuple[datetime, datetime] | None] = ContextVar("jifen_clock", default=None)


def now() -> datetime:
    real = datetime.now(timezone.utc)
    setting = _set.get()
    if setting is None:
        return real
    moment, started = setting
    return moment + (real - started)


def real_now() -> datetime:
    """The real time, whatever `at` says: what time-ordered ids (UUIDv7) are stamped with, so what
    compares with them (the cockpit's "written since" key ranges)."""
    return datetime.now(timezone.utc)


@contextmanager
def at(moment: datetime):
    """Run the block as if it were `moment` (aware; the clock runs on from there)."""
    if moment.tzinfo is None:
        raise ValueError("clock.at needs an aware datetime")
    token = _set.set((moment.astimezone(timezone.utc), datetime.now(timezone.utc)))
    try:
        yield
    finally:
        _set.reset(token)


def zone(tenant=None) -> ZoneInfo:
    """The township's time zone (the current township's when none is given)."""
    if tenant is None:
        from jifen.platform.tenancy import current_tenant

        tenant = current_tenant()
    return ZoneInfo(getattr(tenant, "timezone", None) or DEFAULT_ZONE)


def local_now(tenant=None) -> datetime:
    return now().astimezone(zone(tenant))


def today(tenant=None) -> date:
    """Today on the township's calendar."""
    return local_now(tenant).date()


def local_moment(day: date, at_time: time, tenant=None) -> datetime:
    """`day` at the township's local time `at_time`, as an aware datetime."""
    return datetime.combine(day, at_time, tzinfo=zone(tenant))
