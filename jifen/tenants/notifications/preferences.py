"""How a household hears from us beyond the in-app inbox: channel (in-app only, SMS, WeChat), the
phone (default: the head of household's), the WeChat openid, the language and quiet hours.

The villager sets them for their own household; grid workers, village admins and the township admin
for households in their area (elderly villagers are often helped). Phones are shown masked to those
who may not see residents' phones (`household.view_id_numbers`), except to the household itself."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from jifen.platform import clock
from jifen.platform.audit.service import record
from jifen.platform.db import db
from jifen.platform.errors import Conflict, refuse
from jifen.platform.roles.authz import Actor, action, authorize, may, scope_ids
from jifen.platform.roles.registry import register_scope_path
from jifen.platform.tenancy import tenant_get, tenant_get_or_404
from jifen.tenants.households.models import Household, Resident
from jifen.tenants.households.rules import FieldError, clean_phone, mask_phone
from jifen.tenants.households.scopes import household_path
from jifen.tenants.notifications.models import (
    CHANNELS,
    IN_APP,
    LANGUAGES,
    SMS,
    WECHAT,
    Notification,
    NotificationDelivery,
    NotificationPreference,
)
from jifen.tenants.notifications.service import notify, register_messages

register_messages({
    "channel_set": lambda p: _("From now on, messages for your household also come by %(channel)s.",
                               channel=str(CHANNEL_LABELS.get(p.get("channel"), p.get("channel")))),
})
register_scope_path(NotificationPreference, lambda p: household_path(tenant_get(Household, p.household_id)))

CHANNEL_LABELS = {IN_APP: _l("In the app only"), SMS: _l("Text message (SMS)"), WECHAT: _l("WeChat")}
LANGUAGE_LABELS = {"zh_CN": "中文", "en": "English"}
OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
FIELDS = ("channel", "phone", "wechat_openid", "language", "quiet_start", "quiet_end")


@dataclass
class Prefs:
    """A household's preferences as shown: defaults when it never set any."""

    household: Household
    channel: str
    phone: str | None  # the household's own choice (None: the head's)
    head_phone: str | None
    wechat_openid: str | None
    language: str | None  # None: the township's language
    quiet_start: time | None
    quiet_end: time | None
    reveal: bool  # may the reader see the phones unmasked
    updated_at: object = None
    updated_by_name: str = ""

    @property
    def effective_phone(self) -> str | None:
        return self.phone or self.head_phone

    def shown(self, phone: str | None) -> str:
        return (phone or "") if self.reveal else mask_phone(phone)


def head_phone(household_id) -> str | None:
    """The phone of the household's current head (the default SMS number)."""
    return db.session.execute(select(Resident.phone).where(
        Resident.household_id == household_id, Resident.relation == "head", Resident.left_on.is_(None),
        Resident.phone.is_not(None), Resident.phone != "").order_by(Resident.sort_order, Resident.id)).scalars().first()


def preference_of(household_id) -> NotificationPreference | None:
    return db.session.execute(select(NotificationPreference).where(
        NotificationPreference.household_id == household_id)).scalar_one_or_none()


def may_reveal(actor: Actor, household: Household) -> bool:
    return may(actor, "household.view_id_numbers", household) or household.id in (
        scope_ids(actor, "inbox.view", "household") or set())


def _load(actor: Actor, household_id) -> Household:
    household = tenant_get_or_404(Household, household_id)
    authorize(actor, "notification_prefs.manage", household)
    return household


def _prefs(actor: Actor, household: Household) -> Prefs:
    row = preference_of(household.id)
    return Prefs(household, row.channel if row else IN_APP, row.phone if row else None, head_phone(household.id),
                 row.wechat_openid if row else None, row.language if row else None,
                 row.quiet_start if row else None, row.quiet_end if row else None, may_reveal(actor, household),
                 row.updated_at if row else None, row.updated_by_name if row else "")


def may_manage(actor: Actor, household: Household) -> bool:
    return may(actor, "notification_prefs.manage", household)


@action("notification_prefs.manage")
def get_preferences(actor: Actor, household_id) -> Prefs:
    return _prefs(actor, _load(actor, household_id))


def _time(value, field: str, errors: dict) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    try:
        hour, minute = str(value).strip().split(":")[:2]
        return time(int(hour), int(minute))
    except ValueError:
        errors[field] = [_("Enter a time as HH:MM, e.g. 21:00.")]
        return None


def _check(data: dict, current: Prefs) -> dict:
    """The new values (every field), or Invalid (InputConflict for the rules between fields) naming each bad field. Fields not in `data` keep
    their current value; an empty value clears an optional one."""
    errors: dict = {}
    values = {"channel": current.channel, "phone": current.phone, "wechat_openid": current.wechat_openid,
              "language": current.language, "quiet_start": current.quiet_start, "quiet_end": current.quiet_end}
    if "channel" in data:
        channel = str(data.get("channel") or "").strip()
        if channel not in CHANNELS:
            errors["channel"] = [_("Choose in-app only, SMS or WeChat.")]
        values["channel"] = channel
    if "phone" in data:
        try:
            values["phone"] = clean_phone(data.get("phone"))
        except FieldError as e:
            errors["phone"] = [str(e)]
    if "wechat_openid" in data:
        openid = str(data.get("wechat_openid") or "").strip() or None
        if openid is not None and not OPENID_RE.match(openid):
            errors["wechat_openid"] = [_("A WeChat openid has 6-64 letters, digits, '-' or '_'.")]
        values["wechat_openid"] = openid
    if "language" in data:
        language = str(data.get("language") or "").strip() or None
        if language is not None and language not in LANGUAGES:
            errors["language"] = [_("Choose 中文 or English.")]
        values["language"] = language
    for name in ("quiet_start", "quiet_end"):
        if name in data:
            values[name] = _time(data.get(name), name, errors)
    # Rules between fields, checked against the stored values a PATCH keeps: a 409 (InputConflict)
    start, end = values["quiet_start"], values["quiet_end"]
    conflicts: dict = {}
    if not ({"quiet_start", "quiet_end"} & set(errors)):
        if (start is None) != (end is None):
            conflicts["quiet_end" if start else "quiet_start"] = [_("Give both the start and the end of quiet hours, "
                                                                     "or neither.")]
        elif start is not None and start == end:
            conflicts["quiet_end"] = [_("Quiet hours must end at another time than they start.")]
    if not errors and not conflicts:
        if values["channel"] == SMS and not (values["phone"] or current.head_phone):
            conflicts["phone"] = [_("Enter a phone number for text messages: the head of household has none.")]
        if values["channel"] == WECHAT and not values["wechat_openid"]:
            conflicts["wechat_openid"] = [_("Enter the household's WeChat openid to send WeChat messages.")]
    refuse(errors, conflicts)
    return values


def _snapshot(values: dict) -> dict:
    return {k: (v.strftime("%H:%M") if isinstance(v, time) else mask_phone(v) if k == "phone" else v)
            for k, v in values.items()}


@action("notification_prefs.manage")
def update_preferences(actor: Actor, household_id, data: dict) -> Prefs:
    """Change some or all preferences (fields left out stay). Undelivered messages that were
    waiting for the old channel are planned again for the new one."""
    household = _load(actor, household_id)
    current = _prefs(actor, household)
    values = _check({k: v for k, v in (data or {}).items() if k in FIELDS}, current)
    row = preference_of(household.id)
    old = {k: getattr(row, k) for k in FIELDS} if row is not None else {}
    before = _snapshot(old) if row is not None else None
    if row is None:
        row = NotificationPreference(household_id=household.id)
        db.session.add(row)
    old_channel = row.channel or IN_APP
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by_name = clock.now(), actor.name[:100]
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("These preferences were changed at the same moment; please try again.")) from None
    if values["channel"] != old_channel:
        _replan(household.id, values["channel"])
    address = {SMS: ("phone",), WECHAT: ("wechat_openid",)}.get(values["channel"], ())
    if values["channel"] != old_channel or any(old.get(k) != values[k] for k in address):
        if values["channel"] != IN_APP:  # tell them on the new channel: it also proves the number works
            notify(household.id, "channel_set", f"prefs:{household.id}:{values['channel']}:{row.updated_at.isoformat()}",
                   channel=values["channel"])
    record(actor, "notification_prefs.update", row, before=before, after=_snapshot(values))
    db.session.flush()
    return _prefs(actor, household)


def _replan(household_id, channel: str) -> None:
    """Deliveries of this household not yet sent through another channel are dropped, and their
    notifications go back to the outbox so the workers plan them for the new channel (or the inbox
    only). One being sent right now is left to finish."""
    waiting = select(NotificationDelivery.notification_id).where(
        NotificationDelivery.household_id == household_id, NotificationDelivery.channel != channel,
        NotificationDelivery.state.in_([NotificationDelivery.PENDING, NotificationDelivery.FAILED]),
        NotificationDelivery.notification_id.is_not(None))
    ids = list(db.session.execute(waiting).scalars())
    if not ids:
        return
    db.session.execute(delete(NotificationDelivery).where(
        NotificationDelivery.notification_id.in_(ids), NotificationDelivery.channel != channel,
        NotificationDelivery.state.in_([NotificationDelivery.PENDING, NotificationDelivery.FAILED]))
        .execution_options(synchronize_session=False))
    db.session.execute(update(Notification).where(Notification.id.in_(ids)).values(delivery=Notification.PENDING)
                       .execution_options(synchronize_session=False))
