"""Delivery channels behind one interface: `send(message) -> SendResult`, raising `Retryable` (try
again later: timeouts, 5xx, rate limits) or `Permanent` (will never work: no address, refused).

The SMS and WeChat template-message adapters post JSON to an endpoint from the configuration (a
gateway in front of the provider: the providers' own APIs cannot be reached from here). With no
endpoint configured, a channel's messages go to the logging channel: the embedded default.
Every request carries the delivery id as its idempotency key, so a provider (or gateway) that
sees the same id twice sends once: that covers a worker dying between the send and its commit."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    id: str  # the delivery id: the provider's idempotency / dedupe key
    channel: str  # sms | wechat
    to: str  # phone number or WeChat openid
    text: str  # in the recipient's language
    locale: str  # zh_CN | en
    link: str = ""  # absolute URL when NOTIFY_LINK_BASE_URL is set, else a path
    kind: str = ""  # what happened (verified, posted …; digest for the staff digest)
    tenant: str = ""  # the township's slug
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    via: str  # sms | wechat | log
    provider_ref: str | None = None


class ChannelError(Exception):
    """Sending failed; the message says why (kept on the delivery row, for the admin)."""


class Retryable(ChannelError):
    """Worth trying again later."""


class Permanent(ChannelError):
    """Trying again will not help (no address, the provider refused the message)."""


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> SendResult: ...


def channel_for(name: str, config) -> Channel:
    """The adapter for `name` as configured; the logging channel when its endpoint is not set."""
    from jifen.tenants.notifications.channels.log import LoggingChannel
    from jifen.tenants.notifications.channels.sms import SmsChannel
    from jifen.tenants.notifications.channels.wechat import WeChatChannel

    timeout = float(config.get("NOTIFY_HTTP_TIMEOUT") or 5)
    if name == "sms" and config.get("SMS_URL"):
        return SmsChannel(str(config["SMS_URL"]), _token(config.get("SMS_TOKEN")), timeout)
    if name == "wechat" and config.get("WECHAT_URL"):
        return WeChatChannel(str(config["WECHAT_URL"]), _token(config.get("WECHAT_TOKEN")),
                             str(config.get("WECHAT_TEMPLATE_ID") or ""), timeout)
    return LoggingChannel()


def _token(value) -> str | None:
    return None if value in (None, "") else str(value)  # an all-digit token may arrive parsed as a number
