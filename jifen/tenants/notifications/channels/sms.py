"""SMS through a gateway endpoint (SMS_URL, bearer SMS_TOKEN).

Request: POST {"message_id", "to", "text", "locale", "kind", "tenant", "link"}, header
Idempotency-Key = message_id. Answer: 2xx, optionally {"id": provider reference}."""
from __future__ import annotations

from jifen.tenants.notifications.channels import Message, Permanent, SendResult
from jifen.tenants.notifications.channels.transport import post_json


class SmsChannel:
    name = "sms"

    def __init__(self, url: str, token: str | None, timeout: float = 5):
        self.url, self.token, self.timeout = url, token, timeout

    def payload(self, message: Message) -> dict:
        text = f"{message.text} {message.link}" if message.link.startswith("http") else message.text
        return {"message_id": message.id, "to": message.to, "text": text, "locale": message.locale,
                "kind": message.kind, "tenant": message.tenant, "link": message.link}

    def send(self, message: Message) -> SendResult:
        if not message.to:
            raise Permanent("no phone number")
        answer = post_json(self.url, self.payload(message), token=self.token, idempotency_key=message.id,
                           timeout=self.timeout)
        ref = answer.get("id") or answer.get("message_id")
        return SendResult(self.name, str(ref)[:100] if ref else None)
