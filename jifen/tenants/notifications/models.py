from __future__ import annotations

import uuid
from datetime import date, datetime, time

from sqlalchemy import JSON, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk


class Notification(TenantScoped, db.Model):
    """One message to a household. The text is rendered when shown, from `kind` and `params`, in
    the reader's language. `dedupe_key` makes writing the same event twice write one row.

    `delivery` is the outbox state for the channel workers: `pending` until a worker has looked at
    it; then `in_app` (the inbox is all there is: no external channel, or the message was too old
    when first seen) or `queued` (a `NotificationDelivery` row was made for the household's
    channel, which carries the sending state from there on)."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("tenant_id", "dedupe_key"), tenant_fk(["household_id"], "households"),
                      Index("ix_notifications_tenant_household", "tenant_id", "household_id", "created_at"),
                      # the outbox: only undelivered rows, so the workers' scan stays small
                      Index("ix_notifications_pending", "tenant_id", "created_at",
                            sqlite_where=text("delivery = 'pending'"), postgresql_where=text("delivery = 'pending'")))
    PENDING, IN_APP, QUEUED = "pending", "in_app", "queued"
    household_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(300), default="")  # path inside the tenant, e.g. applications/<id>
    dedupe_key: Mapped[str] = mapped_column(String(120))
    delivery: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]


IN_APP, SMS, WECHAT, LOG = "in_app", "sms", "wechat", "log"
CHANNELS = (IN_APP, SMS, WECHAT)  # what a household may choose
LANGUAGES = ("zh_CN", "en")


class NotificationPreference(TenantScoped, db.Model):
    """How a household wants to hear from us beyond the in-app inbox (which always gets every
    message). No row: in-app only, the township's language, no quiet hours."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("tenant_id", "household_id"), tenant_fk(["household_id"], "households"))
    household_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(16), default=IN_APP)  # in_app | sms | wechat
    phone: Mapped[str | None] = mapped_column(String(20))  # None: the head of household's phone
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(10))  # None: the township's language
    quiet_start: Mapped[time | None]  # tenant-local; both set or neither; may wrap midnight
    quiet_end: Mapped[time | None]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    updated_by_name: Mapped[str] = mapped_column(String(100), default="")


class StaffDigest(TenantScoped, db.Model):
    """What waited for one staff member on one (tenant-local) morning: the nightly digest. One per
    user and day; the console home shows today's as a banner, and it is texted to the user's phone
    when they have one."""

    __tablename__ = "staff_digests"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "local_date"), tenant_fk(["user_id"], "users"),
                      Index("ix_staff_digests_day", "tenant_id", "local_date"))
    user_id: Mapped[uuid.UUID]
    local_date: Mapped[date]
    items: Mapped[list] = mapped_column(JSON, default=list)  # [{"source": name, "count": n}], non-zero only
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


OPEN_STATES = "state IN ('pending', 'failed', 'sending')"


class NotificationDelivery(TenantScoped, db.Model):
    """Sending one message through one external channel: a household notification, a staff digest,
    a staff member's setup link (`setup_link_id`, setup_links.py), or a county operator's alert of a
    township's job run (`operator_id` and `job_run_id`; the alert lives in the township's outbox, so
    it goes with the township's other messages and its data). The row is claimed (`sending`) in its
    own committed transaction before the provider is called; its id goes to the provider as the
    idempotency key."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("tenant_id", "notification_id", "channel"),
                      UniqueConstraint("tenant_id", "digest_id", "channel"),
                      tenant_fk(["notification_id"], "notifications"),
                      tenant_fk(["digest_id"], "staff_digests"),
                      tenant_fk(["household_id"], "households"),
                      tenant_fk(["job_run_id"], "job_runs"),
                      tenant_fk(["setup_link_id"], "setup_links"),
                      Index("ix_notification_deliveries_open", "tenant_id", "next_attempt_at",
                            sqlite_where=text(OPEN_STATES), postgresql_where=text(OPEN_STATES)),
                      Index("ix_notification_deliveries_state", "tenant_id", "state", "created_at"))
    PENDING, SENDING, SENT, FAILED, DEAD = "pending", "sending", "sent", "failed", "dead"
    STATES = (PENDING, SENDING, SENT, FAILED, DEAD)
    notification_id: Mapped[uuid.UUID | None]
    digest_id: Mapped[uuid.UUID | None]
    household_id: Mapped[uuid.UUID | None]  # whose quiet hours and language apply (None: staff or operator)
    operator_id: Mapped[uuid.UUID | None]  # no key to the platform's table: tenant keys lead with tenant_id
    job_run_id: Mapped[uuid.UUID | None]
    setup_link_id: Mapped[uuid.UUID | None]
    channel: Mapped[str] = mapped_column(String(16))  # sms | wechat
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    claimed_at: Mapped[datetime | None]  # when the current `sending` began
    last_error: Mapped[str | None] = mapped_column(String(500))
    via: Mapped[str | None] = mapped_column(String(16))  # the adapter that sent it (log: no endpoint configured)
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
