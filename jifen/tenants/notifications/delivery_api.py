"""Township API: Notification delivery and preferences"""
from __future__ import annotations

import re

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from jifen.platform import clock
from jifen.platform.api import SECURITY
from jifen.platform.blueprint import Blueprint
from jifen.platform.schemas import Schema
from jifen.platform.web import current_actor
from jifen.tenants.households.rules import LANDLINE_RE, PHONE_RE
from jifen.tenants.notifications import delivery, digest, preferences
from jifen.tenants.notifications.models import CHANNELS, LANGUAGES, NotificationDelivery

blp = Blueprint("delivery_api", __name__, url_prefix="/api/v1/t/<tenant_slug>/notifications", description="Notification delivery and preferences")
TIME_PATTERN = r"^(([01]?\d|2[0-3]):[0-5]\d)?$"  # HH:MM, or empty (none)
TIME_RE = re.compile(TIME_PATTERN)
# what the preferences service takes, said in the document (empty: none; the head's phone)
OPENID_PATTERN = f"^({preferences.OPENID_RE.pattern[1:-1]})?$"
PHONE_PATTERN = f"^({PHONE_RE.pattern[1:-1]}|{LANDLINE_RE.pattern[1:-1]})?$"
# the service's messages (their translations are looked up where the 422 leaves the API)
TIME_MESSAGE = "Enter a time as HH:MM, e.g. 21:00."
OPENID_MESSAGE = "A WeChat openid has 6-64 letters, digits, '-' or '_'."


def _d(text: str, **more) -> dict:
    return {"description": text, **more}


class QuietTime(fields.String):
    """HH:MM (tenant-local), or null."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value.strftime("%H:%M") if value is not None else None

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if text and not TIME_RE.match(text):
            raise ValidationError(TIME_MESSAGE)
        return text


class PreferencesSchema(Schema):
    household_id = fields.Function(lambda p: p.household.id, dump_only=True, metadata=_d("The household.",
                                                                                          type="string", format="uuid"))
    channel = fields.String(validate=validate.OneOf(CHANNELS), metadata=_d(
        "Besides the in-app inbox (always): in_app (nothing else), sms or wechat."))
    phone = fields.Method("_phone", deserialize="_load_text", allow_none=True,
                          validate=validate.Regexp(PHONE_PATTERN), metadata=_d(
        "Phone for text messages; null or empty: the head of household's. Masked (138****0002) for callers who "
        "may not see residents' phones; leave it out to keep it.", type="string"))
    head_phone = fields.Method("_head_phone", dump_only=True, allow_none=True, metadata=_d(
        "The head of household's phone (the default), masked like `phone`.", type="string"))
    wechat_openid = fields.String(allow_none=True, validate=validate.Regexp(OPENID_PATTERN, error=OPENID_MESSAGE),
                                  metadata=_d("The household's openid with the township's WeChat account (6-64 "
                                              "letters, digits, - or _); needed for channel wechat."))
    language = fields.String(allow_none=True, validate=validate.OneOf([*LANGUAGES, ""]), metadata=_d(
        "Language of the messages; null: the township's.", enum=[*LANGUAGES, None]))
    quiet_start = QuietTime(allow_none=True, validate=validate.Regexp(TIME_PATTERN, error=TIME_MESSAGE),
                            metadata=_d("Start of quiet hours (HH:MM, township time); with quiet_end, or both "
                                        "null for none."))
    quiet_end = QuietTime(allow_none=True, validate=validate.Regexp(TIME_PATTERN, error=TIME_MESSAGE),
                          metadata=_d("End of quiet hours (HH:MM); may be before quiet_start (over midnight)."))
    updated_at = fields.DateTime(dump_only=True, allow_none=True)
    updated_by_name = fields.String(dump_only=True)

    def _phone(self, p):
        return p.shown(p.phone) or None

    def _head_phone(self, p):
        return p.shown(p.head_phone) or None

    def _load_text(self, value):
        if value is not None and not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return value


class DeliverySchema(Schema):
    id = fields.UUID(attribute="delivery.id")
    notification_id = fields.UUID(attribute="delivery.notification_id", allow_none=True,
                                  metadata=_d("The household notification sent; null for a staff digest."))
    digest_id = fields.UUID(attribute="delivery.digest_id", allow_none=True)
    household_id = fields.UUID(allow_none=True)
    recipient = fields.String(metadata=_d("The household (door plate · head) or the staff member."))
    kind = fields.String(metadata=_d("What the message is about (verified, posted …; digest; job_alert; setup_link)."))
    text = fields.String(metadata=_d("A household message's text in the caller's language (empty for a digest)."))
    channel = fields.String(attribute="delivery.channel", metadata=_d("sms or wechat.", enum=["sms", "wechat"]))
    state = fields.String(attribute="delivery.state", metadata=_d("pending, sending, sent, failed (will be "
                                                                  "retried), dead (given up).",
                                                                  enum=list(NotificationDelivery.STATES)))
    attempts = fields.Integer(attribute="delivery.attempts")
    next_attempt_at = fields.DateTime(attribute="delivery.next_attempt_at")
    last_error = fields.String(attribute="delivery.last_error", allow_none=True)
    via = fields.String(attribute="delivery.via", allow_none=True,
                        metadata=_d("The adapter that sent it: sms, wechat, or log when no endpoint is configured."))
    sent_at = fields.DateTime(attribute="delivery.sent_at", allow_none=True)
    created_at = fields.DateTime(attribute="delivery.created_at")


class DeliveryListArgs(Schema):
    state = fields.List(fields.String(validate=validate.OneOf(NotificationDelivery.STATES)),
                        load_default=lambda: list(delivery.PROBLEM_STATES),
                        metadata=_d("States to list (repeat the parameter); default failed and dead."))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class DeliveryListSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=_d("Deliveries per state."))
    items = fields.List(fields.Nested(DeliverySchema))


class DigestLineSchema(Schema):
    source = fields.String(metadata=_d("e.g. points.to_verify"))
    label = fields.String(metadata=_d("In the caller's language."))
    count = fields.Integer()
    url = fields.String(allow_none=True, metadata=_d("The page where that work is done."))


class DigestSchema(Schema):
    local_date = fields.Date()
    items = fields.List(fields.Nested(DigestLineSchema), metadata=_d("Empty when nothing waited this morning."))


@blp.route("/households/<uuid:household_id>/preferences")
class Preferences(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, PreferencesSchema)
    def get(self, household_id):
        """How messages reach the household (the villager for their own; grid worker, village admin and
        township admin for households in their area)."""
        return preferences.get_preferences(current_actor(), household_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(PreferencesSchema(partial=True))
    @blp.response(200, PreferencesSchema)
    def patch(self, data, household_id):
        """Change some preferences; fields left out stay. sms needs a phone (or the head's), wechat an openid;
        each problem is a 422 naming its field."""
        data = {k: ("" if v is None else v) for k, v in data.items()}
        return preferences.update_preferences(current_actor(), household_id, data)


@blp.route("/deliveries")
class Deliveries(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(DeliveryListArgs, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, args):
        """Deliveries in the given states, newest first, with counts per state (township admin)."""
        actor = current_actor()
        return {"counts": delivery.state_counts(actor),
                "items": delivery.list_deliveries(actor, tuple(args["state"]), args["limit"])}


@blp.route("/deliveries/<uuid:delivery_id>/retry")
class Retry(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, DeliverySchema)
    def post(self, delivery_id):
        """Send a failed or dead delivery again now, attempts counted afresh (township admin). Another state is
        a 409 naming `state`."""
        actor = current_actor()
        d = delivery.retry(actor, delivery_id)
        return delivery.delivery_row(actor, d.id)


@blp.route("/digest")
class Digest(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, DigestSchema)
    def get(self):
        """The caller's staff digest of this morning: what waited for them."""
        found = digest.today_for(current_actor())
        if found is None:
            return {"local_date": clock.today(), "items": []}
        return {"local_date": found[0].local_date, "items": found[1]}
