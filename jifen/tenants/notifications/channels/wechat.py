"""WeChat Official Account template messages (模板消息) through a gateway endpoint (WECHAT_URL,
bearer WECHAT_TOKEN), in the shape of the platform's `message/template/send` call.

Request: POST {"touser": openid, "template_id", "url", "client_msg_id": delivery id (WeChat's own
dedupe field), "lang", "data": {"first", "keyword1", "keyword2", "remark"}}. Answer:
{"errcode": 0, "msgid": …}; errcode -1 (busy) and 45009 (rate limit) are worth retrying, any
other non-zero errcode (e.g. 43004: not following the account) is permanent."""
from __future__ import annotations

from jifen.tenants.notifications.channels import Message, Permanent, Retryable, SendResult
from jifen.tenants.notifications.channels.transport import post_json

RETRY_ERRCODES = {-1, 45009}


class WeChatChannel:
    name = "wechat"

    def __init__(self, url: str, token: str | None, template_id: str, timeout: float = 5):
        self.url, self.token, self.template_id, self.timeout = url, token, template_id, timeout

    def payload(self, message: Message) -> dict:
        return {"touser": message.to, "template_id": self.template_id, "url": message.link,
                "client_msg_id": message.id, "lang": message.locale,
                "data": {"first": {"value": message.text},
                         "keyword1": {"value": message.extra.get("title", "")},
                         "keyword2": {"value": message.extra.get("when", "")},
                         "remark": {"value": message.extra.get("remark", "")}}}

    def send(self, message: Message) -> SendResult:
        if not message.to:
            raise Permanent("no WeChat openid")
        answer = post_json(self.url, self.payload(message), token=self.token, idempotency_key=message.id,
                           timeout=self.timeout)
        code = answer.get("errcode", 0)
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = -1
        if code in RETRY_ERRCODES:
            raise Retryable(f"errcode {code} {answer.get('errmsg', '')}".strip())
        if code != 0:
            raise Permanent(f"errcode {code} {answer.get('errmsg', '')}".strip())
        ref = answer.get("msgid")
        return SendResult(self.name, str(ref)[:100] if ref is not None else None)
